import Foundation
@testable import InetdCore
import Testing

/// Issue 18, "config traps that pass silently": lines an operator wrote that
/// were read without a word, and did something else than they seemed to.
/// Each is now told on its line.
@Suite struct ConfigTrapTests {
    // MARK: 1. a continuation line that is an entry of its own

    static let continuationWarning = "this line continues the entry of line 1 (it starts with a blank); as an "
        + "entry of its own it would be valid: remove the leading blank if it is one"

    /// One space before an entry made it arguments of the line above: the
    /// client got the bytes of /bin/cat. It stays a continuation (OpenBSD),
    /// with a warning on its own line.
    @Test func continuationThatIsAValidEntryIsWarnedAbout() throws {
        let result = parse("""
            127.0.0.1:7007 stream tcp nowait - /bin/cat cat
             127.0.0.1:7008 stream tcp nowait - /bin/cat cat
            """)
        #expect(result.diagnostics.map(\.description) == ["/etc/inetd.conf:2: warning: " + Self.continuationWarning])
        #expect(result.diagnostics.first?.severity == .warning)
        let entry = try #require(result.entries.first)
        #expect(result.entries.count == 1, "still a continuation")
        #expect(entry.arguments == ["cat", "127.0.0.1:7008", "stream", "tcp", "nowait", "-", "/bin/cat", "cat"])
    }

    @Test func ordinaryContinuationsAreNotWarnedAbout() {
        // OpenBSD's and Debian's wrapped entries: arguments, not entries.
        let result = parse("""
            ftp stream tcp nowait root /usr/libexec/ftpd
            \tftpd -US
            telnet stream tcp nowait telnetd.telnetd /usr/sbin/tcpd
                                                     /usr/sbin/in.telnetd
            """)
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        #expect(result.entries.map(\.arguments) == [["ftpd", "-US"], ["/usr/sbin/in.telnetd"]])
    }

    @Test func eachContinuationLineIsJudgedOnItsOwn() {
        let result = parse("""
            127.0.0.1:7007 stream tcp nowait - /bin/cat cat
            \t-u
            \t127.0.0.1:7008 stream tcp nowait - /bin/cat cat
            \t700discard dgram udp wait - internal echo
            """)
        #expect(result.diagnostics.map(\.line) == [3, 4])
        #expect(result.diagnostics.allSatisfy { $0.severity == .warning })
        // The entry it continues is told too when it is invalid itself.
        let broken = parse("7007 stream tcp sometimes - /bin/cat cat\n 7008 stream tcp nowait - /bin/cat cat\n")
        #expect(broken.diagnostics.map(\.line) == [1, 2])
        #expect(broken.diagnostics.map(\.severity) == [.error, .warning])
    }

    // MARK: 2. quotes in a positional line

    @Test func quotesInArgumentsAreWarnedAbout() throws {
        let result = parse("127.0.0.1:7007 stream tcp nowait - /bin/sh sh -c \"echo x\"")
        #expect(result.diagnostics.map(\.description) == [
            "/etc/inetd.conf:1: warning: quotes are not read in an inetd.conf line (nor by OpenBSD's or FreeBSD's "
                + "inetd): argv[2] is \"echo and argv[3] is x\", quote characters included; for an argument with "
                + "a blank, use a script or a NetBSD block (args = ...), which reads quotes",
        ])
        #expect(result.entries.first?.arguments == ["sh", "-c", "\"echo", "x\""], "the line still runs as written")
        let single = parse("127.0.0.1:7007 stream tcp nowait - /bin/sh sh -c 'exec cat'")
        #expect(single.diagnostics.first?.message.contains("argv[2] is 'exec and argv[3] is cat'") == true)
        let many = parse("7 stream tcp nowait - /bin/prog prog 'a' 'b' 'c' 'd' 'e'")
        #expect(many.diagnostics.first?.message.contains("argv[1] is 'a', argv[2] is 'b', argv[3] is 'c' and 2 more") == true)
    }

    @Test func quotesAreNotWarnedAboutWhereTheyAreRead() {
        // NetBSD's blocks read quotes: one argument with a blank.
        let block = parse("7007 on socktype = stream, protocol = tcp, wait = no, user = root, exec = /bin/sh, args = sh -c \"echo x\";")
        #expect(block.diagnostics.isEmpty, "\(block.diagnostics)")
        #expect(block.entries.first?.arguments == ["sh", "-c", "echo x"])
        #expect(parse("7 stream tcp nowait - /bin/cat cat -n").diagnostics.isEmpty)
    }

    // MARK: 3. a unix socket whose directory does not exist (see also SocketDirectoryTests)

    @Test func missingSocketDirectoryIsAnErrorOnTheLine() {
        var lookup = FakeLookup.root
        lookup.missingDirectories = ["/run/app"]
        let result = resolve("""
            /run/app/s stream unix nowait root /bin/cat cat
            /run/s stream unix nowait root /bin/cat cat
            """, lookup: lookup)
        #expect(result.messages == ["/etc/inetd.conf:1: unix socket directory /run/app does not exist: inetd makes "
                                    + "no directory; create it before the line is loaded (at start or on SIGHUP)"])
        #expect(result.services.map(\.entry.service) == ["/run/s"])
    }

    // MARK: 4. messages that say what is missing

    @Test("an address with no ':' or no service after it", arguments: [
        ("[::1]22013", "'[::1]22013': a ':' is missing between the address and the service, as [::1]:22013"),
        ("127.0.0.1,[::1]echo", "'127.0.0.1,[::1]echo': a ':' is missing between the address and the service, "
            + "as 127.0.0.1,[::1]:echo"),
        ("[::1]", "'[::1]' names an address and no service: a ':' and a port or service name are missing, as [::1]:7007"),
        ("::1", "'::1' is an IPv6 address with no service: a port or service name is missing, as [::1]:7007"),
        ("fe80::1", "'fe80::1' is an IPv6 address with no service: a port or service name is missing, as [fe80::1]:7007"),
        ("127.0.0.1,::1", "'127.0.0.1,::1' ends in the IPv6 address ::1 with no service after it: a port or service "
            + "name is missing, as 127.0.0.1,[::1]:7007"),
    ])
    func addressWithoutService(field: String, message: String) {
        #expect(failure("\(field) stream tcp nowait - /bin/cat cat") == "/etc/inetd.conf:1: \(message)")
    }

    @Test func bareIPv6WithAPortStillReads() throws {
        // Everything before the last ':' is the address (and busybox's
        // `:::7` is the IPv6 wildcard): these are not the trap.
        #expect(entry("::1:7007 stream tcp nowait - /bin/cat cat")?.hosts == ["::1"])
        #expect(entry(":::7007 stream tcp nowait - /bin/cat cat")?.hosts == ["::"])
        #expect(entry("[::1]:7007 stream tcp nowait - /bin/cat cat")?.service == "7007")
    }

    @Test func unknownOptionListsTheOptions() {
        #expect(failure("7 stream tcp nowait,maxchild=3 - /bin/cat cat")
            == "/etc/inetd.conf:1: unknown option 'maxchild' (the options are max, per-ip, rate, per-ip-rate, "
            + "ip-prefix, allow, deny, listen-fds, name, stderr, backlog, timeout, proxy, proxy-from, "
            + "proxy-timeout, passenv, env, mode, owner)")
        // The list is the options the parser knows: none of them is unknown.
        for name in ConfigParser.optionNames {
            let message = parse("7 stream tcp nowait,\(name) - /bin/cat cat").diagnostics.first?.message ?? ""
            #expect(!message.hasPrefix("unknown option"), "\(name): \(message)")
        }
    }

    @Test func aLineOnBothFamiliesIsToldOnce() throws {
        func first(_ text: String) -> Int? {
            LoadedConfiguration.firstLineOnBothFamilies(resolve(text).services)
        }
        #expect(first("127.0.0.1:7 stream tcp nowait - /bin/cat cat\n[::1]:7 stream tcp6 nowait - /bin/cat cat") == nil,
                "literals choose their family")
        #expect(first("7 stream tcp4 nowait - /bin/cat cat\n7007 stream tcp nowait - /bin/cat cat\ndiscard dgram udp wait - internal") == 2)
        #expect(first("localhost:7 stream tcp nowait - /bin/cat cat") == 1, "a name with both families")
        #expect(first("7 stream tcp nowait - /bin/cat cat\n7 stream tcp6 nowait - /bin/cat cat") == nil,
                "OpenBSD's pair: the tcp line's IPv6 wildcard yields to the tcp6 line")

        let dir = NSTemporaryDirectory() + "inetd-traps-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/inetd.conf"
        try "127.0.0.1:7 stream tcp nowait - /bin/cat cat\n7007 stream tcp nowait - /bin/cat cat\ndiscard dgram udp wait - internal\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let loaded = try LoadedConfiguration.load(path: path, lookup: FakeLookup.root, execLimits: .unlimited)
        #expect(loaded.diagnostics.map(\.description) == [
            "\(path):2: note: tcp and udp lines listen on IPv4 and IPv6 (one socket each; this is the first such "
                + "line); tcp4 and udp4 are IPv4 only",
        ])
        #expect(loaded.errorCount == 0 && loaded.warningCount == 0, "a note is neither")
    }

    @Test func checkSummaryCountsServicesSocketsErrorsAndWarnings() throws {
        let services = resolve("7 stream tcp nowait - /bin/cat cat\n127.0.0.1:discard stream tcp nowait - internal").services
        #expect(NormalizedTable.summary(services, errors: 1, warnings: 2) == "# 2 services (3 sockets), 1 error, 2 warnings")
        #expect(NormalizedTable.summary([], errors: 0, warnings: 1) == "# 0 services (0 sockets), 0 errors, 1 warning")
        let one = try #require(service("127.0.0.1:discard stream tcp nowait - internal"))
        #expect(NormalizedTable.summary([one], errors: 0, warnings: 0) == "# 1 service (1 socket), 0 errors, 0 warnings")
    }

    // MARK: 5. xinetd's syntax

    static let telnet = """
        # from /etc/xinetd.d/telnet
        service telnet
        {
        \tdisable         = no
        \tflags           = REUSE
        \tsocket_type     = stream
        \twait            = no
        \tuser            = root
        \tserver          = /usr/sbin/in.telnetd
        \tlog_on_failure  += USERID
        }
        127.0.0.1:7007 stream tcp nowait - /bin/cat cat
        """

    @Test func xinetdBlockIsOneErrorForTheWholeBlock() {
        let result = parse(Self.telnet)
        #expect(result.diagnostics.map(\.description) == [
            "/etc/inetd.conf:2: xinetd syntax is not read here: 'service telnet' and its { } block (lines 2-11) are "
                + "skipped; inetd --convert xinetd /etc/inetd.conf prints the service as an inetd.conf line",
        ])
        #expect(result.entries.map(\.line) == [12], "the line after the block is read")
        #expect(result.entryLineCount == 2, "the block counts as an entry, for the no-valid-line rule")
    }

    @Test func xinetdDefaultsAnOpeningBraceOnTheHeaderAndNoClosingOne() {
        let defaults = parse("defaults\n{\n\tinstances = 60\n\tlog_type = SYSLOG authpriv\n}\n7 stream tcp nowait - /bin/cat cat\n")
        #expect(defaults.diagnostics.map(\.message) == [
            "xinetd syntax is not read here: 'defaults' and its { } block (lines 1-5) are skipped; inetd --convert "
                + "xinetd /etc/inetd.conf writes its settings on each service's line",
        ])
        #expect(defaults.entries.count == 1)
        let sameLine = parse("service echo {\n  type = INTERNAL\n  socket_type = stream\n  wait = no\n}\n")
        #expect(sameLine.diagnostics.map(\.message).first?.hasPrefix("xinetd syntax is not read here: 'service echo' "
                + "and its { } block (lines 1-5)") == true)
        #expect(sameLine.diagnostics.count == 1)
        let indented = parse("service echo\n  {\n  socket_type = stream\n  }\n")
        #expect(indented.diagnostics.map(\.line) == [1])
        let open = parse("service echo\n{\n  socket_type = stream\n7 stream tcp nowait - /bin/cat cat\n")
        #expect(open.diagnostics.map(\.message) == [
            "xinetd syntax is not read here: 'service echo' and its { } block (line 1 to the end of the file: no '}' "
                + "closes it) are skipped; inetd --convert xinetd /etc/inetd.conf prints the service as an inetd.conf "
                + "line",
        ])
        #expect(open.entries.isEmpty)
        #expect(failure("includedir /etc/xinetd.d")
            == "/etc/inetd.conf:1: 'includedir' is xinetd syntax, which is not read here: inetd --convert xinetd "
            + "/etc/xinetd.d prints its services as inetd.conf lines")
    }

    @Test func aServiceNamedServiceIsStillALine() {
        // Only `service NAME` right before `{` opens a block.
        #expect(entry("7 stream tcp nowait - /bin/prog service {")?.arguments == ["service", "{"])
        #expect(parse("service telnet\n7 stream tcp nowait - /bin/cat cat\n").diagnostics.map(\.line) == [1])
    }
}
