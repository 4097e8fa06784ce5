@testable import InetdCore
import Testing

// `inetd --convert xinetd`'s pure half: xinetd's syntax and its mapping to
// inetd.conf lines. The fixtures are written for these tests; Debian's own
// files are converted end to end (ConvertTests).

@Suite struct XinetdConversionTests {
    func convert(_ text: String, file: String = "/etc/xinetd.d/x") -> Conversion {
        XinetdConversion.convert([XinetdFile(path: file, text: text)])
    }

    /// The emitted line, and a check that inetd's own parser takes it as it is.
    func line(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        let conversion = convert(text)
        guard let service = conversion.services.first, let line = service.line else { return nil }
        let parsed = ConfigParser(file: "out").parse(line.text)
        #expect(parsed.diagnostics.filter { $0.severity == .error }.isEmpty, "\(line.text): \(parsed.diagnostics)",
                sourceLocation: sourceLocation)
        return (service.off ? ConvertedService.offPrefix : "") + line.fields.joined(separator: " ")
    }

    @Test func aServerWithArgumentsGroupBindAndLimits() {
        #expect(line("""
            service telnet
            {
            \tsocket_type = stream
            \twait        = no
            \tuser        = telnetd
            \tgroup       = tty
            \tserver      = /usr/sbin/in.telnetd
            \tserver_args = -h -L /bin/login
            \tbind        = 127.0.0.1
            \tinstances   = 10
            \tper_source  = 2
            \tcps         = 5 30
            }
            """) == "127.0.0.1:telnet stream tcp4 nowait,max=10,per-ip=2,ip-prefix=32/128,rate=300 telnetd:tty "
                + "/usr/sbin/in.telnetd in.telnetd -h -L /bin/login")
        let cps = convert("service x\n{\nsocket_type = stream\nwait = no\nuser = a\nserver = /bin/x\ncps = 5 30\n}\n")
        #expect(cps.services[0].notes.map(\.message).first?.contains("closes the socket for 30 seconds") == true)
        #expect(!cps.failed)
    }

    @Test func internalUnlistedDisabledAndIPv6() {
        #expect(line("service echo\n{\n type = INTERNAL\n socket_type = stream\n wait = no\n flags = IPv6\n}\n")
            == "echo stream tcp46 nowait - internal")
        #expect(line("service chargen\n{\n type = INTERNAL UNLISTED\n port = 7019\n socket_type = dgram\n"
                     + " protocol = udp\n wait = yes\n user = root\n disable = yes\n}\n")
            == "#<off># 7019 dgram udp4 wait root internal chargen")
        let servers = convert("service servers\n{\n type = INTERNAL UNLISTED\n port = 9099\n socket_type = stream\n"
                              + " wait = no\n}\n")
        #expect(servers.failed, "an enabled service with no equivalent fails")
        #expect(servers.services[0].line == nil)
        let off = convert("service servers\n{\n type = INTERNAL UNLISTED\n port = 9099\n socket_type = stream\n"
                          + " wait = no\n disable = yes\n}\n")
        #expect(!off.failed, "a service that is off loses nothing")
    }

    @Test func defaultsOperatorsAndAccessLists() {
        let text = """
            defaults
            {
            \tonly_from = 10.0.0.0 192.168.1.0/24 0.0.0.0
            \tlog_type  = SYSLOG daemon info
            \tinstances = UNLIMITED
            \tdisabled  = finger
            }
            service ftp
            {
            \tsocket_type = stream
            \twait = no
            \tuser = root
            \tserver = /usr/sbin/in.ftpd
            \tonly_from -= 0.0.0.0
            \tonly_from += 172.16.{1,2} client.example
            \tno_access = 10.1.0.0 10.2.3.4
            \tenv = LANG=C HOME=/x A=1,2 PROTO=x
            \tpassenv = TZ
            }
            service finger
            {
            \tsocket_type = stream
            \twait = no
            \tuser = nobody
            \tserver = /usr/sbin/in.fingerd
            }
            """
        let conversion = convert(text)
        #expect(conversion.services[0].line?.options == [
            "max=0", "allow=10.0.0.0/8", "allow=192.168.1.0/24", "allow=172.16.1.0/24", "allow=172.16.2.0/24",
            "deny=10.1.0.0/16", "deny=10.2.3.4/32", "env=LANG=C", "env=HOME=/x", "passenv=TZ",
        ])
        let messages = conversion.services[0].notes.map(\.message)
        #expect(messages.contains { $0.hasPrefix("only_from client.example: allow= takes numeric addresses") })
        #expect(messages.contains { $0.hasPrefix("env A=1,2: a value with a comma") })
        #expect(messages.contains { $0.hasPrefix("env PROTO: inetd sets or withholds") })
        #expect(messages.contains { $0.hasPrefix("log_type = SYSLOG daemon info: inetd logs") })
        #expect(!conversion.failed)
        #expect(conversion.services[1].off, "the defaults' disabled list")
    }

    @Test func aMorePreciseAllowInsideADeniedRangeWins() {
        let options = convert("service x\n{\nsocket_type = stream\nwait = no\nuser = a\nserver = /bin/x\n"
                              + "only_from = 10.1.2.0/24\nno_access = 10.1.0.0/16\n}\n").services[0].line?.options
        #expect(options == ["allow=10.1.2.0/24", "deny=10.1.0.0/23", "deny=10.1.3.0/24", "deny=10.1.4.0/22",
                            "deny=10.1.8.0/21", "deny=10.1.16.0/20", "deny=10.1.32.0/19", "deny=10.1.64.0/18",
                            "deny=10.1.128.0/17"])
    }

    @Test func whatCannotBeExpressedFailsAndTurnsTheLineOff() {
        let names = convert("service x\n{\nsocket_type = stream\nwait = no\nuser = a\nserver = /bin/x\n"
                            + "no_access = bad.example\n}\n")
        #expect(names.failed)
        #expect(names.services[0].off, "a deny list with a hole is no line to serve")
        let waitRules = convert("service tftp\n{\nsocket_type = dgram\nwait = yes\nuser = nobody\n"
                                + "server = /usr/sbin/in.tftpd\nonly_from = 10.0.0.0/8\n}\n")
        #expect(waitRules.failed)
        #expect(convert("service x\n{\nsocket_type = stream\nwait = no\nserver = /bin/x\n}\n").failed, "no user")
        #expect(convert("service x\n{\ntype = RPC\nsocket_type = stream\nwait = no\nuser = a\nserver = /bin/x\n}\n").failed)
        #expect(convert("service 10.0.0.1:23\n{\nsocket_type = stream\nwait = no\nuser = a\nserver = /bin/x\n}\n").failed)
        let blank = convert("service x\n{\nsocket_type = stream\nwait = no\nuser = a\nserver = /bin/x\n}\n")
        #expect(!blank.failed)
        let redirect = convert("service x\n{\nsocket_type = stream\nwait = no\nuser = a\nredirect = 10.0.0.1 23\n}\n")
        #expect(redirect.services[0].notes.first?.message.contains("socat") == true)
    }

    @Test func nameInArgsAndCommentsForTheRest() {
        #expect(line("service telnet\n{\nflags = REUSE NAMEINARGS NODELAY\nsocket_type = stream\nwait = no\n"
                     + "user = root\nserver = /usr/sbin/tcpd\nserver_args = /usr/sbin/in.telnetd -h\n"
                     + "nice = 10\nrlimit_as = 8M\nbanner = /etc/issue\n}\n")
            == "telnet stream tcp4 nowait root /usr/sbin/tcpd /usr/sbin/in.telnetd -h")
        let rendered = convert("service x\n{\nsocket_type = stream\nwait = no\nuser = a\nserver = /bin/x\n"
                               + "umask = 077\n}\n").render(heading: ["h"])
        #expect(rendered == """
            # h

            # /etc/xinetd.d/x:1: service x
            # /etc/xinetd.d/x:7: umask = 077: handlers start with umask 022: run the server through a script that sets another
            x\tstream\ttcp4\tnowait\ta\t/bin/x\tx

            """)
    }

    @Test func controlCharactersNeverReachTheOutput() {
        let rendered = convert("service x\u{1B}[2J\0\r\n{\n}\n").render(heading: ["h"])
        #expect(rendered.unicodeScalars.allSatisfy { $0.value >= 0x20 || $0 == "\n" }, "\(rendered)")
        #expect(rendered.contains("service x?[2J?\n"), "the CR is the line end's")
    }

    @Test func syntaxProblemsAndIncludes() {
        let file = XinetdFile(path: "f", text: "includedir /etc/xinetd.d\ninclude /etc/x\nservice a\nstray\n{\n"
                              + "no equals sign\n}\nservice b {\n")
        #expect(file.includes == [.init(line: 1, path: "/etc/xinetd.d", directory: true),
                                  .init(line: 2, path: "/etc/x", directory: false)])
        #expect(file.diagnostics.map(\.description) == [
            "f:3: 'service a' has no '{' after it",
            "f:4: expected 'service NAME', 'defaults', 'include FILE' or 'includedir DIR', found 'stray'",
            "f:5: expected 'service NAME', 'defaults', 'include FILE' or 'includedir DIR', found '{'",
            "f:6: expected 'service NAME', 'defaults', 'include FILE' or 'includedir DIR', found 'no equals sign'",
            "f:7: expected 'service NAME', 'defaults', 'include FILE' or 'includedir DIR', found '}'",
            "f:8: no '}' closes this block before the end of the file",
        ])
        #expect(XinetdFile.includedName("telnet") && !XinetdFile.includedName("telnet~")
                && !XinetdFile.includedName("telnet.dpkg-old"))
    }
}
