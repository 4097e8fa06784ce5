import Glibc
import Testing
@testable import InetdCore

/// SPEC 5's crash-loop rule in pieces (issue 19): the count and the delay
/// without sockets, the verdict over a line's sockets, and the two kinds of
/// evidence the kernel gives (a datagram's arrival stamp, a unix listener's
/// queue) on real sockets.
@Suite struct CrashLoopRuleTests {
    static func state() -> ServiceState {
        let entry = ServiceEntry(line: 1, hosts: ["*"], service: "7", socketType: .dgram,
                                 transport: Transport(kind: .udp, families: .ipv4Only), wait: false, user: "-",
                                 program: .path("/bin/true"), arguments: ["true"])
        return ServiceState(service: Service(entry: entry, endpoints: [], identity: nil), environment: HandlerEnvironment([]))
    }

    /// Three quick failures start a back-off of 1 s; each quick failure
    /// after it doubles it, up to 60 s.
    @Test func quickFailuresBackOffDoublingToTheCap() {
        let state = Self.state()
        #expect(!state.countExit(failed: true, lived: 10))
        #expect(!state.countExit(failed: true, lived: 10))
        #expect(state.countExit(failed: true, lived: 10))
        #expect(state.startBackOff(now: 0) == 1_000)
        var delays: [Int64] = []
        for _ in 0..<8 {
            #expect(state.countExit(failed: true, lived: 10))
            delays.append(state.startBackOff(now: 0))
        }
        #expect(delays == [2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000])
    }

    /// An exit that is no failure (0, having consumed its input) ends the
    /// episode however short the handler's life: the next one starts at 1 s.
    @Test func anExitThatIsNoFailureResetsTheDelay() {
        let state = Self.state()
        for _ in 0..<3 { _ = state.countExit(failed: true, lived: 10) }
        _ = state.startBackOff(now: 0)
        _ = state.countExit(failed: true, lived: 10)
        #expect(state.startBackOff(now: 0) == 2_000)
        #expect(!state.countExit(failed: false, lived: 20))
        #expect(state.quickFailures == 0 && state.backoffMilliseconds == 0)
        for _ in 0..<2 { #expect(!state.countExit(failed: true, lived: 10)) }
        #expect(state.countExit(failed: true, lived: 10))
        #expect(state.startBackOff(now: 0) == 1_000)
    }

    /// A failure after more than 1 s breaks the row but is still a failure:
    /// the delay stays, unless the handler lived 10 s.
    @Test func aSlowFailureClearsTheCountAndOnlyTenSecondsResetTheDelay() {
        let state = Self.state()
        for _ in 0..<3 { _ = state.countExit(failed: true, lived: 10) }
        _ = state.startBackOff(now: 0)
        #expect(!state.countExit(failed: true, lived: 5_000))
        #expect(state.quickFailures == 0 && state.backoffMilliseconds == 1_000)
        for _ in 0..<3 { _ = state.countExit(failed: true, lived: 10) }
        #expect(state.startBackOff(now: 0) == 2_000)
        #expect(!state.countExit(failed: true, lived: 10_000))
        #expect(state.backoffMilliseconds == 0)
    }

    /// A line is stalled when nothing was consumed and input was left: a
    /// socket that had nothing when the handler started proves nothing.
    @Test func aLineIsStalledOnlyWhenItLeftInputAndConsumedNone() {
        #expect(CrashLoop.stalled([.untouched]))
        #expect(CrashLoop.stalled([.untouched, .idle]))
        #expect(CrashLoop.stalled([.idle, .untouched, .idle]))
        #expect(!CrashLoop.stalled([.untouched, .consumed]))
        #expect(!CrashLoop.stalled([.idle, .idle]))
        #expect(!CrashLoop.stalled([.consumed]))
        #expect(!CrashLoop.stalled([]))
    }

    @Test func aDatagramIsTheSameOnlyWithTheSameStamp() {
        var source = PeerBuffer()
        source.length = 16
        var other = source
        withUnsafeMutableBytes(of: &other.storage) { $0[4] = 9 }
        let head = DatagramHead(length: 10, source: source, arrival: 1_000)
        #expect(head.isStill(DatagramHead(length: 10, source: source, arrival: 1_000)))
        #expect(!head.isStill(DatagramHead(length: 10, source: source, arrival: 1_001)))
        #expect(!head.isStill(DatagramHead(length: 10, source: source, arrival: 0)))
        #expect(!head.isStill(DatagramHead(length: 11, source: source, arrival: 1_000)))
        #expect(!head.isStill(DatagramHead(length: 10, source: other, arrival: 1_000)))
        let unstamped = DatagramHead(length: 10, source: source, arrival: 0)
        #expect(unstamped.isStill(DatagramHead(length: 10, source: source, arrival: 0)))
    }

    @Test func aUnixQueueIsStillWhenItsFirstClientsAreStillFirst() {
        let start = UnixListenerQueue(count: 2, head: (7, 8, 0, 0))
        #expect(start.stillHeads(UnixListenerQueue(count: 2, head: (7, 8, 0, 0))))
        #expect(start.stillHeads(UnixListenerQueue(count: 3, head: (7, 8, 9, 0))))
        #expect(!start.stillHeads(UnixListenerQueue(count: 2, head: (8, 9, 0, 0))))
        #expect(!start.stillHeads(UnixListenerQueue(count: 1, head: (7, 0, 0, 0))))
        #expect(!UnixListenerQueue().stillHeads(UnixListenerQueue(count: 1, head: (7, 0, 0, 0))))
    }

    /// Two datagrams of one length from one source carry different stamps,
    /// the peek leaves them queued, and a reader afterwards gets no control
    /// message: stamping reports nothing until inetd asks.
    @Test func udpDatagramsCarryTheirArrivalStampUnreported() throws {
        let server = try Socket.open(domain: AF_INET, type: CInt(SOCK_DGRAM.rawValue))
        defer { server.close() }
        try Socket.stampArrivals(server)
        try Socket.bind(server, to: SocketAddress(ipv4: (127, 0, 0, 1), port: 0))
        var local = PeerBuffer()
        try Socket.localAddress(server, into: &local)
        let client = socket(AF_INET, CInt(SOCK_DGRAM.rawValue), 0)
        defer { close(client) }
        let (storage, length) = (local.storage, local.length)
        func send() {
            _ = withUnsafePointer(to: storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(client, "same", 4, 0, $0, length) }
            }
        }
        var source = PeerBuffer()
        // The first socket of the system to ask turns stamping on through
        // deferred work: datagrams sent at once may come unstamped.
        var live = false
        for _ in 0..<1_000 where !live {
            send()
            live = try #require(try Socket.peekDatagramHead(server, source: &source)).arrival > 0
            _ = recv(server.rawValue, nil, 0, 0)
            if !live { usleep(1_000) }
        }
        #expect(live, "no datagram was stamped within a second")
        send()
        send()
        let first = try #require(try Socket.peekDatagramHead(server, source: &source))
        #expect(first.length == 4 && first.arrival > 0)
        let again = try #require(try Socket.peekDatagramHead(server, source: &source))
        #expect(again.arrival == first.arrival)

        var buffer = [UInt8](repeating: 0, count: 16)
        var control = [UInt64](repeating: 0, count: 16)
        let controlBytes = buffer.withUnsafeMutableBytes { data in
            control.withUnsafeMutableBytes { c in
                var vector = iovec(iov_base: data.baseAddress, iov_len: data.count)
                var message = msghdr()
                message.msg_control = c.baseAddress
                message.msg_controllen = c.count
                return withUnsafeMutablePointer(to: &vector) { v in
                    message.msg_iov = v
                    message.msg_iovlen = 1
                    _ = recvmsg(server.rawValue, &message, 0)
                    return message.msg_controllen
                }
            }
        }
        #expect(controlBytes == 0, "a handler's recvmsg sees no stamp")
        let second = try #require(try Socket.peekDatagramHead(server, source: &source))
        #expect(second.length == 4 && second.arrival > 0 && second.arrival != first.arrival)
    }

    /// sock_diag lists a unix listener's waiting clients by inode, in order;
    /// an accept takes the first.
    @Test func aUnixListenersQueueNamesItsClients() throws {
        var template = Array("/tmp/inetd-crashloop-XXXXXX".utf8CString)
        let directory = String(cString: try #require(mkdtemp(&template)))
        let path = directory + "/l.sock"
        defer { unlink(path); rmdir(directory) }
        let listener = try Socket.open(domain: AF_UNIX, type: CInt(SOCK_STREAM.rawValue))
        defer { listener.close() }
        let address = try #require(SocketAddress(unixPath: path))
        try Socket.bind(listener, to: address)
        try Socket.listen(listener, backlog: 8)
        #expect(try Socket.unixListenerQueue(listener) == UnixListenerQueue())

        var clients: [FileDescriptor] = []
        defer { for c in clients { c.close() } }
        var inodes: [UInt32] = []
        for _ in 0..<2 {
            let client = try Socket.open(domain: AF_UNIX, type: CInt(SOCK_STREAM.rawValue))
            clients.append(client)
            try Socket.connect(client, to: address)
            var info = stat()
            fstat(client.rawValue, &info)
            inodes.append(UInt32(truncatingIfNeeded: info.st_ino))
        }
        let start = try #require(try Socket.unixListenerQueue(listener))
        #expect(start == UnixListenerQueue(count: 2, head: (inodes[0], inodes[1], 0, 0)))
        #expect(start.stillHeads(try #require(try Socket.unixListenerQueue(listener))))
        let accepted = accept(listener.rawValue, nil, nil)
        defer { close(accepted) }
        let now = try #require(try Socket.unixListenerQueue(listener))
        #expect(now == UnixListenerQueue(count: 1, head: (inodes[1], 0, 0, 0)))
        #expect(!start.stillHeads(now))
    }
}
