@testable import InetdCore
import Testing

// The inetd.conf grammar as a whole (ConfigParser): lines, comments,
// continuations, the field count, socket types and protocols, and how an
// error is printed.

@Suite("inetd.conf grammar")
struct ConfigGrammarTests {
    @Test("comments, blank lines, CRLF and line numbers")
    func commentsAndLines() throws {
        let result = parse("# comment\n\n   \necho stream tcp nowait root internal\r\n#x\ndiscard stream tcp nowait root internal\n")
        #expect(result.diagnostics.isEmpty)
        #expect(result.entries.map(\.line) == [4, 6])
        #expect(result.entries.map(\.service) == ["echo", "discard"])
        #expect(parse("").entries.isEmpty)
        #expect(parse("").entryLineCount == 0)
    }

    @Test("lines written alike share their strings and arrays, and stay equal to what they say")
    func alikeLinesShareStorage() throws {
        let program = "/usr/local/libexec/a-long-handler-path"
        let result = parse("""
            127.0.0.1:20001 stream tcp nowait root \(program) hello
            127.0.0.1:20002 stream tcp nowait root \(program) hello
            127.0.0.2:20003 stream tcp nowait root \(program) other
            """)
        #expect(result.diagnostics.isEmpty)
        let e = result.entries
        try #require(e.count == 3)
        func base<T>(_ array: [T]) -> UnsafeRawPointer? { array.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) } }
        func base(_ program: Program) -> UnsafeRawPointer? {
            guard case .path(var path) = program else { return nil }
            return path.withUTF8 { UnsafeRawPointer($0.baseAddress) }
        }
        #expect(base(e[0].hosts) == base(e[1].hosts))
        #expect(base(e[0].arguments) == base(e[1].arguments))
        #expect(base(e[0].program) == base(e[1].program) && base(e[1].program) == base(e[2].program))
        #expect(e[2].hosts == ["127.0.0.2"] && e[2].arguments == ["other"])
        #expect(e.map(\.service) == ["20001", "20002", "20003"])
    }

    @Test("a line that starts with a blank continues the entry")
    func continuation() throws {
        let result = parse("""
            ftp stream tcp nowait root
            \t/usr/libexec/ftpd ftpd
              -US -l
            echo stream tcp nowait root internal
            """)
        #expect(result.diagnostics.isEmpty)
        let ftp = try #require(result.entries.first)
        #expect(ftp.line == 1)
        #expect(ftp.program == .path("/usr/libexec/ftpd"))
        #expect(ftp.arguments == ["ftpd", "-US", "-l"])
        #expect(result.entries.last?.line == 4)
    }

    @Test("a CRLF file reads as its lines")
    func crlf() throws {
        let result = parse("# edited on Windows\r\necho stream tcp nowait root internal\r\n\r\ntime dgram udp wait root internal\r\n")
        #expect(result.diagnostics.isEmpty)
        #expect(result.entries.map(\.line) == [2, 4])
        #expect(result.entries.map(\.program) == [.builtin("echo"), .builtin("time")])
        let args = try #require(entry("x stream tcp nowait root /bin/prog prog -a\r\n"))
        #expect(args.arguments == ["prog", "-a"])
    }

    @Test("a line of blanks inside an entry neither ends nor breaks it")
    func blankOnlyLine() throws {
        let result = parse("ftp stream tcp nowait root /usr/libexec/ftpd\n \t \n\tftpd -US\n")
        #expect(result.diagnostics.isEmpty)
        #expect(result.entries.first?.arguments == ["ftpd", "-US"])
    }

    @Test("a continuation line with no entry line right before it is an error")
    func orphanContinuation() throws {
        #expect(failure("  ftpd -US") == "/etc/inetd.conf:1: continuation line with no entry before it")
        // The entry it would continue is commented out (update-inetd's
        // `#<off>#` on a wrapped entry): its tail must not become arguments
        // of the entry above the comment.
        let result = parse("""
            ftp stream tcp nowait root /usr/sbin/tcpd /usr/sbin/in.ftpd
            #<off># telnet stream tcp nowait telnetd.telnetd /usr/sbin/tcpd
                                                     /usr/sbin/in.telnetd
            """)
        #expect(result.entries.count == 1)
        #expect(result.entries.first?.arguments == ["/usr/sbin/in.ftpd"])
        #expect(result.diagnostics.map(\.line) == [3])
        // A blank line ends an entry too.
        let blank = parse("ftp stream tcp nowait root /usr/libexec/ftpd ftpd\n\n\t-US\n")
        #expect(blank.entries.first?.arguments == ["ftpd"])
        #expect(blank.diagnostics.map(\.line) == [3])
    }

    @Test("too few fields")
    func tooFewFields() {
        #expect(failure("echo stream tcp nowait root")
            == "/etc/inetd.conf:1: expected at least 6 fields (service socket-type protocol wait user program), found 5")
        #expect(failure("echo") == "/etc/inetd.conf:1: expected at least 6 fields (service socket-type protocol wait user program), found 1")
    }

    @Test("more than 20 arguments are all kept")
    func manyArguments() throws {
        let args = (0..<40).map { "a\($0)" }
        let e = try #require(entry("x stream tcp nowait root /bin/prog prog " + args.joined(separator: " ")))
        #expect(e.arguments == ["prog"] + args)
        #expect(e.arguments.count == 41)
    }

    @Test("argv[0] defaults to the program's base name when no argument is given")
    func defaultArgv0() throws {
        #expect(entry("x stream tcp nowait root /usr/libexec/ftpd")?.arguments == ["ftpd"])
    }

    @Test("a program that is neither absolute nor internal")
    func relativeProgram() {
        #expect(failure("ftp stream tcp nowait root ftpd ftpd")
            == "/etc/inetd.conf:1: server program 'ftpd' is not an absolute path or 'internal'")
    }

    @Test("socket type and protocol must go together")
    func socketTypes() throws {
        #expect(failure("echo dgram tcp nowait root internal")
            == "/etc/inetd.conf:1: socket type dgram does not go with protocol tcp")
        #expect(failure("echo stream udp wait root internal")
            == "/etc/inetd.conf:1: socket type stream does not go with protocol udp")
        #expect(failure("echo seqpacket tcp nowait root internal")
            == "/etc/inetd.conf:1: socket type seqpacket needs protocol unix")
        let seq = try #require(entry("/run/seq.sock seqpacket unix nowait - /bin/cat cat"))
        #expect(seq.socketType == .seqpacket)
        let dgram = try #require(entry("/run/dg.sock dgram unix wait - /bin/cat cat"))
        #expect(dgram.socketType == .dgram)
        #expect(failure("echo stream sctp nowait root internal")
            == "/etc/inetd.conf:1: unknown protocol 'sctp' (tcp, tcp4, tcp6, tcp46, udp, udp4, udp6, udp46, unix)")
    }

    @Test("every protocol name", arguments: [
        ("tcp", Transport.Kind.tcp, "tcp"), ("tcp4", .tcp, "tcp4"), ("tcp6", .tcp, "tcp6"), ("tcp46", .tcp, "tcp46"),
        ("udp", .udp, "udp"), ("udp4", .udp, "udp4"), ("udp6", .udp, "udp6"), ("udp46", .udp, "udp46"),
    ])
    func protocols(name: String, kind: Transport.Kind, written: String) throws {
        let type = kind == .tcp ? "stream" : "dgram"
        let e = try #require(entry("7007 \(type) \(name) wait - /bin/cat cat"))
        #expect(e.transport.kind == kind)
        #expect(e.transport.name == written)
    }

    @Test("sndbuf and rcvbuf (NetBSD)")
    func buffers() throws {
        let e = try #require(entry("echo stream tcp,sndbuf=65536,rcvbuf=32768 nowait root internal"))
        #expect(e.sendBuffer == 65536)
        #expect(e.receiveBuffer == 32768)
        #expect(e.transport.name == "tcp")
        #expect(entry("echo dgram udp6,rcvbuf=4096 wait root internal")?.receiveBuffer == 4096)
        #expect(failure("echo stream tcp,sndbuf=0 nowait root internal")
            == "/etc/inetd.conf:1: sndbuf must be a whole number from 1 to 1073741824, not '0'")
        #expect(failure("echo stream tcp,rcvbuf=big nowait root internal")
            == "/etc/inetd.conf:1: rcvbuf must be a whole number from 1 to 1073741824, not 'big'")
        #expect(failure("echo stream tcp,nodelay nowait root internal")
            == "/etc/inetd.conf:1: unknown protocol option 'nodelay' (sndbuf=N, rcvbuf=N)")
    }
}

@Test("Diagnostic prints FILE:LINE: message, warnings marked")
func diagnosticText() {
    #expect("\(Diagnostic(file: "a.conf", line: 3, message: "bad"))" == "a.conf:3: bad")
    #expect("\(Diagnostic(file: "a.conf", line: 3, message: "odd", severity: .warning))" == "a.conf:3: warning: odd")
}
