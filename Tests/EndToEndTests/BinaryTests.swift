import Foundation
import Glibc
import Testing

/// The binary's own properties and its command line.
@Suite struct BinaryTests {
    func run(_ arguments: [String]) throws -> ProgramOutcome {
        try runProgram(Binaries.inetd, arguments)
    }

    @Test func binaryDoesNotLinkFoundation() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/ldd")
        process.arguments = [Binaries.inetd]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if text.contains("libc.so") {
            #expect(!text.contains("Foundation"), "inetd links Foundation:\n\(text)")
        } else {
            // A static release build: no Foundation symbol may be linked in.
            let image = try Data(contentsOf: URL(fileURLWithPath: Binaries.inetd))
            #expect(image.count > 0)
            #expect(image.range(of: Data("10Foundation".utf8)) == nil, "inetd has Foundation symbols")
            #expect(image.range(of: Data("FoundationEssentials".utf8)) == nil, "inetd has FoundationEssentials")
        }
    }

    @Test func versionAndHelpExitZero() throws {
        let version = try run(["--version"])
        #expect(version.status == 0)
        #expect(version.stdout.hasPrefix("inetd (swift-inetd)"))
        let help = try run(["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("usage: inetd"))
    }

    @Test func usageErrorExitsTwo() throws {
        let outcome = try run(["--no-such-flag"])
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("unknown option '--no-such-flag'"))
        #expect(try run(["a.conf", "b.conf"]).status == 2)
        #expect(try run(["--notify-fd"]).status == 2)
    }

    @Test func unreadableConfigExitsOneWithTheReason() throws {
        let outcome = try run(["/nonexistent/inetd.conf"])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("event=config_unreadable"))
        #expect(outcome.stderr.contains("open: No such file or directory (errno 2)"))
    }

    @Test func checkPrintsTheNormalizedTableAndReportsEachBadLine() throws {
        let dir = TemporaryDirectory()
        let good = dir.write("good.conf", "127.0.0.1:7007 stream tcp nowait - /bin/cat cat\n")
        let okay = try run(["--check", good])
        #expect(okay.status == 0)
        #expect(okay.stdout.contains("127.0.0.1:7007 stream tcp4 nowait,max=64 - /bin/cat cat"))
        #expect(okay.stdout.hasSuffix("\n# 1 service (1 socket), 0 errors, 0 warnings\n"), "the summary ends it: \(okay.stdout)")
        #expect(okay.stderr.isEmpty)

        let bad = dir.write("bad.conf", """
            127.0.0.1:7007 stream tcp nowait - /bin/cat cat
            127.0.0.1:7008 stream tcp nowait,bogus - /bin/cat cat
            127.0.0.1:7009 stream tcp sometimes - /bin/cat cat
            """)
        let failed = try run(["--check", bad])
        #expect(failed.status == 1)
        #expect(failed.stderr.contains("\(bad):2: unknown option 'bogus'"))
        #expect(failed.stderr.contains("\(bad):3: wait field 'sometimes' must start with wait or nowait"))
        #expect(failed.stdout.contains("127.0.0.1:7007"), "valid lines are still listed")
        #expect(failed.stdout.hasSuffix("\n# 1 service (1 socket), 2 errors, 0 warnings\n"), "\(failed.stdout)")
    }

    /// Issue 18's traps: each is told by --check on its line, and the
    /// listing ends with a summary comment (it stays an inetd.conf).
    @Test func checkTellsTheTrapsAndEndsWithASummary() throws {
        let dir = TemporaryDirectory()
        let p = try (0..<5).map { _ in try freePort() }
        let missing = UnixSocketSafetyTests.walked(dir.path) + "/none"
        let file = dir.write("traps.conf", """
            127.0.0.1:\(p[0]) stream tcp nowait - /bin/cat cat
             127.0.0.1:\(p[1]) stream tcp nowait - /bin/cat cat
            127.0.0.1:\(p[2]) stream tcp nowait - /bin/sh sh -c "echo x"
            \(missing)/s stream unix nowait - /bin/cat cat
            [::1]\(p[3]) stream tcp nowait - /bin/cat cat
            *:\(p[4]) stream tcp nowait - /bin/cat cat
            service telnet
            {
            \tsocket_type = stream
            \twait = no
            \tserver = /usr/sbin/in.telnetd
            }
            127.0.0.1:\(p[1]) stream tcp nowait,maxchild=3 - /bin/cat cat

            """)
        let check = try run(["--check", file])
        #expect(check.status == 1)
        let expected = [
            "\(file):2: warning: this line continues the entry of line 1 (it starts with a blank); as an entry of "
                + "its own it would be valid: remove the leading blank if it is one",
            "\(file):3: warning: quotes are not read in an inetd.conf line (nor by OpenBSD's or FreeBSD's inetd): "
                + "argv[2] is \"echo and argv[3] is x\", quote characters included; for an argument with a blank, "
                + "use a script or a NetBSD block (args = ...), which reads quotes",
            "\(file):4: unix socket directory \(missing) does not exist: inetd makes no directory; create it before "
                + "the line is loaded (at start or on SIGHUP)",
            "\(file):5: '[::1]\(p[3])': a ':' is missing between the address and the service, as [::1]:\(p[3])",
            "\(file):6: note: tcp and udp lines listen on IPv4 and IPv6 (one socket each; this is the first such "
                + "line); tcp4 and udp4 are IPv4 only",
            "\(file):7: xinetd syntax is not read here: 'service telnet' and its { } block (lines 7-12) are skipped; "
                + "inetd --convert xinetd \(file) prints the service as an inetd.conf line",
            "\(file):13: unknown option 'maxchild' (the options are max, per-ip, rate, per-ip-rate, ip-prefix, "
                + "allow, deny, listen-fds, name, stderr, backlog, timeout, proxy, proxy-from, proxy-timeout, "
                + "passenv, env, mode, owner)",
        ]
        #expect(check.stderr.split(separator: "\n").map(String.init) == expected, "\(check.stderr)")
        let lines = check.stdout.split(separator: "\n")
        #expect(lines.last == "# 3 services (4 sockets), 4 errors, 2 warnings", "\(check.stdout)")
        #expect(lines.filter { !$0.hasPrefix("#") }.count == 4, "one line per socket: \(check.stdout)")

        // The listing, summary included, reads back as an inetd.conf.
        let listing = dir.write("listing.conf", check.stdout)
        let again = try run(["--check", listing])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.hasSuffix("# 4 services (4 sockets), 0 errors, 1 warning\n"),
                "a line per socket, and the quotes again: \(again.stdout)")
    }

    /// The note is told once per load, at start and at each reload, at
    /// level info.
    @Test func daemonLogsTheIPv6NoteOnceWhileItsLineStands() throws {
        let p = try (0..<2).map { _ in try freePort() }
        let daemon = try RunningDaemon(config: """
            127.0.0.1,[::1]:\(p[0]) stream tcp nowait - /bin/cat cat
            127.0.0.1,[::1]:\(p[1]) stream tcp nowait - /bin/cat cat

            """)
        try daemon.waitForLog("event=config_note")
        #expect(daemon.count("event=config_note") == 1)
        #expect(daemon.log.contains("level=info event=config_note"), "\(daemon.log)")
        #expect(daemon.log.contains(":1: note: tcp and udp lines listen on IPv4 and IPv6"))
        #expect(try daemon.reload() == "reloaded")
        #expect(daemon.count("event=config_note") == 1, "an unchanged line is not told again: \(daemon.log)")
        daemon.rewriteConfig("""
            127.0.0.1,[::1]:\(p[1]) stream tcp nowait - /bin/cat cat

            """)
        #expect(try daemon.reload() == "reloaded")
        #expect(daemon.count("event=config_note") == 2, "another line: \(daemon.log)")
        #expect(exitCode(try daemon.stop()) == 0)
    }

    /// listen-fds lines are served: --check has nothing to warn about them
    /// (the note on the first line on both families is no warning).
    @Test func checkAcceptsListenFdsLinesWithoutAWarning() throws {
        let dir = TemporaryDirectory()
        let file = dir.write("lfds.conf", """
            127.0.0.1,[::1]:7007 stream tcp wait,listen-fds,name=web - /bin/cat cat
            127.0.0.1:7008 stream tcp4 nowait,listen-fds - /bin/cat cat

            """)
        let outcome = try run(["--check", file])
        #expect(outcome.status == 0)
        #expect(outcome.stderr == "\(file):1: note: tcp and udp lines listen on IPv4 and IPv6 (one socket each; "
                + "this is the first such line); tcp4 and udp4 are IPv4 only\n", "no warning: \(outcome.stderr)")
        #expect(outcome.stdout.contains("wait,listen-fds,name=web"), "\(outcome.stdout)")
    }

    /// An option parsed but not in force is never shown as in force:
    /// --check, start-up and each reload warn on its line (`proxy` without
    /// `proxy-from=`, which believes anyone's header; a FreeBSD `/C` on a
    /// wait line, which runs one handler anyway), and --check lists the
    /// limits in force, the default cap included.
    @Test func optionsNotInForceAreWarnedAboutEverywhere() throws {
        let dir = TemporaryDirectory()
        let p = try (0..<5).map { _ in try freePort() }
        let text = """
            127.0.0.1:\(p[0]) stream tcp nowait - /bin/cat cat
            127.0.0.1:\(p[1]) stream tcp nowait,allow=10.9.9.9,per-ip=2 - /bin/cat cat
            127.0.0.1:\(p[2]) stream tcp nowait,max=2,rate=3,proxy - /bin/cat cat
            127.0.0.1:\(p[3]) stream tcp nowait,max=5,timeout=9 - internal echo
            127.0.0.1:\(p[4]) stream tcp wait/4 - /bin/cat cat

            """
        let file = dir.write("limits.conf", text)
        let check = try run(["--check", file])
        #expect(check.status == 0, "a warning is not an error")
        #expect(!check.stderr.contains(":1:") && !check.stderr.contains(":2:") && !check.stderr.contains(":4:"),
                "allow=, per-ip=, max=, rate= and timeout= are in force: \(check.stderr)")
        #expect(check.stderr.contains("\(file):3: warning: proxy without proxy-from=: any client can claim any address"))
        #expect(check.stderr.contains("\(file):5: warning: max= does not apply to a wait line"))
        #expect(check.stdout.contains("127.0.0.1:\(p[0]) stream tcp4 nowait,max=64 - /bin/cat cat"), "the default cap, in force")
        #expect(check.stdout.contains("127.0.0.1:\(p[1]) stream tcp4 nowait,max=64,per-ip=2,ip-prefix=32/64,allow=10.9.9.9/32 - /bin/cat cat"),
                "\(check.stdout)")
        #expect(check.stdout.contains("127.0.0.1:\(p[3]) stream tcp4 nowait,max=5,timeout=9 - internal echo"))

        // At start the warnings are told; a reload does not tell them again
        // for lines whose text is unchanged, even moved, but counts them; a
        // line that goes away and comes back is told again.
        let daemon = try RunningDaemon(config: text)
        let warning = "proxy without proxy-from=: any client can claim any address"
        try daemon.waitForLog(warning)
        #expect(try daemon.reload() == "reloaded")
        daemon.rewriteConfig("# moved down\n" + text)
        #expect(try daemon.reload() == "reloaded")
        #expect(daemon.count(warning) == 1 && daemon.count("max= does not apply to a wait line") == 1, "\(daemon.log)")
        #expect(daemon.count("warnings_told_before=2") == 2, "\(daemon.log)")
        let withoutLine3 = text.split(separator: "\n").filter { !$0.contains("proxy") }.joined(separator: "\n") + "\n"
        daemon.rewriteConfig(withoutLine3)
        #expect(try daemon.reload() == "reloaded")
        daemon.rewriteConfig(text)
        #expect(try daemon.reload() == "reloaded")
        #expect(daemon.count(warning) == 2, "told again after it went away: \(daemon.log)")
    }

    /// Lines that could never work are errors on their line, at --check as
    /// at start and reload (the same loader); a program that is missing or
    /// that the handler's user cannot run is a warning (it may come later).
    @Test func checkRefusesLinesThatCanNeverWork() throws {
        let dir = TemporaryDirectory()
        let script = dir.write("not-executable", "#!/bin/sh\n")
        chmod(script, 0o644)
        let long = String(repeating: "a", count: 131_072)
        let path = dir.path + "/" + String(repeating: "s", count: 95 - dir.path.utf8.count)
        let p = try (0..<3).map { _ in try freePort() }
        let file = dir.write("never.conf", """
            127.0.0.1:\(p[0]) stream tcp nowait - /bin/cat cat
            *:\(p[0]) stream tcp nowait - /bin/cat cat
            127.0.0.1:\(p[1]) stream tcp nowait - /bin/cat cat \(long)
            \(path) stream unix nowait,owner=\(String(cString: getpwuid(geteuid())!.pointee.pw_name)) - /bin/cat cat
            127.0.0.1:\(p[2]) stream tcp nowait - /nonexistent/handler handler
            127.0.0.1:\(p[2]) dgram udp wait - \(script) script

            """)
        let check = try run(["--check", file])
        #expect(check.status == 1)
        #expect(check.stderr.contains("\(file):2: 0.0.0.0:\(p[0])/tcp4 cannot listen beside 127.0.0.1:\(p[0]) of line 1"))
        #expect(check.stderr.contains("\(file):3: argv[1] is 131072 bytes: exec takes at most 131071 per string"))
        #expect(check.stderr.contains("\(file):4: unix socket path '\(path)' is longer than 90 bytes"))
        #expect(check.stderr.contains("\(file):5: warning: program /nonexistent/handler does not exist (yet)"))
        // Mode 0644: no execute bit for its owner, nor for root.
        #expect(check.stderr.contains("\(file):6: warning: program \(script) is not executable by uid \(geteuid())"))
    }

    @Test func checkAcceptsTheSampleConfiguration() throws {
        let sample = URL(fileURLWithPath: Binaries.directory).appendingPathComponent("../../../inetd.conf.sample").standardized.path
        let outcome = try run(["--check", sample])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stderr.isEmpty, "the sample asks for nothing that is not in force")
        #expect(!outcome.stdout.isEmpty)
    }
}
