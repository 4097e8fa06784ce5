import Foundation
import Glibc
import Testing

/// One busy source may not hold the loop (finding 9), and a client that never
/// reads may not pin more than a bounded buffer in the kernel (finding 10,
/// SPEC 4). Functional checks with generous bounds, not benchmarks; run one
/// at a time, so that one test's load is not another's.
@Suite(.serialized) struct FairnessTests {
    /// Far above what a fair loop needs on a loaded 2-core machine, far below
    /// what an unbounded drain cost (0.23-1.4 s behind a discard blast,
    /// 2.7-8.2 s behind a connection burst).
    static let latencyBound = 0.2
    /// Behind a burst that also forks 1,000 handlers, part of the delay is the
    /// CPU those handlers take from everyone (120-170 ms seen on a 2-core
    /// machine at load 4-7), not the loop's doing.
    static let burstLatencyBound = 0.5

    @Test func aDiscardBlastDoesNotDelayEcho() throws {
        let discard = try freePort(), echo = try freePort()
        let daemon = try RunningDaemon(config: """
            127.0.0.1:\(discard) stream tcp nowait - internal discard
            127.0.0.1:\(echo) stream tcp nowait - internal echo

            """)
        let load = Load()
        let blaster = try ClientSocket.tcp("127.0.0.1", discard)
        let fd = blaster.fd
        Thread {
            var chunk = [UInt8](repeating: 0x61, count: 65536)
            let deadline = now() + 6
            while !load.stopped, now() < deadline {
                let n = send(fd, &chunk, chunk.count, CInt(MSG_NOSIGNAL))
                if n <= 0 { break }
                load.add(n)
            }
            load.finish()
        }.start()
        // The blast is under way once inetd has taken a few megabytes.
        try daemon.waitUntil(timeout: 5, "discard blast under way") { load.count >= 4 << 20 }
        let result = measureEcho(port: echo, exchanges: 50, load: load)
        load.stop()
        try load.waitFinished()
        blaster.close()
        print("discard blast: \(load.count >> 20) MiB sent; echo \(result.summary)")
        result.expectServed(50, within: Self.latencyBound, behind: "a discard blast")
        _ = daemon
    }

    @Test func aConnectionBurstDoesNotDelayEcho() throws {
        let spawned = try freePort(), daytime = try freePort(), echo = try freePort()
        let daemon = try RunningDaemon(config: """
            127.0.0.1:\(spawned) stream tcp nowait - /bin/true true
            127.0.0.1:\(daytime) stream tcp nowait - internal daytime
            127.0.0.1:\(echo) stream tcp nowait - internal echo

            """)
        let load = Load()
        // Three threads open connections as fast as they can, 1,000 each, and
        // reset them at once: the accept queues fill faster than inetd drains
        // them. Two aim at the built-in daytime, one at a spawning service
        // (fewer forks: their CPU is not the loop's doing).
        let threads = 3
        for i in 0..<threads {
            let port = i == 0 ? spawned : daytime
            Thread {
                let deadline = now() + 8
                for _ in 0..<1000 where !load.stopped && now() < deadline {
                    guard let client = try? ClientSocket(family: AF_INET, type: CInt(SOCK_STREAM.rawValue), timeout: 2),
                          (try? client.connect(makeAddress("127.0.0.1", port)!)) != nil else { continue }
                    var reset = linger(l_onoff: 1, l_linger: 0)
                    setsockopt(client.fd, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
                    load.add(1)
                }
                load.finish()
            }.start()
        }
        try daemon.waitUntil(timeout: 5, "connection burst under way") { load.count >= 300 }
        let result = measureEcho(port: echo, exchanges: 50, load: load)
        try load.waitFinished(threads: threads)
        print("connection burst: \(load.count) connections; echo \(result.summary)")
        result.expectServed(50, within: Self.burstLatencyBound, behind: "a connection burst")
        _ = daemon
    }

    /// 64 echo clients that send and never read, 64 chargen clients that
    /// never read (the default caps): what inetd's side of those connections
    /// holds in the kernel once its sends have stalled.
    @Test func stuckClientsPinABoundedBuffer() throws {
        let echo = try freePort(), chargen = try freePort()
        let daemon = try RunningDaemon(config: """
            127.0.0.1:\(echo) stream tcp nowait - internal echo
            127.0.0.1:\(chargen) stream tcp nowait - internal chargen

            """)
        var clients: [ClientSocket] = []
        for _ in 0..<64 { clients.append(try ClientSocket.tcp("127.0.0.1", echo)) }
        for _ in 0..<64 { clients.append(try ClientSocket.tcp("127.0.0.1", chargen)) }
        // inetd's side of these connections: from a service port to a client's.
        let clientPorts = Set(clients.map { localPort($0.fd) })
        let talkers = clients.prefix(64)
        var chunk = [UInt8](repeating: 0x62, count: 65536)
        /// Each echo client writes until its own send buffer is full.
        func pump() {
            for c in talkers {
                while send(c.fd, &chunk, chunk.count, CInt(MSG_DONTWAIT | MSG_NOSIGNAL)) > 0 {}
            }
        }
        func held() -> (send: Int, receive: Int, connections: Int) {
            var send = 0, receive = 0, connections = 0
            // inetd's own sockets only, by inode: under a parallel run
            // another test's socket may share a port number.
            let inetds = Set(daemon.openFDs().values.filter { $0.hasPrefix("socket:[") }
                .map { String($0.dropFirst(8).dropLast()) })
            for s in tcpSockets() where s.state == 1 && (s.localPort == echo || s.localPort == chargen)
                && clientPorts.contains(s.remotePort) && inetds.contains(s.inode) {
                send += s.sendQueue
                receive += s.receiveQueue
                connections += 1
            }
            return (send, receive, connections)
        }
        // Stalled: the total has not moved for a second (30 s at most: on a
        // loaded machine the loop takes its time to fill every buffer).
        var last = (send: -1, receive: -1, connections: 0), steady = 0
        let deadline = now() + 30
        while steady < 4, now() < deadline {
            pump()
            usleep(250_000)
            let sample = held()
            steady = sample.send == last.send && sample.receive == last.receive ? steady + 1 : 0
            last = sample
        }
        print("stuck clients: inetd holds Send-Q \(last.send >> 10) KiB, Recv-Q \(last.receive >> 10) KiB on \(last.connections) connections")
        #expect(last.connections == 128, "every client is served")
        #expect(steady >= 4, "inetd's sends stalled")
        // 128 KiB a connection: a capped buffer holds a few tens of KiB; an
        // uncapped one grew to megabytes (tcp_wmem's maximum).
        #expect(last.send + last.receive < 128 * 128 << 10,
                "\(last.send >> 10) KiB in Send-Q, \(last.receive >> 10) KiB in Recv-Q for 128 stuck clients")
        _ = daemon
    }
}

private func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// Progress of the load threads, and a flag to stop them.
private final class Load: @unchecked Sendable {
    private let lock = NSLock()
    private var total = 0, done = 0, stopFlag = false

    var count: Int { lock.withLock { total } }
    var stopped: Bool { lock.withLock { stopFlag } }
    func add(_ n: Int) { lock.withLock { total += n } }
    func stop() { lock.withLock { stopFlag = true } }
    func finish() { lock.withLock { done += 1 } }

    func waitFinished(threads: Int = 1) throws {
        let deadline = now() + 10
        while lock.withLock({ done }) < threads {
            if now() > deadline { throw HarnessError("load threads did not finish") }
            usleep(10_000)
        }
    }
}

private struct EchoResult {
    var latencies: [Double] = []
    var failures: [String] = []
    var max: Double { latencies.max() ?? .infinity }

    /// Every one of `exchanges` echo round trips succeeded, none slower
    /// than `bound` seconds.
    func expectServed(_ exchanges: Int, within bound: Double, behind what: String,
                      sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(failures.isEmpty, "\(failures)", sourceLocation: sourceLocation)
        #expect(latencies.count == exchanges, sourceLocation: sourceLocation)
        #expect(max < bound, "echo waited \(max) s behind \(what); \(summary)", sourceLocation: sourceLocation)
    }
    var summary: String {
        let sorted = latencies.sorted()
        guard !sorted.isEmpty else { return "no exchange" }
        func ms(_ x: Double) -> String { String(format: "%.1f ms", x * 1000) }
        return "median \(ms(sorted[sorted.count / 2])), p90 \(ms(sorted[sorted.count * 9 / 10])), max \(ms(sorted.last!))"
    }
}

/// `exchanges` round trips to the built-in echo, each on a new connection
/// (accept, read and write all wait for the loop), 20 ms apart.
private func measureEcho(port: UInt16, exchanges: Int, load: Load) -> EchoResult {
    var result = EchoResult()
    var buffer = [UInt8](repeating: 0, count: 64)
    for i in 0..<exchanges {
        let message = "ping \(i)"
        let start = now()
        do {
            let client = try ClientSocket.tcp("127.0.0.1", port)
            try client.send(message)
            var got = 0
            while got < message.utf8.count {
                let n = buffer.withUnsafeMutableBytes { recv(client.fd, $0.baseAddress! + got, $0.count - got, 0) }
                if n <= 0 { throw HarnessError("recv: \(n < 0 ? String(cString: strerror(errno)) : "EOF")") }
                got += n
            }
            guard String(decoding: buffer.prefix(got), as: UTF8.self) == message else { throw HarnessError("wrong echo") }
            result.latencies.append(now() - start)
        } catch {
            result.failures.append("exchange \(i): \(error)")
        }
        usleep(20_000)
    }
    return result
}

/// A TCP socket as /proc/net/tcp shows it (IPv4).
private struct TCPSocket {
    var localPort: UInt16
    var remotePort: UInt16
    var state: Int
    var sendQueue: Int
    var receiveQueue: Int
    var inode: String
}

/// Every IPv4 TCP socket of this network namespace: `tx_queue` is what a
/// socket holds unsent or unacknowledged, `rx_queue` what it holds unread.
private func tcpSockets() -> [TCPSocket] {
    // Read to the end: the file is generated a page at a time.
    let fd = open("/proc/net/tcp", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return [] }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var page = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(fd, &page, page.count)
        if n <= 0 { break }
        bytes += page.prefix(n)
    }
    let text = String(decoding: bytes, as: UTF8.self)
    var sockets: [TCPSocket] = []
    for line in text.split(separator: "\n").dropFirst() {
        let fields = line.split(separator: " ")
        guard fields.count > 9, let colon = fields[1].lastIndex(of: ":"),
              let port = UInt16(fields[1][fields[1].index(after: colon)...], radix: 16),
              let remoteColon = fields[2].lastIndex(of: ":"),
              let remote = UInt16(fields[2][fields[2].index(after: remoteColon)...], radix: 16),
              let state = Int(fields[3], radix: 16) else { continue }
        let queues = fields[4].split(separator: ":")
        guard queues.count == 2, let tx = Int(queues[0], radix: 16), let rx = Int(queues[1], radix: 16) else { continue }
        sockets.append(TCPSocket(localPort: port, remotePort: remote, state: state, sendQueue: tx, receiveQueue: rx,
                                 inode: String(fields[9])))
    }
    return sockets
}

private func localPort(_ fd: CInt) -> UInt16 {
    var address = sockaddr_in()
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return UInt16(bigEndian: address.sin_port)
}
