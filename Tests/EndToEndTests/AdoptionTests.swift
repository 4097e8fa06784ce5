import Foundation
import Glibc
import Testing

// inetd started with LISTEN_FDS (SPEC 5, "Inherited listeners"): it adopts
// each inherited socket that matches a line instead of binding its own.
// A wrapper (Tests/Fixtures/listen_fds_wrapper.py) binds and listens,
// connects a client before it execs inetd, and passes the sockets as
// systemd, an fd holder or a previous inetd would.

@Suite("Adoption of inherited sockets", .serialized)
struct AdoptionTests {
    static let wrapper = Fixtures.directory + "/listen_fds_wrapper.py"
    /// Where inetd's --notify-fd goes: above the sockets the wrapper puts
    /// on 3, 4, 5.
    static let notifyFD: CInt = 9

    @Test("a wrapper's sockets are adopted: the client queued before the exec is served, on the same socket, the only listener",
          .enabled(if: Fixtures.python != nil, "no python3 at /usr/bin or /usr/local/bin"))
    func wrapperSocketsAreAdopted() throws {
        let (echo, probe, stray) = (try freePort(), try freePort(), try freePort())
        let dir = TemporaryDirectory()
        let config = """
            127.0.0.1:\(echo) stream tcp4 nowait - internal echo
            127.0.0.1:\(probe) stream tcp4 nowait - \(Binaries.probe) inetd-probe
            """
        let daemon = try RunningDaemon(config: config, launcher: Self.launcher([
            "--listen", "tcp4:127.0.0.1:\(echo)=early", "--listen", "tcp4:127.0.0.1:\(stray)=stray",
            "--listen", "tcp4:127.0.0.1:\(probe)=probe",
            "--early", "early:hello before the exec:\(dir.path)/early", "--record", dir.path + "/inodes",
        ]), notifyFD: Self.notifyFD)
        try daemon.waitForLog("event=ready")
        let inodes = try Self.inodes(dir.path + "/inodes")

        // The client that connected and sent its line before inetd existed.
        try daemon.waitUntil("the early client's answer") { FileManager.default.fileExists(atPath: dir.path + "/early") }
        #expect(dir.read("early") == "hello before the exec\n", "\(daemon.log)")

        // The same sockets, on the descriptors they were passed on; the one
        // no line wants is closed.
        let fds = daemon.openFDs()
        #expect(fds[3] == "socket:[\(inodes["early"] ?? "")]", "\(fds)")
        #expect(fds[5] == "socket:[\(inodes["probe"] ?? "")]", "\(fds)")
        #expect(!fds.values.contains("socket:[\(inodes["stray"] ?? "")]"), "\(fds)")
        #expect(Self.listeningInodes(port: echo) == [inodes["early"] ?? ""], "one listener on the port: the adopted one")
        #expect(Self.listeningInodes(port: stray).isEmpty, "the unused socket no longer listens")

        let log = daemon.log
        #expect(log.contains("event=adopted service=127.0.0.1:\(echo)/tcp4 name=early fd=3 address=127.0.0.1:\(echo)/tcp4"), "\(log)")
        #expect(log.contains("event=adopted service=127.0.0.1:\(probe)/tcp4 name=probe fd=5"), "\(log)")
        #expect(log.contains("level=warn event=inherited_unused name=stray fd=4 address=127.0.0.1:\(stray)/tcp4"), "\(log)")
        #expect(log.contains("sockets=2 adopted=2"), "\(log)")
        #expect(!log.contains("EADDRINUSE") && !log.contains("Address already in use") && !log.contains("bind_failed"), "\(log)")

        // A handler has neither the variables nor the sockets.
        let report = try ProbeReport(tcpExchange("127.0.0.1", probe))
        #expect(report["fds"] == "0,1,2", "\(report.fields)")
        #expect(!report.environment.keys.contains { $0.hasPrefix("LISTEN_") }, "\(report.environment)")
        #expect(try Self.echo("127.0.0.1", echo, "after") == "after\n")
        #expect(exitCode(try daemon.stop()) == 0, "\(daemon.log)")
    }

    @Test("a reload keeps adopted sockets; removing their lines closes them and leaves the unix socket file alone",
          .enabled(if: Fixtures.python != nil, "no python3 at /usr/bin or /usr/local/bin"))
    func reloadKeepsAdoptedSockets() throws {
        let port = try freePort()
        let dir = TemporaryDirectory()
        let path = dir.path + "/adopted.sock"
        let config = """
            127.0.0.1:\(port) stream tcp4 nowait - internal echo
            \(path) stream unix nowait,mode=0600 - \(Binaries.probe) inetd-probe
            """
        let daemon = try RunningDaemon(config: config, launcher: Self.launcher([
            "--listen", "tcp4:127.0.0.1:\(port)=tcp", "--listen", "unix:\(path)=unix", "--record", dir.path + "/inodes",
        ]), notifyFD: Self.notifyFD)
        try daemon.waitForLog("event=ready")
        let inodes = try Self.inodes(dir.path + "/inodes")
        let sockets = ["socket:[\(inodes["tcp"] ?? "")]", "socket:[\(inodes["unix"] ?? "")]"]
        let mode = try Self.mode(path)
        #expect(daemon.log.contains("event=socket_file_untouched"), "mode= on an adopted socket is said not to apply")

        #expect(try daemon.reload() == "reloaded")
        #expect(daemon.log.contains("kept=2 opened=0 closed=0"), "\(daemon.log)")
        #expect(Array(daemon.openFDs().values).filter { sockets.contains($0) }.count == 2, "the same sockets after SIGHUP")
        #expect(try Self.echo("127.0.0.1", port, "kept") == "kept\n")
        #expect(try ProbeReport(unixExchange(path))["fds"] == "0,1,2")

        daemon.rewriteConfig("")
        #expect(try daemon.reload() == "reloaded")
        #expect(daemon.log.contains("kept=0 opened=0 closed=2"), "\(daemon.log)")
        #expect(!daemon.openFDs().values.contains { sockets.contains($0) }, "\(daemon.openFDs())")
        #expect(Self.listeningInodes(port: port).isEmpty)
        #expect(throws: HarnessError.self) { try Self.echo("127.0.0.1", port, "gone") }
        #expect(try Self.mode(path) == mode, "the socket file is still there, mode unchanged: it is not inetd's")
        #expect(!daemon.log.contains("unix_path_not_ours"), "\(daemon.log)")
        #expect(exitCode(try daemon.stop()) == 0, "\(daemon.log)")
    }

    @Test("systemd-socket-activate's socket and name",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-socket-activate"),
                   "systemd-socket-activate is not installed (Debian's systemd package)"))
    func systemdSocketActivate() throws {
        let port = try freePort()
        // It closes every descriptor it does not pass (so no --notify-fd),
        // and execs inetd at the first connection.
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp4 nowait - internal echo\n", waitForReady: false,
                                       launcher: ["/usr/bin/systemd-socket-activate", "-l", "127.0.0.1:\(port)", "--fdname=web", "--"],
                                       notifyFD: nil)
        try daemon.waitForLog("Listening on 127.0.0.1:\(port)")
        let client = try ClientSocket.tcp("127.0.0.1", port)
        try client.send("first\n")
        try daemon.waitForLog("event=ready")
        #expect(try Self.line(client) == "first\n", "\(daemon.log)")
        #expect(daemon.log.contains("event=adopted service=127.0.0.1:\(port)/tcp4 name=web fd=3"), "\(daemon.log)")
        #expect(!daemon.log.contains("bind_failed"), "\(daemon.log)")
        #expect(exitCode(try daemon.stop()) == 0, "\(daemon.log)")
    }

    @Test("--notify-fd among the inherited descriptors is a usage error",
          .enabled(if: Fixtures.python != nil, "no python3 at /usr/bin or /usr/local/bin"))
    func notifyFDInsideTheInheritedRange() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp4 nowait - internal echo\n", waitForReady: false,
                                       launcher: Self.launcher(["--listen", "tcp4:127.0.0.1:\(port)=web", "--count", "2"]),
                                       notifyFD: 4)
        // Signal 0: none sent, the exit waited for.
        #expect(exitCode(try daemon.stop(0)) == 2, "\(daemon.log)")
        #expect(daemon.log.contains("--notify-fd 4: one of the inherited descriptors 3-4 (LISTEN_FDS)"), "\(daemon.log)")
    }

    @Test("--check does not look at LISTEN_*: the same table and nothing else, with a socket passed",
          .enabled(if: Fixtures.python != nil, "no python3 at /usr/bin or /usr/local/bin"))
    func checkIgnoresInheritedSockets() throws {
        let port = try freePort()
        let dir = TemporaryDirectory()
        let config = dir.write("inetd.conf", "127.0.0.1:\(port) stream tcp4 nowait - internal echo\n")
        let plain = try runProgram(Binaries.inetd, ["--check", config])
        let passed = try runProgram(Fixtures.python!, Self.launcher(["--listen", "tcp4:127.0.0.1:\(port)=web"]).dropFirst()
                                    + [Binaries.inetd, "--check", "--notify-fd", "3", config])
        #expect(passed.status == 0 && passed.stdout == plain.stdout && passed.stderr == plain.stderr, "\(passed.stderr)")
    }

    @Test("variables for another process, or naming closed descriptors: warned about, and what is valid is adopted",
          .enabled(if: Fixtures.python != nil, "no python3 at /usr/bin or /usr/local/bin"))
    func badVariables() throws {
        let port = try freePort()
        let config = "127.0.0.1:\(port) stream tcp4 nowait - internal echo\n"
        let other = try RunningDaemon(config: config, environment: ["LISTEN_PID": "1", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "a:b"])
        try other.waitForLog("event=ready")
        #expect(other.log.contains("event=listen_fds problem=\"LISTEN_PID=1 is not inetd's pid \(other.pid)"), "\(other.log)")
        #expect(try Self.echo("127.0.0.1", port, "bound") == "bound\n")
        #expect(exitCode(try other.stop()) == 0)

        let lying = try RunningDaemon(config: config, launcher: Self.launcher([
            "--listen", "tcp4:127.0.0.1:\(port)=web", "--count", "4",
        ]), notifyFD: Self.notifyFD)
        try lying.waitForLog("event=ready")
        #expect(lying.log.contains("LISTEN_FDNAMES has 1 names for 4 descriptors"), "\(lying.log)")
        #expect(lying.log.contains("LISTEN_FDS names descriptors that are not open: 4,5,6"), "\(lying.log)")
        #expect(lying.log.contains("event=adopted service=127.0.0.1:\(port)/tcp4 name=web fd=3"), "\(lying.log)")
        #expect(try Self.echo("127.0.0.1", port, "adopted") == "adopted\n")
        #expect(exitCode(try lying.stop()) == 0)
    }

    @Test("a privileged port bound by the wrapper serves under an inetd that could not bind it",
          .enabled(if: geteuid() == 0, "the wrapper needs root to bind a port below 1024"),
          .enabled(if: Fixtures.python != nil, "no python3 at /usr/bin or /usr/local/bin"))
    func privilegedPortForAnUnprivilegedInetd() throws {
        guard let port = Self.freePrivilegedPort() else { throw HarnessError("no free port in 900-999 on 127.0.0.1") }
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp4 nowait - internal echo\n",
                                       launcher: Self.launcher(["--listen", "tcp4:127.0.0.1:\(port)=low", "--user", "nobody"]),
                                       notifyFD: Self.notifyFD)
        try daemon.waitForLog("event=ready")
        let status = (try? String(contentsOfFile: "/proc/\(daemon.pid)/status", encoding: .utf8)) ?? ""
        #expect(status.contains("\nUid:\t65534\t"), "inetd runs as nobody")
        #expect(try Self.echo("127.0.0.1", port, "low") == "low\n", "\(daemon.log)")
        #expect(exitCode(try daemon.stop()) == 0, "\(daemon.log)")
    }

    // MARK: helpers

    static func launcher(_ options: [String]) -> [String] { [Fixtures.python ?? "python3", wrapper] + options + ["--"] }

    /// NAME → socket inode, as the wrapper recorded them.
    static func inodes(_ file: String) throws -> [String: String] {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2 { result[String(parts[0])] = String(parts[1]) }
        }
        return result
    }

    /// The inodes of the sockets listening on a TCP port of 127.0.0.1, from
    /// /proc/net/tcp (state 0A), whichever process holds them.
    static func listeningInodes(port: UInt16) -> [String] {
        let local = String(format: "0100007F:%04X", port)
        let table = (try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)) ?? ""
        return table.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 9, fields[1] == local, fields[3] == "0A" else { return nil }
            return String(fields[9])
        }
    }

    static func mode(_ path: String) throws -> mode_t {
        var info = stat()
        guard lstat(path, &info) == 0 else { throw HarnessError("lstat \(path): \(String(cString: strerror(errno)))") }
        return info.st_mode
    }

    /// One line to a built-in echo and the line it sends back.
    static func echo(_ host: String, _ port: UInt16, _ text: String) throws -> String {
        let client = try ClientSocket.tcp(host, port)
        try client.send(text + "\n")
        return try line(client)
    }

    static func line(_ client: ClientSocket) throws -> String {
        var got: [UInt8] = []
        var byte: UInt8 = 0
        while got.last != 0x0A {
            guard recv(client.fd, &byte, 1, 0) == 1 else { throw HarnessError("recv: \(String(cString: strerror(errno)))") }
            got.append(byte)
        }
        return String(decoding: got, as: UTF8.self)
    }

    /// A port below 1024 that nothing holds on 127.0.0.1 now.
    static func freePrivilegedPort() -> UInt16? {
        for port in UInt16(900)..<1000 {
            let fd = socket(AF_INET, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
            defer { close(fd) }
            let ok = makeAddress("127.0.0.1", port)!.withUnsafeBytes {
                bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count)) == 0
            }
            if ok { return port }
        }
        return nil
    }
}
