import Foundation
import Glibc
import Testing

extension RunningDaemon {
    /// inetd under a low descriptor limit: `posix_spawn` cannot set rlimits,
    /// so a shell sets them and execs inetd (same pid). The soft limit
    /// first: a hard limit below the current soft one fails.
    convenience init(config: String, soft: Int, hard: Int) throws {
        try self.init(config: config, launcher: ["/bin/sh", "-c", "ulimit -Sn \(soft) && ulimit -Hn \(hard) && exec \"$@\"", "sh"])
    }

    /// The indices of `ports` whose lines were bound (`listening` lines of
    /// -d) and those SIGUSR1 shows unbound.
    func boundAndUnbound(_ ports: [UInt16]) throws -> (bound: Set<Int>, unbound: Set<Int>) {
        let dumps = count("event=state pid=")
        signal(SIGUSR1)
        try waitForLog("event=state pid=", times: dumps + 1)
        let lines = log.split(separator: "\n")
        let listening = lines.filter { $0.contains("event=listening ") }
        let unbound = lines.filter { $0.contains("event=state ") && $0.contains(" state=unbound ") }
        func indices(_ matching: [Substring]) -> Set<Int> {
            let services = Set(matching.compactMap { line in
                line.split(separator: " ").first { $0.hasPrefix("service=") }.map(String.init)
            })
            return Set(ports.indices.filter { services.contains("service=127.0.0.1:\(ports[$0])/tcp") })
        }
        return (indices(listening), indices(unbound))
    }

    /// "Max open files" of /proc/PID/limits: (soft, hard).
    func openFilesLimit() -> (Int, Int)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Max open files") }) else { return nil }
        let numbers = line.split(separator: " ").compactMap { Int($0) }
        return numbers.count >= 2 ? (numbers[0], numbers[1]) : nil
    }
}

/// Out of descriptors (SPEC 5): the soft limit goes up to the hard one,
/// binding stops short of a reserve, so the bound services keep serving.
@Suite struct DescriptorLimitTests {
    @Test func softLimitIsRaisedAndBoundServicesServeWithLinesLeftUnbound() throws {
        // 40 different ports (freePort holds none, so it may repeat itself).
        var ports: [UInt16] = []
        while ports.count < 40 {
            let port = try freePort()
            if !ports.contains(port) { ports.append(port) }
        }
        let lines = ports.enumerated().map { "127.0.0.1:\($1) stream tcp nowait - \(Binaries.probe) probe line\($0)" }
        let daemon = try RunningDaemon(config: lines.joined(separator: "\n") + "\n", soft: 16, hard: 32)
        let limits = try #require(daemon.openFilesLimit())
        #expect(limits == (32, 32), "the soft limit was raised to the hard one")
        // Logged after the bind lines, on the same stream: all are read.
        try daemon.waitForLog("event=ready ")

        // Which lines bound (the -d `listening` lines) and which were left
        // unbound (SIGUSR1), from the log: a port inetd did not bind may be
        // taken by another test meanwhile.
        let (bound, skipped) = try daemon.boundAndUnbound(ports)
        #expect(!bound.isEmpty)
        #expect(bound.isDisjoint(with: skipped))
        #expect(bound.union(skipped) == Set(ports.indices), "every line is bound or shown as unbound:\n\(daemon.log)")
        #expect(bound == Set(0..<bound.count), "the first lines of the file are bound")
        #expect(daemon.count("event=bind_failed") == 0, "no EMFILE at bind")
        #expect(daemon.count("event=bind_skipped ") == 1, "one line for the pass")
        #expect(daemon.count("event=bind_skipped sockets=\(skipped.count) first_service=127.0.0.1:\(ports[bound.count])/tcp ") == 1,
                "with the count and the first socket left unbound:\n\(daemon.log)")

        func serveBound() throws {
            for i in bound.sorted() {
                let report = try ProbeReport(tcpExchange("127.0.0.1", ports[i]))
                #expect(report["argv.1"] == "line\(i)")
                #expect(report["nofile"] == "16/32", "a handler starts with the limit inetd was given")
            }
        }
        try serveBound()
        // A reload keeps the running table: the same sockets serve.
        #expect(try daemon.reload() == "reloaded")
        try serveBound()
        #expect(daemon.count("event=connection_shed") == 0, "no connection was shed")
        #expect(exitCode(try daemon.stop()) == 0)
    }

    /// A file far larger than the descriptor budget: one `bind_skipped`
    /// line with the count, not one per socket (a 50,000-line file logged
    /// 30,017), at start, and none for the same sockets at a reload.
    @Test func aFileOverTheBudgetLogsOneBindSkippedLine() throws {
        var ports: [UInt16] = []
        var seen: Set<UInt16> = []
        while ports.count < 1000 {
            let port = try freePort()
            if seen.insert(port).inserted { ports.append(port) }
        }
        let lines = ports.map { "127.0.0.1:\($0) stream tcp nowait - internal echo" }
        let daemon = try RunningDaemon(config: lines.joined(separator: "\n") + "\n", soft: 64, hard: 64)
        try daemon.waitForLog("event=ready ")
        // The `listening` lines of -d (a thousand SIGUSR1 lines would
        // overrun the log pipe, and inetd drops what does not fit).
        let bound = daemon.count("event=listening ")
        #expect(bound > 10 && bound < 64)
        #expect(daemon.count("event=bind_skipped ") == 1, "one line, not \(ports.count - bound)")
        #expect(daemon.count("event=bind_skipped sockets=\(ports.count - bound) first_service=127.0.0.1:\(ports[bound])/tcp ") == 1,
                "with the count and the first:\n\(daemon.log.suffix(2000))")
        #expect(try daemon.reload() == "reloaded")
        #expect(daemon.count("event=bind_skipped ") == 1, "the same sockets, still unbound, are not logged again")
        let client = try ClientSocket.tcp("127.0.0.1", ports[0])
        try client.send("still served")
        client.shutdownWrite()
        #expect(try client.receiveAll() == "still served")
        #expect(exitCode(try daemon.stop()) == 0)
    }

    @Test func reloadOutOfDescriptorsKeepsTheRunningTable() throws {
        let discard = try freePort()
        let probePort = try freePort()
        let daemon = try RunningDaemon(config: """
            127.0.0.1:\(discard) stream tcp nowait,max=100 - internal discard
            127.0.0.1:\(probePort) stream tcp nowait - \(Binaries.probe) probe kept
            """, soft: 32, hard: 32)
        // Built-in connections take every descriptor left, then some are shed.
        var clients: [ClientSocket] = []
        for _ in 0..<40 { clients.append(try ClientSocket.tcp("127.0.0.1", discard)) }
        try daemon.waitForLog("event=connection_shed")
        #expect(try daemon.reload() == "reload_failed")
        clients.removeAll()
        // Once the connections are gone, the same table serves and reloads.
        try daemon.waitUntil("probe served again") {
            (try? ProbeReport(tcpExchange("127.0.0.1", probePort))["argv.1"]) == "kept"
        }
        #expect(try daemon.reload() == "reloaded")
        #expect(try ProbeReport(tcpExchange("127.0.0.1", probePort))["argv.1"] == "kept")
        #expect(exitCode(try daemon.stop()) == 0)
    }
}

/// Live (not zombie) processes of a process group, from /proc.
func liveMembers(ofGroup pgid: pid_t) -> [pid_t] {
    var members: [pid_t] = []
    for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = pid_t(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { continue }
        let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        if fields.count > 2, fields[0] != "Z", fields[0] != "X", pid_t(fields[2]) == pgid { members.append(pid) }
    }
    return members
}

extension LifecycleTests {
    func connect(_ port: UInt16, _ daemon: RunningDaemon) throws -> ClientSocket {
        do {
            return try ClientSocket.tcp("127.0.0.1", port)
        } catch {
            throw HarnessError("\(error); log:\n\(daemon.log)")
        }
    }

    /// A wait handler's background child holds the listener too: stop
    /// signals the handler's whole process group.
    @Test func stopEndsTheWaitHandlersWholeProcessGroup() throws {
        let port = try freePort()
        let scripts = TemporaryDirectory()
        // Run by sh, not executed itself: a file just written can be busy
        // (ETXTBSY) while a process spawned meanwhile holds it open.
        let script = scripts.write("handler", "sleep 300 &\nsleep 300\n")
        let config = "127.0.0.1:\(port) stream tcp wait - /bin/sh sh \(script)\n"
        let daemon = try RunningDaemon(config: config)
        let client = try connect(port, daemon)
        try daemon.waitForLog("event=handover")
        let leader = try #require(pid(after: "event=handover", in: daemon.log))
        // sh, its background sleep and its foreground sleep.
        try daemon.waitUntil("the background child runs") { liveMembers(ofGroup: leader).count >= 3 }

        #expect(exitCode(try daemon.stop(SIGTERM)) == 0)
        let deadline = Date().addingTimeInterval(5)
        while !liveMembers(ofGroup: leader).isEmpty, Date() < deadline { usleep(10_000) }
        #expect(liveMembers(ofGroup: leader).isEmpty, "no process of the handler's group survives")
        // Where nobody reaps orphans, their zombies stay in the group: dead,
        // and holding no descriptor.
        #expect(kill(-leader, 0) != 0 || liveMembers(ofGroup: leader).isEmpty)
        client.close()

        // The port is free: a new inetd binds it and hands it over.
        let next = try RunningDaemon(config: config)
        #expect(next.count("event=bind_failed") == 0)
        let again = try connect(port, next)
        try next.waitForLog("event=handover")
        #expect(exitCode(try next.stop(SIGTERM)) == 0)
        _ = again
    }
}

extension BuiltinTests {
    /// A reload keeps a kept service's count of running handlers: the max=
    /// cap holds across SIGHUPs, and the totals go on.
    @Test func concurrencyCapAndTotalsSurviveReloads() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait,max=5 - internal echo\n")
        var buffer = [UInt8](repeating: 0, count: 16)
        var held: [ClientSocket] = []
        for i in 0..<5 {
            let client = try ClientSocket.tcp("127.0.0.1", port)
            try client.send("h\(i)")
            #expect(recv(client.fd, &buffer, 16, 0) == 2, "held connection \(i) is served")
            held.append(client)
        }
        for _ in 0..<3 { try daemon.reload() }

        var waiting: [ClientSocket] = []
        for i in 5..<20 {
            let client = try ClientSocket.tcp("127.0.0.1", port)
            try client.send("w\(i)")
            waiting.append(client)
        }
        // A round trip on a held connection: the loop has run past the
        // arrivals and left them unaccepted.
        try held[0].send("ok")
        #expect(recv(held[0].fd, &buffer, 16, 0) == 2)
        for client in waiting {
            #expect(recv(client.fd, &buffer, 16, CInt(MSG_DONTWAIT)) == -1, "the 6th..20th wait")
        }
        daemon.signal(SIGUSR1)
        try daemon.waitForLog("active=5 accepted=5 ")

        // One of the five closes: exactly one waiting connection is served.
        held[0].close()
        var served: Set<Int> = []
        let deadline = Date().addingTimeInterval(10)
        while served.isEmpty, Date() < deadline {
            for (i, client) in waiting.enumerated() where recv(client.fd, &buffer, 16, CInt(MSG_DONTWAIT)) > 0 {
                served.insert(i)
            }
            usleep(10_000)
        }
        #expect(served.count == 1)
        usleep(100_000)
        for (i, client) in waiting.enumerated() where !served.contains(i) {
            #expect(recv(client.fd, &buffer, 16, CInt(MSG_DONTWAIT)) == -1, "still at the cap")
        }
        daemon.signal(SIGUSR1)
        try daemon.waitForLog("active=5 accepted=6 ")
    }
}

extension ReloadTests {
    /// A spawned service's totals carry across a reload that keeps it.
    @Test func totalsCarryAcrossAReload() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait - \(Binaries.probe) probe one\n")
        for _ in 0..<3 { _ = try tcpExchange("127.0.0.1", port) }
        daemon.rewriteConfig("127.0.0.1:\(port) stream tcp nowait - \(Binaries.probe) probe two\n")
        try daemon.reload()
        #expect(try ProbeReport(tcpExchange("127.0.0.1", port))["argv.1"] == "two")
        try daemon.waitUntil("handlers reaped") { childCount(of: daemon.pid) == 0 }
        daemon.signal(SIGUSR1)
        try daemon.waitForLog("accepted=4 spawned=4")
    }
}
