import Foundation
import Glibc
import Testing

/// `inetd --convert` on real files, its output run through `inetd --check`,
/// and converted lines served.
///
/// Where the files come from:
/// - Debian's xinetd package: .ci/run fetches it (`apt-get download xinetd`,
///   then `dpkg-deb -x` into .build/fixtures/xinetd) and passes the folder
///   as INETD_XINETD_FIXTURES. No copy is committed. Without it the tests
///   skip with that command.
/// - systemd's own units, as installed on the machine (/lib/systemd/system:
///   ssh.socket and ssh.service from openssh-server, which .ci/run installs;
///   systemd-journald-dev-log.socket, systemd-journald.socket and dbus.socket
///   from systemd and dbus).
///
/// `--check` judges the output on this machine: a user the files name may
/// not exist here, and a unix socket's directory (/run/systemd/journal)
/// may be missing, so those two errors, which only the machine decides,
/// are allowed; any other error fails the test.
@Suite struct ConvertTests {
    static let xinetdFixtures: String? = {
        let environment = ProcessInfo.processInfo.environment
        // Else .build/fixtures/xinetd, above the binaries (.build/<triple>/debug).
        let build = Binaries.directory.range(of: "/.build/").map { String(Binaries.directory[..<$0.upperBound]) + "fixtures/xinetd" }
        let candidates = [environment["INETD_XINETD_FIXTURES"], build]
        return candidates.compactMap { $0 }.first { FileManager.default.fileExists(atPath: $0 + "/etc/xinetd.d/echo") }
    }()
    static let fixtureNote = Comment(rawValue: "Debian's xinetd files are missing: mkdir -p .build/fixtures && cd .build/fixtures "
        + "&& apt-get download xinetd && dpkg-deb -x xinetd_*.deb xinetd (or set INETD_XINETD_FIXTURES)")

    func convert(_ kind: String, _ path: String) throws -> ProgramOutcome {
        try runProgram(Binaries.inetd, ["--convert", kind, path])
    }

    /// `inetd --check` on `text`; the errors that are not the machine's to decide.
    func checkErrors(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String] {
        let directory = TemporaryDirectory()
        let check = try runProgram(Binaries.inetd, ["--check", directory.write("converted.conf", text)])
        let machine = ["unknown user", "unknown group", "not root (use '-' or that user)", "unix socket directory"]
        return check.stderr.split(separator: "\n").map(String.init).filter { line in
            !line.contains(": note: ") && !line.contains(": warning: ") && !machine.contains { line.contains($0) }
        }
    }

    /// Every converted line, as written and with `#<off># ` removed, each in a
    /// file of its own (two disabled lines may claim the same port).
    func expectEachLinePassesCheck(_ output: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let lines = output.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("# ") }
        for line in lines where !line.isEmpty {
            let text = line.hasPrefix("#<off># ") ? String(line.dropFirst(8)) : line
            #expect(try checkErrors(text + "\n") == [], "\(text)", sourceLocation: sourceLocation)
        }
    }

    @Test(.enabled(if: xinetdFixtures != nil, fixtureNote))
    func debiansXinetdDirectoryConvertsAndPassesCheck() throws {
        let root = try #require(Self.xinetdFixtures)
        let converted = try convert("xinetd", root + "/etc/xinetd.d")
        #expect(converted.status == 0, "\(converted.stderr)")
        // Every service of the package is off (disable = yes), echo's among them.
        #expect(converted.stdout.contains("#<off># echo\tstream\ttcp4\tnowait\troot\tinternal\n"))
        #expect(converted.stdout.contains("#<off># 7\tdgram\tudp4\twait\troot\tinternal\techo\n"))
        #expect(converted.stdout.contains("xinetd's internal service 'servers' has no built-in here"))
        #expect(try checkErrors(converted.stdout) == [])
        try expectEachLinePassesCheck(converted.stdout)
    }

    @Test(.enabled(if: xinetdFixtures != nil, fixtureNote))
    func debiansXinetdConfWithItsIncludedir() throws {
        let root = try #require(Self.xinetdFixtures)
        let directory = TemporaryDirectory()
        // Its includedir names /etc/xinetd.d: pointed at the fixture's.
        let original = try String(contentsOfFile: root + "/etc/xinetd.conf", encoding: .utf8)
        let conf = directory.write("xinetd.conf", original.replacingOccurrences(of: "includedir /etc/xinetd.d",
                                                                                with: "includedir \(root)/etc/xinetd.d"))
        let converted = try convert("xinetd", conf)
        #expect(converted.status == 0, "\(converted.stderr)")
        #expect(converted.stdout.components(separatedBy: "\n#<off># ").count - 1 == 15)
        #expect(try checkErrors(converted.stdout) == [])
    }

    @Test func systemdsOwnUnitsConvertAndPassCheck() throws {
        let units = "/lib/systemd/system"
        let ssh = units + "/ssh.socket"
        try #require(FileManager.default.fileExists(atPath: ssh), "no \(ssh): install openssh-server")
        let converted = try convert("systemd", ssh)
        #expect(converted.status == 0, "\(converted.stderr)")
        #expect(converted.stdout.contains("\n22\tstream\ttcp\twait,listen-fds,name=ssh.socket\troot\t/usr/sbin/sshd\t/usr/sbin/sshd\t-D\n"),
                "\(converted.stdout)")
        #expect(converted.stderr.contains("ExecStart uses $SSHD_OPTS"))
        #expect(try checkErrors(converted.stdout) == [])

        // journald's /dev/log: what has no equivalent becomes comments.
        let devLog = try convert("systemd", units + "/systemd-journald-dev-log.socket")
        #expect(devLog.status == 0, "\(devLog.stderr)")
        #expect(devLog.stdout.contains("Symlinks=/dev/log has no equivalent"))
        #expect(devLog.stdout.contains("/run/systemd/journal/dev-log\tdgram\tunix,sndbuf=8388608,rcvbuf=8388608\t"
                                       + "wait,listen-fds,name=systemd-journald-dev-log.socket,mode=0666\troot\t"))
        #expect(try checkErrors(devLog.stdout) == [])

        // Two sockets for one process: no line can say it; exit 1, lines off.
        let journal = try convert("systemd", units + "/systemd-journald.socket")
        #expect(journal.status == 1)
        #expect(journal.stderr.contains("Accept=no with 2 Listen*= lines"))
        #expect(!journal.stdout.split(separator: "\n").contains { $0.hasPrefix("/") })
        #expect(try checkErrors(journal.stdout) == [])
        try expectEachLinePassesCheck(journal.stdout)
    }

    @Test func convertedLinesServe() throws {
        let directory = TemporaryDirectory()
        let echoPort = try freePort(), probePort = try freePort()
        let xinetd = directory.write("echo", """
            service echo
            {
            \ttype        = INTERNAL UNLISTED
            \tport        = \(echoPort)
            \tbind        = 127.0.0.1
            \tsocket_type = stream
            \twait        = no
            }
            """)
        let user = String(cString: getpwuid(geteuid())!.pointee.pw_name)
        _ = directory.write("probe@.service", """
            [Service]
            ExecStart=@\(Binaries.probe) inetd-probe "report"
            StandardInput=socket
            User=\(user)
            Environment="GREETING=hello there" MODE=converted
            """)
        let socket = directory.write("probe.socket", "[Socket]\nListenStream=127.0.0.1:\(probePort)\nAccept=yes\n")
        let echo = try convert("xinetd", xinetd), probe = try convert("systemd", socket)
        #expect(echo.status == 0 && probe.status == 0, "\(echo.stderr)\(probe.stderr)")
        #expect(probe.stderr.contains("Environment GREETING: a value with a blank"))
        let daemon = try RunningDaemon(config: echo.stdout + probe.stdout)
        let client = try ClientSocket.tcp("127.0.0.1", echoPort)
        try client.send("converted\n")
        client.shutdownWrite()
        #expect(try client.receiveAll() == "converted\n")
        let report = try tcpExchange("127.0.0.1", probePort)
        #expect(report.contains("env=MODE=converted\n"), "\(report)")
        #expect(report.contains("argv.0=inetd-probe\nargv.1=report\n"), "\(report)")
        try daemon.stop()
    }

    @Test func unreadableInputAndUsage() throws {
        let missing = try convert("systemd", "/nonexistent/x.socket")
        #expect(missing.status == 1)
        #expect(missing.stderr.hasPrefix("/nonexistent/x.socket: open: "))
        let usage = try runProgram(Binaries.inetd, ["--convert", "launchd", "x"])
        #expect(usage.status == 2)
    }
}
