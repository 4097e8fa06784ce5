import Foundation
import Glibc
import Testing

/// Whether this host can open an IPv6 socket at all.
func hostHasIPv6() -> Bool {
    let fd = socket(AF_INET6, CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return false }
    close(fd)
    return true
}

extension BuiltinTests {
    /// A `udp46` socket sees its IPv4 clients as ::ffff:a.b.c.d: the loop
    /// guard judges that as the IPv4 address (SPEC 4), so 127.0.0.1 on an
    /// ordinary port is answered, and a privileged IPv4 port still is not.
    /// Bound to ::ffff:127.0.0.1, which takes IPv4 loopback traffic only.
    @Test(.enabled(if: hostHasIPv6(), "udp46 needs IPv6"))
    func udp46BuiltinsAnswerIPv4Clients() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "[::ffff:127.0.0.1]:\(port) dgram udp46 wait - internal echo\n")
        #expect(try udpExchange("127.0.0.1", port, send: "over IPv4") == "over IPv4", "log:\n\(daemon.log)")
        #expect(daemon.count("event=builtin_dropped") == 0)
        if getuid() == 0 {
            let privileged = try ClientSocket(family: AF_INET, type: CInt(SOCK_DGRAM.rawValue))
            var one: CInt = 1
            setsockopt(privileged.fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
            try #require(privileged.bind(makeAddress("127.0.0.1", 1001)!) == 0, "port 1001 is in use")
            try privileged.connect(makeAddress("127.0.0.1", port)!)
            try privileged.send("from a privileged port")
            try daemon.waitForLog("event=builtin_dropped service=[::ffff:127.0.0.1]:\(port)/udp46 peer=[::ffff:127.0.0.1]:1001")
            var buffer = [UInt8](repeating: 0, count: 64)
            #expect(recv(privileged.fd, &buffer, buffer.count, CInt(MSG_DONTWAIT)) == -1, "no answer to port 1001")
        }
    }
}

extension RunningDaemon {
    /// RssAnon of /proc/PID/status, in KiB: the daemon's private memory.
    func anonymousKiB() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("RssAnon:") }) else { return nil }
        return line.split(separator: " ").compactMap { Int($0) }.first
    }
}

extension BuiltinTests {
    /// The buffers of a burst of built-in connections go back to the system
    /// once the burst is over, not at the next SIGHUP (10,000 connections
    /// left 42 MB). Margin: 1 MiB above the private memory before the burst
    /// (heap the loop keeps for itself: the epoll event buffer grown for the
    /// burst, free lists). Not under AddressSanitizer (bench/asan): its
    /// allocator keeps freed memory in quarantine, which malloc_trim does
    /// not reach.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["ASAN_OPTIONS"] == nil,
                   "AddressSanitizer's allocator quarantines what is freed"))
    func builtinBuffersAreGivenBackAfterABurst() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait,max=3000 - internal echo\n")
        // One exchange first: what the first connection allocates for good
        // counts in the baseline.
        let warm = try ClientSocket.tcp("127.0.0.1", port)
        try warm.send("warm")
        warm.shutdownWrite()
        #expect(try warm.receiveAll() == "warm")
        let before = try #require(daemon.anonymousKiB())

        var clients: [ClientSocket] = []
        var buffer = [UInt8](repeating: 0, count: 16)
        for i in 0..<2000 {
            let client = try ClientSocket.tcp("127.0.0.1", port)
            try client.send("x")
            clients.append(client)
            // Every 100th answer shows the loop has taken the ones before.
            if i % 100 == 99 { #expect(recv(client.fd, &buffer, 16, 0) == 1) }
        }
        // Every connection answered: each holds its buffer now.
        for (i, client) in clients.enumerated() where i % 100 != 99 {
            #expect(recv(client.fd, &buffer, 16, 0) == 1)
        }
        let during = try #require(daemon.anonymousKiB())
        #expect(during >= before + 6 * 1024, "2,000 open connections hold their 4 KiB buffers: \(before) -> \(during) KiB")
        clients.removeAll()

        var after = during
        try daemon.waitUntil("private memory back within 1 MiB of \(before) KiB (now \(after) KiB)") {
            after = daemon.anonymousKiB() ?? after
            return after <= before + 1024
        }
        #expect(exitCode(try daemon.stop()) == 0)
    }
}
