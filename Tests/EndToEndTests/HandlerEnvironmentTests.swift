import Foundation
import Glibc
import Testing

/// What a handler gets, exactly as SPEC section 3 lists it.
@Suite struct HandlerEnvironmentTests {
    @Test func handlerGetsACleanProcessAndOnlyItsDescriptors() throws {
        let port = try freePort()
        let dir = TemporaryDirectory()
        // A supervisor's notify socket, stale LISTEN_* variables and an extra
        // inherited descriptor: none may reach a handler.
        let notify = try NotifyStandIn(in: dir)
        let notifyPath = notify.path
        var extra: [CInt] = [0, 0]
        #expect(pipe(&extra) == 0)
        defer { close(extra[0]); close(extra[1]) }
        let daemon = try RunningDaemon(
            config: "127.0.0.1:\(port) stream tcp nowait - \(Binaries.probe) probe\n",
            environment: ["NOTIFY_SOCKET": notifyPath, "LISTEN_FDS": "2", "LISTEN_PID": "1",
                          "LISTEN_FDNAMES": "a:b", "INETD_TEST_MARKER": "kept"],
            inheritedFD: extra[1])
        #expect(notifyFields(try notify.await("READY=1") { _ in true }.found)["READY"] == "1")

        let report = try ProbeReport(tcpExchange("127.0.0.1", port))
        #expect(report["fds"] == "0,1,2")
        #expect(report["fd.0"]?.hasPrefix("socket:") == true)
        #expect(report["fd.0"]?.contains("nonblock=0") == true, "a connection is handed over blocking")
        #expect(report["fd.0"]?.components(separatedBy: " ").first == report["fd.1"]?.components(separatedBy: " ").first)
        #expect(daemon.isServiceStderr(report["fd.2"]?.components(separatedBy: " ").first),
                "fd 2 is the service's stderr socket: \(report["fd.2"] ?? "")")
        #expect(report["sigblk"] == "0000000000000000", "empty signal mask")
        #expect(report["sigign"] == "0000000000000000", "every disposition default, SIGPIPE included")
        #expect(report["sid"] == "\(report.pid)", "a new session")
        #expect(report["pgid"] == "\(report.pid)")
        #expect(report["cwd"] == "/")
        #expect(report["umask"] == "0022")
        #expect(report.environment["NOTIFY_SOCKET"] == nil)
        #expect(report.environment.keys.filter { $0.hasPrefix("LISTEN_") }.isEmpty)
        #expect(report.environment["INETD_TEST_MARKER"] == nil, "inetd's own environment is not passed on (SPEC 3)")

        try daemon.stop()
        // A STATUS= may come first: the probe's handler started and ended.
        let last = try notify.await("STOPPING=1") { $0.contains("STOPPING=1") }
        #expect(last.found == "STOPPING=1")
        #expect(last.before.allSatisfy { $0.hasPrefix("STATUS=") }, "\(last.before)")
    }

    @Test(.enabled(if: getuid() == 0, "changing identity needs root"))
    func rootRunsHandlersAsTheConfiguredUserAndGroups() throws {
        let port = try freePort()
        let other = try freePort()
        let daemon = try RunningDaemon(config: """
            127.0.0.1:\(port) stream tcp nowait nobody \(Binaries.probe) probe
            127.0.0.1:\(other) stream tcp nowait nobody:daemon \(Binaries.probe) probe
            """)
        guard let nobody = getpwnam("nobody")?.pointee, let daemonGroup = getgrnam("daemon")?.pointee else {
            Issue.record("no nobody user or daemon group on this machine")
            return
        }
        let plain = try ProbeReport(tcpExchange("127.0.0.1", port))
        #expect(plain["uid"] == "\(nobody.pw_uid)")
        #expect(plain["euid"] == "\(nobody.pw_uid)")
        #expect(plain["gid"] == "\(nobody.pw_gid)")
        #expect(plain["egid"] == "\(nobody.pw_gid)")
        #expect(groupSet(plain["groups"]) == expectedGroups("nobody", nobody.pw_gid))

        let grouped = try ProbeReport(tcpExchange("127.0.0.1", other))
        #expect(grouped["uid"] == "\(nobody.pw_uid)")
        #expect(grouped["gid"] == "\(daemonGroup.gr_gid)")
        #expect(groupSet(grouped["groups"]) == expectedGroups("nobody", daemonGroup.gr_gid))
        #expect(!groupSet(grouped["groups"]).contains(0), "none of root's groups")
        _ = daemon
    }

    @Test(.enabled(if: getuid() == 0, "changing identity needs root"))
    func rootSetsTheUnixSocketOwnerBeforeThePathAppears() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/owned.sock"
        let daemon = try RunningDaemon(config: "\(path) stream unix nowait,mode=0660,owner=nobody:daemon - \(Binaries.probe) probe\n")
        var info = stat()
        #expect(lstat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o660)
        #expect(info.st_uid == getpwnam("nobody")!.pointee.pw_uid)
        #expect(info.st_gid == getgrnam("daemon")!.pointee.gr_gid)
        #expect(!FileManager.default.fileExists(atPath: path + ".inetd-new"))
        _ = daemon
    }

    private func groupSet(_ text: String?) -> Set<gid_t> {
        Set((text ?? "").split(separator: ",").compactMap { gid_t($0) })
    }

    /// initgroups(user, gid)'s list, as the spec asks for.
    private func expectedGroups(_ user: String, _ gid: gid_t) -> Set<gid_t> {
        var count: CInt = 256
        var list = [gid_t](repeating: 0, count: 256)
        _ = getgrouplist(user, gid, &list, &count)
        return Set(list.prefix(Int(count)))
    }
}

/// A handler's environment is the handler's (SPEC 3, issue 18): PATH, its
/// user's HOME, USER, LOGNAME and SHELL, TZ and LANG/LC_* where inetd has
/// them, what `passenv=` and `env=` say; never inetd's secrets. `-E` keeps
/// inetd's whole environment, minus what inetd sets itself.
extension HandlerEnvironmentTests {
    static let inherited = ["PATH": "/usr/bin:/bin", "HOME": "/root", "USER": "root", "LOGNAME": "root",
                            "SHELL": "/bin/bash", "TZ": "UTC", "LANG": "C.UTF-8", "LC_TIME": "C",
                            "SECRET_TOKEN": "hunter2", "SITE": "lab", "TCPREMOTEIP": "10.6.6.6"]

    @Test func aHandlersEnvironmentIsItsOwn() throws {
        let (plain, passed) = (try freePort(), try freePort())
        let daemon = try RunningDaemon(config: """
            127.0.0.1:\(plain) stream tcp nowait - \(Binaries.probe) probe
            127.0.0.1:\(passed) stream tcp nowait,passenv=SITE,passenv=ABSENT,env=MODE=test,env=TZ=Europe/Paris - \(Binaries.probe) probe

            """, environment: Self.inherited)
        let report = try ProbeReport(tcpExchange("127.0.0.1", plain))
        let env = report.environment
        #expect(env["PATH"] == "/usr/bin:/bin")
        #expect(env["TZ"] == "UTC" && env["LANG"] == "C.UTF-8" && env["LC_TIME"] == "C")
        #expect(env["SECRET_TOKEN"] == nil && env["SITE"] == nil, "nothing else of inetd's: \(env)")
        #expect(env["TCPREMOTEIP"] == "127.0.0.1")
        // `-`: the handler runs as inetd, with inetd's own HOME and USER.
        #expect(env["HOME"] == "/root" && env["USER"] == "root" && env["LOGNAME"] == "root" && env["SHELL"] == "/bin/bash")
        // LC_* and LANGUAGE pass too: the test runner's own may be there.
        let names = Set(env.keys.filter { !$0.hasPrefix("LC_") && $0 != "LANGUAGE" })
        #expect(names.isSubset(of: ["PATH", "HOME", "USER", "LOGNAME", "SHELL", "TZ", "LANG", "PROTO",
                                    "TCPREMOTEIP", "TCPREMOTEPORT", "TCPLOCALIP", "TCPLOCALPORT"]), "\(names)")

        let other = try ProbeReport(tcpExchange("127.0.0.1", passed)).environment
        #expect(other["SITE"] == "lab", "passenv= carries it")
        #expect(other["ABSENT"] == nil, "passenv= of a variable inetd lacks sets nothing")
        #expect(other["MODE"] == "test" && other["TZ"] == "Europe/Paris", "env= sets, and wins")
        #expect(other["SECRET_TOKEN"] == nil)
        _ = daemon
    }

    @Test(.enabled(if: getuid() == 0, "changing identity needs root"))
    func aNobodyHandlerGetsNobodysHomeNotRoots() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait nobody \(Binaries.probe) probe\n",
                                       environment: Self.inherited)
        guard let nobody = getpwnam("nobody")?.pointee else {
            Issue.record("no nobody user on this machine")
            return
        }
        let env = try ProbeReport(tcpExchange("127.0.0.1", port)).environment
        #expect(env["HOME"] == String(cString: nobody.pw_dir))
        #expect(env["USER"] == "nobody" && env["LOGNAME"] == "nobody")
        #expect(env["SHELL"] == String(cString: nobody.pw_shell))
        #expect(env["SECRET_TOKEN"] == nil)
        _ = daemon
    }

    /// `-E`: inetd's whole environment, as Debian's inetd without its
    /// laundering; still never what inetd sets itself.
    @Test func dashEKeepsInetdsEnvironment() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait,env=MODE=test - \(Binaries.probe) probe\n",
                                       arguments: ["-E"], environment: Self.inherited)
        let env = try ProbeReport(tcpExchange("127.0.0.1", port)).environment
        #expect(env["SECRET_TOKEN"] == "hunter2" && env["SITE"] == "lab")
        #expect(env["MODE"] == "test")
        #expect(env["TCPREMOTEIP"] == "127.0.0.1", "not the inherited 10.6.6.6")
        _ = daemon
    }
}
