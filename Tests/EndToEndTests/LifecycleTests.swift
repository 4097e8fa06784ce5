import Foundation
import Glibc
import Testing

/// Start, stop, signals and leaks, seen from outside the process.
@Suite struct LifecycleTests {
    @Test func sigtermStopsCleanlyAndClosesListeners() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait - \(Binaries.probe) probe\n")
        let status = try daemon.stop(SIGTERM)
        #expect(exitCode(status) == 0)
        #expect(daemon.log.contains("event=stopping signal=SIGTERM"))
        #expect(throws: HarnessError.self) { try tcpExchange("127.0.0.1", port) }
    }

    @Test func sigintStopsCleanly() throws {
        let daemon = try RunningDaemon(config: "127.0.0.1:\(try freePort()) stream tcp nowait - \(Binaries.probe) probe\n")
        #expect(exitCode(try daemon.stop(SIGINT)) == 0)
    }

    @Test func stopTerminatesWaitHandlersAndLeavesNowaitOnes() throws {
        let waitPort = try freePort()
        let nowaitPort = try freePort()
        let daemon = try RunningDaemon(config: """
            127.0.0.1:\(waitPort) stream tcp wait - /bin/sleep sleep 60
            127.0.0.1:\(nowaitPort) stream tcp nowait - \(Binaries.probe) probe hold
            """)
        let waitClient = try ClientSocket.tcp("127.0.0.1", waitPort)
        let holdClient = try ClientSocket.tcp("127.0.0.1", nowaitPort)
        var first = [UInt8](repeating: 0, count: 4)
        #expect(recv(holdClient.fd, &first, 4, 0) == 4)
        // The handler's bytes can reach the client before inetd's log line
        // reaches the test: wait for both lines.
        try daemon.waitForLog("event=handover")
        try daemon.waitForLog("event=connection")
        let sleeper = try #require(pid(after: "event=handover", in: daemon.log))
        let holder = try #require(pid(after: "event=connection", in: daemon.log))

        #expect(exitCode(try daemon.stop(SIGTERM)) == 0)
        #expect(kill(sleeper, 0) != 0, "the wait handler got SIGTERM")
        #expect(kill(holder, 0) == 0, "the nowait handler finishes its connection")
        holdClient.close()
        // The orphaned nowait handler ends when its peer closes. Whoever
        // inherited it may leave its zombie unreaped, and kill(pid, 0) still
        // finds a zombie: the process state tells.
        try daemon.waitUntil("the nowait handler to exit once its client closed") { !isRunning(holder) }
        #expect(!isRunning(holder))
        withExtendedLifetime(waitClient) {}  // the wait handler's client stays connected throughout
    }

    @Test func noZombieAndNoDescriptorLeftAfterAThousandConnections() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait - \(Binaries.probe) probe exit 0\n",
                                       arguments: [])
        // The first spawn opens the service's stderr socket pair, for good.
        _ = try tcpExchange("127.0.0.1", port)
        let idle = daemon.openFDs().count
        let total = 1000
        let workers = 4
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for _ in 0..<(total / workers) {
                do {
                    _ = try tcpExchange("127.0.0.1", port)
                } catch {
                    Issue.record("worker \(worker): \(error)")
                }
            }
        }
        // Every handler exits at once; wait until the daemon has reaped them.
        try daemon.waitUntil(timeout: 30, "all handlers reaped") {
            daemon.zombieChildren().isEmpty && childCount(of: daemon.pid) == 0
        }
        #expect(daemon.zombieChildren().isEmpty)
        try daemon.waitUntil("descriptor count back to idle") { daemon.openFDs().count == idle }
        daemon.signal(SIGUSR1)
        try daemon.waitForLog("accepted=\(total + 1) spawned=\(total + 1) exec_failures=0")
    }

    /// Whether `pid` is a process that has not exited (not gone, not a zombie).
    func isRunning(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(close, offsetBy: 2)...].prefix(1)
        return state != "Z" && state != "X"
    }

    func pid(after event: String, in log: String) -> pid_t? {
        guard let line = log.split(separator: "\n").first(where: { $0.contains(event) }),
              let range = line.range(of: "pid=") else { return nil }
        return pid_t(line[range.upperBound...].prefix { $0.isNumber })
    }
}

/// Live (non-zombie) children of a process.
func childCount(of parent: pid_t) -> Int {
    var count = 0
    for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard Int(name) != nil, let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { continue }
        let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        if fields.count > 1, Int(fields[1]) == Int(parent) { count += 1 }
    }
    return count
}
