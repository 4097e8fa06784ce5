import Foundation
import Glibc
import Testing

/// `proxy` lines (issue 17), on the release binary as CI builds it: a
/// PROXY v1 or v2 header read in the loop, the client it names judged and
/// shown to the handler, and every way a header can go wrong.
@Suite struct ProxyTests {
    /// A handler that says what it was told, then echoes what the client
    /// sent after the header.
    static let reporter = """
        echo "$PROTO $TCPREMOTEIP $TCPREMOTEPORT $TCPLOCALIP $TCPLOCALPORT ${PROXYREMOTEIP:--} ${PROXYREMOTEPORT:--}"
        exec cat

        """

    static let v4Block: [UInt8] = [192, 0, 2, 1, 198, 51, 100, 2, 0xDC, 0x04, 0x01, 0xBB]

    static func v2(command: UInt8 = 1, family: UInt8, block: [UInt8], statedLength: Int? = nil) -> [UInt8] {
        let length = statedLength ?? block.count
        return [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
                0x20 | command, family << 4 | 1, UInt8(length >> 8), UInt8(length & 0xFF)] + block
    }

    /// Connects from `source`, sends `bytes` (in pieces of `piece` bytes,
    /// `gap` microseconds apart), closes its sending side and reads all.
    static func exchange(_ port: UInt16, from source: String = "127.0.0.1", _ bytes: [UInt8], piece: Int = Int.max,
                         gap: UInt32 = 0, timeout: Int = 10) throws -> String {
        let client = try ClientSocket(family: AF_INET, type: CInt(SOCK_STREAM.rawValue), timeout: timeout)
        guard client.bind(makeAddress(source, 0)!) == 0 else { throw HarnessError("bind \(source)") }
        try client.connect(makeAddress("127.0.0.1", port)!)
        var at = 0
        while at < bytes.count {
            let end = min(bytes.count, at + piece)
            let sent = bytes[at..<end].withUnsafeBytes { Glibc.send(client.fd, $0.baseAddress, $0.count, CInt(MSG_NOSIGNAL)) }
            guard sent > 0 else { break }
            at += sent
            if gap > 0 { usleep(gap) }
        }
        client.shutdownWrite()
        return (try? client.receiveAll()) ?? ""
    }

    func daemon(_ options: String, port: UInt16, dir: TemporaryDirectory) throws -> RunningDaemon {
        let script = dir.write("report", Self.reporter)
        return try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait,\(options) - /bin/sh sh \(script)\n")
    }

    @Test func v1AndV2HeadersNameTheClient() throws {
        let port = try freePort(), dir = TemporaryDirectory()
        let daemon = try daemon("proxy,proxy-from=127.0.0.0/8", port: port, dir: dir)
        let v1 = Array("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nhello".utf8)
        let reply = try Self.exchange(port, v1)
        #expect(reply.hasPrefix("TCP 192.0.2.1 56324 198.51.100.2 443 127.0.0.1 "), "\(reply)")
        #expect(reply.hasSuffix("\nhello"), "the bytes after the header reach the handler untouched: \(reply)")
        let six = Self.v2(family: 2, block: IPv6.bytes("2001:db8::7") + IPv6.bytes("2001:db8::8") + [0x1F, 0x90, 0x00, 0x50])
        #expect(try Self.exchange(port, six + Array("x".utf8)).hasPrefix("TCP6 2001:db8::7 8080 2001:db8::8 80 127.0.0.1 "))
        #expect(try Self.exchange(port, Self.v2(family: 1, block: Self.v4Block)) .hasPrefix("TCP 192.0.2.1 56324 198.51.100.2 443 127.0.0.1 "))
        // LOCAL (a balancer's health check): the real peer, no PROXYREMOTE*.
        let local = try Self.exchange(port, Self.v2(command: 0, family: 0, block: []))
        #expect(local.hasPrefix("TCP 127.0.0.1 ") && local.contains(" - -"), "\(local)")
        #expect(daemon.count("event=proxy_refused") == 0, "\(daemon.log)")
    }

    /// A header from a source `proxy-from=` does not name is not read: the
    /// client is served as itself and its header is data; with
    /// `proxy=required` it is closed.
    @Test func anUntrustedHeaderIsNotBelieved() throws {
        let (p1, p2) = (try freePort(), try freePort())
        let dir = TemporaryDirectory()
        let script = dir.write("report", Self.reporter)
        let daemon = try RunningDaemon(config: """
            127.0.0.1:\(p1) stream tcp nowait,proxy,proxy-from=127.0.0.2 - /bin/sh sh \(script)
            127.0.0.1:\(p2) stream tcp nowait,proxy=required,proxy-from=127.0.0.2 - /bin/sh sh \(script)

            """)
        let header = Array("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n".utf8)
        let untrusted = try Self.exchange(p1, header)
        #expect(untrusted.hasPrefix("TCP 127.0.0.1 "), "served as itself: \(untrusted)")
        #expect(untrusted.hasSuffix("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"), "its header is data")
        #expect(try Self.exchange(p1, from: "127.0.0.2", header).hasPrefix("TCP 192.0.2.1 "))
        #expect(try Self.exchange(p2, header) == "", "proxy=required: closed")
        #expect(try Self.exchange(p2, from: "127.0.0.2", header).hasPrefix("TCP 192.0.2.1 "))
        try daemon.waitForLog("event=proxy_refused service=127.0.0.1:\(p2)/tcp peer=127.0.0.1:")
    }

    /// Garbage, a lying length, a bound past 2 KiB and a header cut short
    /// are closed at once; a header split into bytes arrives whole; a slow
    /// one is closed at its deadline. None starts a handler.
    @Test func badHeadersAreClosedAndCounted() throws {
        let port = try freePort(), dir = TemporaryDirectory()
        let daemon = try daemon("proxy,proxy-timeout=1", port: port, dir: dir)
        #expect(try Self.exchange(port, Array("GET / HTTP/1.0\r\n\r\n".utf8)) == "")
        #expect(try Self.exchange(port, Array("PROXY TCP4 192.0.2.1 198.51.100.2 99999 1\r\n".utf8)) == "")
        #expect(try Self.exchange(port, Self.v2(family: 1, block: Self.v4Block, statedLength: 60000)) == "")
        #expect(try Self.exchange(port, Self.v2(family: 1, block: Self.v4Block + [5, 0, 40, 1])) == "", "a TLV past the end")
        #expect(try Self.exchange(port, Array("PROXY TCP4 192.0.2.1".utf8)) == "", "cut short, then closed")
        let split = Array("PROXY TCP4 192.0.2.9 198.51.100.2 1000 443\r\nbyte by byte".utf8)
        #expect(try Self.exchange(port, split, piece: 1, gap: 2000).hasPrefix("TCP 192.0.2.9 1000 "))
        // Half a header, then silence: closed at the deadline (1 s, checked
        // once a second), not served.
        let slow = try ClientSocket(family: AF_INET, type: CInt(SOCK_STREAM.rawValue), timeout: 10)
        try slow.connect(makeAddress("127.0.0.1", port)!)
        try slow.send("PROXY TCP4 192.0.2.1 ")
        let started = Date()
        #expect(((try? slow.receiveAll()) ?? "") == "", "closed (a reset: its bytes were unread)")
        let waited = Date().timeIntervalSince(started)
        #expect(waited >= 0.9 && waited < 4, "closed at its deadline: \(waited) s")
        #expect(daemon.count("event=connection ") == 1, "only the split header's client was served: \(daemon.log)")
        daemon.signal(SIGUSR1)
        try daemon.waitForLog("proxy_refused=6")
        try daemon.waitForLog("awaiting_headers=0")
    }

    /// Rules and limits judge the client the header names: a deny of it
    /// holds through the balancer, and `per-ip=1` counts two clients behind
    /// one balancer as two sources.
    @Test func rulesAndLimitsSeeTheProxiedClient() throws {
        let port = try freePort(), dir = TemporaryDirectory()
        let script = dir.write("slow", "echo \"$TCPREMOTEIP\"\nsleep 2\n")
        let daemon = try RunningDaemon(config: """
            127.0.0.1:\(port) stream tcp nowait,proxy,proxy-from=127.0.0.1,deny=192.0.2.66,per-ip=1 - /bin/sh sh \(script)

            """)
        func header(_ client: String) -> [UInt8] { Array("PROXY TCP4 \(client) 198.51.100.2 40000 443\r\n".utf8) }
        #expect(try Self.exchange(port, header("192.0.2.66")) == "", "denied through the balancer")
        let first = try ClientSocket.tcp("127.0.0.1", port)
        try first.send(String(decoding: header("192.0.2.1"), as: UTF8.self))
        try daemon.waitUntil("the first client's handler runs") { childCount(of: daemon.pid) == 1 }
        #expect(try Self.exchange(port, header("192.0.2.1")) == "", "the same client again: over per-ip")
        #expect(try Self.exchange(port, header("192.0.2.2")) == "192.0.2.2\n", "another client behind the balancer")
        #expect(try first.receiveAll() == "192.0.2.1\n")
        try daemon.waitForLog("event=access_denied service=127.0.0.1:\(port)/tcp peer=192.0.2.66:40000")
        try daemon.waitForLog("event=source_limited service=127.0.0.1:\(port)/tcp peer=192.0.2.1:40000")
    }

    /// `nowait,listen-fds` with `proxy`: the connection after its header on
    /// fd 3, with the same variables.
    @Test func listenFdsGetsTheConnectionAfterItsHeader() throws {
        let port = try freePort(), dir = TemporaryDirectory()
        let script = dir.write("fd3", "exec <&3 >&3\necho \"$LISTEN_FDS $LISTEN_FDNAMES $TCPREMOTEIP $PROXYREMOTEIP\"\nexec cat\n")
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait,listen-fds,proxy,proxy-from=127.0.0.1 - /bin/sh sh \(script)\n")
        let reply = try Self.exchange(port, Self.v2(family: 1, block: Self.v4Block) + Array("after".utf8))
        #expect(reply == "1 connection 192.0.2.1 127.0.0.1\nafter")
        _ = daemon
    }

    /// 1 MiB after a v2 header arrives byte for byte.
    @Test func aMebibyteArrivesByteForByte() throws {
        let port = try freePort(), dir = TemporaryDirectory()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait,proxy - /usr/bin/cksum cksum\n")
        var payload = [UInt8](repeating: 0, count: 1 << 20)
        var rng = SplitMix64(seed: 17)
        for i in payload.indices { payload[i] = UInt8(truncatingIfNeeded: rng.next()) }
        let file = dir.path + "/payload"
        FileManager.default.createFile(atPath: file, contents: Data(payload))
        let expected = try runProgram("/usr/bin/cksum", []).status == 0
            ? try runShell("/usr/bin/cksum < \(file)") : ""
        #expect(try Self.exchange(port, Self.v2(family: 1, block: Self.v4Block) + payload) == expected)
        _ = daemon
    }

    /// 10,000 silent connections: at most 1,024 wait for a header (the rest
    /// are closed at once), another line serves meanwhile, and once their
    /// time is up the daemon's descriptors and private memory are back.
    @Test func tenThousandSilentConnections() throws {
        let (port, plain) = (try freePort(), try freePort())
        let daemon = try RunningDaemon(config: """
            127.0.0.1:\(port) stream tcp nowait,max=0,proxy,proxy-timeout=2,backlog=4096 - /bin/cat cat
            127.0.0.1:\(plain) stream tcp nowait - /bin/echo echo served

            """, arguments: [])
        #expect(try tcpExchange("127.0.0.1", plain) == "served\n")
        let idleFDs = daemon.openFDs().count
        let idleMemory = try #require(daemon.anonymousKiB())
        // The 10,000 clients live in a process of their own: descriptors
        // numbered past 1,024 in the test process would reach code that
        // still keeps them in an fd_set.
        let clients = try SilentClients(port: port, count: 10_000)
        #expect(clients.connected > 5000, "the kernel took most of them: \(clients.connected)")
        #expect(try tcpExchange("127.0.0.1", plain) == "served\n", "another line serves meanwhile")
        daemon.signal(SIGUSR1)
        try daemon.waitForLog("awaiting_headers=")
        let awaiting = daemon.log.components(separatedBy: "awaiting_headers=").last.flatMap { Int($0.prefix { $0.isNumber }) }
        #expect((awaiting ?? Int.max) <= 1024, "bounded: \(awaiting ?? -1)")
        try daemon.waitForLog("reason=\"too many connections waiting for a header\"")
        // The clients stay connected and silent: their time runs out (one
        // episode of `proxy_refused` holds every reason, so it is the
        // descriptors that tell).
        try daemon.waitUntil(timeout: 30, "descriptors back to \(idleFDs), the clients still connected") {
            daemon.openFDs().count <= idleFDs
        }
        clients.close()
        // Not under AddressSanitizer, whose allocator quarantines what is freed.
        if ProcessInfo.processInfo.environment["ASAN_OPTIONS"] == nil {
            var memory = 0
            try daemon.waitUntil(timeout: 15, "private memory back within 512 KiB of \(idleMemory) KiB (\(memory))") {
                memory = daemon.anonymousKiB() ?? memory
                return memory <= idleMemory + 512
            }
        }
        #expect(try tcpExchange("127.0.0.1", plain) == "served\n")
    }
}

/// A python3 process holding `count` silent connections to 127.0.0.1:port
/// until `close` (its standard input closed).
final class SilentClients {
    let process = Process()
    let input = Pipe()
    let output = Pipe()
    private(set) var connected = 0

    static let script = """
        import resource, socket, sys
        n, port = int(sys.argv[1]), int(sys.argv[2])
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 100), hard))
        held = []
        for _ in range(n):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                held.append(s)
            except OSError:
                pass
        print(len(held), flush=True)
        sys.stdin.read()
        """

    init(port: UInt16, count: Int) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", Self.script, "\(count)", "\(port)"]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        connected = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    func close() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning { close() }
    }
}

/// Runs a shell command line and returns its standard output.
func runShell(_ command: String) throws -> String {
    try runProgram("/bin/sh", ["-c", command]).stdout
}

enum IPv6 {
    static func bytes(_ text: String) -> [UInt8] {
        var address = in6_addr()
        _ = inet_pton(AF_INET6, text, &address)
        return withUnsafeBytes(of: &address) { Array($0) }
    }
}
