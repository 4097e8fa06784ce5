import Foundation
import Glibc
import Testing

/// nowait handlers start overlapped: inetd goes on while each child sets
/// itself up and execs from a copy of its request (docs/DESIGN.md
/// "Spawning"). These check what that must not change.
@Suite struct OverlappedSpawnTests {
    /// Many children set up at once, each from its own copy: every handler
    /// gets its own connection and its own client's variables.
    @Test func concurrentHandlersEachGetTheirOwnConnectionAndVariables() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait - \(Binaries.probe) probe\n",
                                       arguments: [])
        let workers = 8
        let perWorker = 25
        let mismatches = Mismatches()
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for _ in 0..<perWorker {
                do {
                    let client = try ClientSocket.tcp("127.0.0.1", port)
                    var local = sockaddr_in()
                    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
                    _ = withUnsafeMutablePointer(to: &local) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(client.fd, $0, &length) }
                    }
                    let report = try ProbeReport(client.receiveAll())
                    let ownPort = "\(UInt16(bigEndian: local.sin_port))"
                    if report.environment["TCPREMOTEPORT"] != ownPort || report["argv.0"] != "probe"
                        || report["fds"] != "0,1,2" || report["sigign"] != "0000000000000000" {
                        mismatches.add("worker \(worker): port \(ownPort): \(report.environment["TCPREMOTEPORT"] ?? "-")")
                    }
                } catch {
                    mismatches.add("worker \(worker): \(error)")
                }
            }
        }
        #expect(mismatches.all.isEmpty, "\(mismatches.all.prefix(5))")
        try daemon.waitUntil("all handlers reaped") { childCount(of: daemon.pid) == 0 }
        daemon.signal(SIGUSR1)
        let total = workers * perWorker
        try daemon.waitForLog("accepted=\(total) spawned=\(total) exec_failures=0")
    }

    /// A child that fails after the spawn returned is a failed spawn, not a
    /// handler: logged with its client and errno, counted, and its exit 127
    /// is not reported as a handler's exit.
    @Test func lateFailuresAreFailedSpawnsNotHandlerExits() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait - /nonexistent/handler handler\n")
        let total = 12
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<(total / 4) { #expect((try? tcpExchange("127.0.0.1", port)) == "", "closed, nothing sent") }
        }
        try daemon.waitUntil("no child left") { childCount(of: daemon.pid) == 0 && daemon.zombieChildren().isEmpty }
        daemon.signal(SIGUSR1)
        try daemon.waitForLog("accepted=\(total) spawned=0 exec_failures=\(total)")
        #expect(daemon.log.contains("event=spawn_failed service=127.0.0.1:\(port)/tcp program=/nonexistent/handler peer=127.0.0.1:"))
        #expect(daemon.log.contains("error=\"execve: No such file or directory (errno 2)\""))
        #expect(!daemon.log.contains("event=exit "), "no handler exit reported:\n\(daemon.log)")
    }

    /// Signals inetd inherited ignored are default again in every handler,
    /// though a child resets only what inetd does not leave at SIG_DFL.
    @Test func signalsInheritedIgnoredAreDefaultInHandlers() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(
            config: "127.0.0.1:\(port) stream tcp nowait - \(Binaries.probe) probe\n",
            launcher: ["/bin/sh", "-c", "trap '' QUIT TSTP TTIN TTOU ALRM; exec \"$@\"", "sh"])
        let report = try ProbeReport(tcpExchange("127.0.0.1", port))
        #expect(report["sigign"] == "0000000000000000", "every disposition default")
        #expect(report["sigblk"] == "0000000000000000", "empty signal mask")
        let status = try String(contentsOfFile: "/proc/\(daemon.pid)/status", encoding: .utf8)
        let line = status.split(separator: "\n").first { $0.hasPrefix("SigIgn:") }
        let ignored = line.flatMap { UInt64($0.dropFirst("SigIgn:".count).trimmingCharacters(in: .whitespaces), radix: 16) }
        let trapped: UInt64 = 0x382004  // QUIT, ALRM, TSTP, TTIN, TTOU
        #expect(ignored.map { $0 & trapped == trapped } == true, "inetd itself still ignores them: \(line ?? "-")")
    }
}

private final class Mismatches: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func add(_ text: String) { lock.lock(); list.append(text); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return list }
}

extension OverlappedSpawnTests {
    /// A child that fails after giving up root (here: the program is not
    /// executable for its user) is a failed spawn all the same.
    @Test(.enabled(if: getuid() == 0, "changing identity needs root"))
    func aFailureAfterTheIdentityChangeIsReported() throws {
        let port = try freePort()
        let dir = TemporaryDirectory()
        let program = dir.write("root-only", "#!/bin/sh\necho never\n")
        chmod(program, 0o700)
        chmod(dir.path, 0o755)
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait nobody \(program) root-only\n")
        #expect(try tcpExchange("127.0.0.1", port) == "")
        try daemon.waitForLog("event=spawn_failed")
        #expect(daemon.log.contains("error=\"execve: Permission denied (errno 13)\""), "\(daemon.log)")
    }
}
