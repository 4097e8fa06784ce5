import Foundation
import Glibc
import Testing

/// SPEC 5's limits, on the release binary as CI builds it.
@Suite struct LimitTests {
    /// `max=4`: twelve clients at once of a handler that takes 2 s are all
    /// served, and never more than 4 handlers run at once. At the cap the
    /// socket leaves the loop and the other clients wait in the kernel's
    /// backlog; each handler's exit brings it back. Nothing is refused.
    @Test func maxCapsConcurrentHandlersAndEveryClientIsServed() throws {
        let port = try freePort()
        let dir = TemporaryDirectory()
        // Read by sh, not exec'd: a script just written can be busy
        // (ETXTBSY) while another test's child, cloned in that moment, holds
        // the descriptor it was written through.
        let script = dir.write("slow", "sleep 2\necho served\n")
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait,max=4 - /bin/sh sh \(script)\n",
                                       arguments: [])
        let served = ServedCount()
        let clients = DispatchGroup()
        // Threads of their own: concurrentPerform runs as many at once as
        // there are CPUs.
        for _ in 0..<12 {
            clients.enter()
            Thread {
                if (try? tcpExchange("127.0.0.1", port)) == "served\n" { served.add() }
                clients.leave()
            }.start()
        }
        var most = 0, sawCap = false
        while clients.wait(timeout: .now() + .milliseconds(20)) == .timedOut {
            most = max(most, childCount(of: daemon.pid))
            if !sawCap, most == 4 {
                daemon.signal(SIGUSR1)
                sawCap = (try? daemon.waitForLog("state=at-cap", timeout: 1)) != nil
            }
        }
        #expect(served.count == 12, "every client is served")
        #expect(most <= 4, "at most 4 handlers at once: \(most)")
        #expect(most == 4, "the cap is reached")
        #expect(sawCap, "SIGUSR1 shows the socket at its cap:\n\(daemon.log)")
    }
}

private final class ServedCount: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func add() { lock.withLock { value += 1 } }
    var count: Int { lock.withLock { value } }
}

extension LimitTests {
    /// `timeout=1`: a handler that ignores SIGTERM, and the child it left in
    /// the background, are ended: SIGTERM to its process group at 1 s, and
    /// SIGKILL to the group 5 s later. The client's connection closes with
    /// the last of them.
    @Test func timeoutEndsAStuckHandlerAndItsChildren() throws {
        let port = try freePort()
        let dir = TemporaryDirectory()
        let script = dir.write("stuck", "trap '' TERM\nsleep 300 &\necho $!\nexec sleep 300\n")
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait,timeout=1 - /bin/sh sh \(script)\n")
        let client = try ClientSocket(family: AF_INET, type: CInt(SOCK_STREAM.rawValue), timeout: 20)
        try client.connect(makeAddress("127.0.0.1", port)!)
        let started = Date()
        let text = try client.receiveAll()
        let elapsed = Date().timeIntervalSince(started)
        let background = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(background != nil, "the handler said its background child: \(text)")
        #expect(elapsed > 5 && elapsed < 10, "closed by the SIGKILL 5 s after the SIGTERM at 1 s: \(elapsed) s")
        try daemon.waitForLog("event=timeout")
        #expect(daemon.log.contains("seconds=1"))
        if let background {
            try daemon.waitUntil("the background child is gone") {
                guard let stat = try? String(contentsOfFile: "/proc/\(background)/stat", encoding: .utf8) else { return true }
                return stat.contains(") Z ")
            }
        }
        #expect(try daemon.stop() & 0x7F == 0)
    }
}

/// The log tells the story at the default level (issue 18).
extension LimitTests {
    /// A failed spawn names its program; with -d a built-in's connection is
    /// logged as a spawned one is; a unix peer is named by uid and pid.
    @Test func logLinesNameTheProgramTheBuiltinAndTheUnixPeer() throws {
        let (missing, echo) = (try freePort(), try freePort())
        let dir = TemporaryDirectory()
        let path = dir.path + "/s.sock"
        let daemon = try RunningDaemon(config: """
            127.0.0.1:\(missing) stream tcp nowait - /nonexistent/handler handler
            127.0.0.1:\(echo) stream tcp nowait - internal daytime
            \(path) stream unix nowait - /bin/echo echo unix

            """)
        _ = try? tcpExchange("127.0.0.1", missing)
        try daemon.waitForLog("event=spawn_failed service=127.0.0.1:\(missing)/tcp program=/nonexistent/handler ")
        _ = try tcpExchange("127.0.0.1", echo)
        try daemon.waitForLog("event=connection service=127.0.0.1:\(echo)/tcp peer=127.0.0.1:")
        #expect(daemon.log.contains("builtin=daytime"))
        #expect(try unixExchange(path) == "unix\n")
        try daemon.waitForLog("event=connection service=\(path)/unix peer=\"uid \(geteuid()) pid \(getpid())\"")
    }

    /// At stop, a wait handler ended by inetd's SIGTERM is not a warning.
    @Test func handlersEndedAtStopAreNotWarnedOf() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp wait - /bin/sleep sleep 30\n", arguments: [])
        let client = try ClientSocket.tcp("127.0.0.1", port)
        try daemon.waitUntil("the handler runs") { childCount(of: daemon.pid) == 1 }
        #expect(exitCode(try daemon.stop()) == 0)
        #expect(!daemon.log.contains("event=exit"), "\(daemon.log)")
        _ = client
    }
}

extension LimitTests {
    /// SIGUSR1 gives each service's program and user, the pids of its
    /// running handlers, a socket's bind error and next retry, and inetd's
    /// own pid, version and uptime (SPEC 6).
    @Test func sigusr1TellsProgramsPidsBindErrorsAndInetdItself() throws {
        let (slow, busy) = (try freePort(), try freePort())
        let holder = try ClientSocket(family: AF_INET, type: CInt(SOCK_STREAM.rawValue))
        #expect(holder.bind(makeAddress("127.0.0.1", busy)!) == 0)
        listen(holder.fd, 1)
        let daemon = try RunningDaemon(config: """
            127.0.0.1:\(slow) stream tcp nowait - /bin/sleep sleep 5
            127.0.0.1:\(busy) stream tcp nowait - /bin/echo echo

            """)
        let client = try ClientSocket.tcp("127.0.0.1", slow)
        try daemon.waitUntil("the handler runs") { childCount(of: daemon.pid) == 1 }
        daemon.signal(SIGUSR1)
        try daemon.waitForLog("event=state pid=\(daemon.pid) version=")
        let lines = daemon.log.split(separator: "\n")
        let running = lines.first { $0.contains("event=state service=127.0.0.1:\(slow)/tcp") } ?? ""
        #expect(running.contains("program=/bin/sleep user=- active=1 pids="), "\(running)")
        let unbound = lines.first { $0.contains("event=state service=127.0.0.1:\(busy)/tcp") } ?? ""
        #expect(unbound.contains("state=unbound") && unbound.contains("bind_error=\"bind: Address already in use")
                && unbound.contains("retry_in_s="), "\(unbound)")
        #expect(lines.contains { $0.contains("event=state pid=\(daemon.pid) version=") && $0.contains(" uptime_s=") })
        _ = client
    }
}
