import Glibc
import Testing
@testable import InetdCore

/// The System wrappers on real descriptors: what each returns when there is
/// something to do, nothing to do (would block) and a peer gone.
@Suite struct SystemWrapperTests {
    /// A connected pair of non-blocking, close-on-exec sockets.
    func socketPair(_ type: Int32 = Int32(SOCK_STREAM.rawValue)) -> (FileDescriptor, FileDescriptor) {
        var fds: [CInt] = [-1, -1]
        let flags = type | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        precondition(socketpair(AF_UNIX, flags, 0, &fds) == 0, "socketpair")
        return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
    }

    /// An upgrade's state comes back from its sealed memfd as written, an
    /// empty one too; the memfd cannot be written once sealed, and a
    /// socket in its place is no state.
    /// An upgrade enters only its own children: init and this process
    /// are not; a child that exited and waits to be reaped still is.
    @Test func isChildTellsOwnChildrenFromOtherProcesses() {
        #expect(!ChildProcess.isChild(1))
        #expect(!ChildProcess.isChild(getpid()))
        var pid: pid_t = 0
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
        defer { free(argv[0]) }
        #expect(posix_spawn(&pid, "/bin/true", nil, nil, &argv, nil) == 0)
        #expect(ChildProcess.isChild(pid))
        var status: CInt = 0
        #expect(waitpid(pid, &status, 0) == pid)
        #expect(!ChildProcess.isChild(pid), "reaped")
    }

    @Test func sealedStateReadsBackOnlyFromASealedMemfd() throws {
        let bytes: [UInt8] = Array(0...255) + Array(repeating: 7, count: 70_000)
        let fd = try SealedState.create("test-state", holding: bytes)
        defer { fd.close() }
        #expect(try SealedState.read(fd) == bytes)
        var byte: UInt8 = 1
        #expect(Glibc.write(fd.rawValue, &byte, 1) == -1 && errno == EPERM, "sealed against writes")
        #expect(fcntl(fd.rawValue, F_GETFD) & FD_CLOEXEC != 0)
        let (a, b) = socketPair()
        defer { a.close(); b.close() }
        #expect(try SealedState.read(a) == nil, "a socket is no state")
        let empty = try SealedState.create("empty", holding: [])
        defer { empty.close() }
        #expect(try SealedState.read(empty) == [])
    }

    @Test func nonBlockingSyscallTellsWouldBlockFromDoneAndThrowsTheRest() throws {
        let (a, b) = socketPair()
        defer { a.close() }
        var byte: UInt8 = 0
        let empty = try nonBlockingSyscall("read") { Glibc.read(a.rawValue, &byte, 1) }
        #expect(empty == .wouldBlock)
        byte = 7
        #expect(try nonBlockingSyscall("write") { Glibc.write(b.rawValue, &byte, 1) } == .done(1))
        byte = 0
        #expect(try nonBlockingSyscall("read") { Glibc.read(a.rawValue, &byte, 1) } == .done(1))
        #expect(byte == 7)
        b.close()
        #expect(try nonBlockingSyscall("read") { Glibc.read(a.rawValue, &byte, 1) } == .done(0), "0: the peer closed")
        let error = #expect(throws: SystemError.self) {
            try nonBlockingSyscall("send") { Glibc.send(a.rawValue, &byte, 1, CInt(MSG_NOSIGNAL)) }
        }
        #expect(error?.call == "send" && error?.errno == EPIPE)
    }

    @Test func streamSendAndReceiveTellWouldBlockDataAndClose() throws {
        let (a, b) = socketPair()
        defer { a.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 1)
        defer { buffer.deallocate() }
        #expect(try Socket.receive(a, into: buffer) == .wouldBlock)
        let sent = try Array("hello".utf8).withUnsafeBytes { raw in try Socket.send(b, raw) }
        #expect(sent == .done(5))
        #expect(try Socket.receive(a, into: buffer) == .done(5))
        #expect(Array(buffer.prefix(5)) == Array("hello".utf8))
        b.close()
        #expect(try Socket.receive(a, into: buffer) == .done(0), "0: the peer closed")
        // MSG_NOSIGNAL: EPIPE thrown, no SIGPIPE (which would end the test process).
        let error = #expect(throws: SystemError.self) {
            try Array("x".utf8).withUnsafeBytes { raw in _ = try Socket.send(a, raw) }
        }
        #expect(error?.errno == EPIPE)
    }

    @Test func streamSendTellsAFullBufferAsWouldBlock() throws {
        let (a, b) = socketPair()
        defer { a.close(); b.close() }
        let chunk = [UInt8](repeating: 0x41, count: 65536)
        var outcome = IOResult<Int>.done(0)
        for _ in 0..<1000 {
            outcome = try chunk.withUnsafeBytes { raw in try Socket.send(a, raw) }
            if outcome == .wouldBlock { break }
        }
        #expect(outcome == .wouldBlock)
    }

    func wouldBlock<T>(_ result: IOResult<T>) -> Bool {
        if case .wouldBlock = result { return true }
        return false
    }

    /// A UDP socket on 127.0.0.1, its port chosen by the kernel, and its
    /// address as `getsockname` gives it.
    func udpSocket() throws -> (FileDescriptor, PeerBuffer) {
        let fd = try Socket.open(domain: AF_INET, type: CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_NONBLOCK.rawValue))
        try Socket.bind(fd, to: SocketAddress(ipv4: (127, 0, 0, 1), port: 0))
        var local = PeerBuffer()
        try Socket.localAddress(fd, into: &local)
        return (fd, local)
    }

    @Test func datagramsGoToAndComeFromPeerBuffers() throws {
        let (a, aAddress) = try udpSocket()
        let (b, bAddress) = try udpSocket()
        defer { a.close(); b.close() }
        #expect(aAddress.address().host == "127.0.0.1" && aAddress.address().port != 0)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
        defer { buffer.deallocate() }
        var source = PeerBuffer()
        #expect(try Socket.receiveDatagram(b, into: buffer, from: &source) == .wouldBlock)
        #expect(wouldBlock(try Socket.discardDatagram(b)))
        for text in ["first", "second"] {
            let sent = try Array(text.utf8).withUnsafeBytes { raw in
                try Socket.sendDatagram(a, raw, to: bAddress)
            }
            #expect(sent == .done(text.utf8.count))
        }
        // Loopback delivers at once; the first is dropped unread.
        #expect(!wouldBlock(try Socket.discardDatagram(b)))
        #expect(try Socket.receiveDatagram(b, into: buffer, from: &source) == .done(6))
        #expect(Array(buffer.prefix(6)) == Array("second".utf8))
        #expect(source.sameAddress(as: aAddress), "the source is the sender's address: \(source.address())")
        // The answer goes back to the source as received.
        _ = try Array("reply".utf8).withUnsafeBytes { raw in try Socket.sendDatagram(b, raw, to: source) }
        #expect(try Socket.receiveDatagram(a, into: buffer, from: &source) == .done(5))
        #expect(source.sameAddress(as: bAddress))
    }

    @Test func notificationsReachUnixDatagramSocketsByPathAndAbstractName() throws {
        let listener = try Socket.open(domain: AF_UNIX, type: CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_NONBLOCK.rawValue))
        defer { listener.close() }
        let name = "inetd-wrapper-test-\(getpid())"
        try Socket.bind(listener, to: try #require(SocketAddress(unixPath: "/tmp/" + name)))
        defer { unlink("/tmp/" + name) }
        let sender = try Socket.open(domain: AF_UNIX, type: CInt(SOCK_DGRAM.rawValue))
        defer { sender.close() }
        try Array("READY=1".utf8).withUnsafeBytes { raw in
            try Socket.sendDatagram(sender, raw, toUnixName: Array(("/tmp/" + name).utf8))
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
        defer { buffer.deallocate() }
        #expect(try Socket.receive(listener, into: buffer) == .done(7))
        // Nobody there: the error names the call.
        let error = #expect(throws: SystemError.self) {
            try Array("x".utf8).withUnsafeBytes { raw in
                try Socket.sendDatagram(sender, raw, toUnixName: [0] + Array(name.utf8))
            }
        }
        #expect(error?.call == "sendto" && error?.errno == ECONNREFUSED)
        #expect(Socket.unixNameCapacity == 108)
    }

    @Test func descriptorsAreCheckedDuplicatedAndMarkedCloseOnExec() throws {
        let (a, b) = socketPair()
        let (c, d) = socketPair()
        defer { a.close(); b.close(); c.close(); d.close() }
        #expect(a.isOpen)
        #expect(!FileDescriptor(rawValue: 1 << 30).isOpen)
        // d now is a copy of b, not close-on-exec: what is sent on it reaches a.
        try b.duplicate(onto: d)
        #expect(fcntl(d.rawValue, F_GETFD) & FD_CLOEXEC == 0)
        _ = try Array("via d".utf8).withUnsafeBytes { raw in try Socket.send(d, raw) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 1)
        defer { buffer.deallocate() }
        #expect(try Socket.receive(a, into: buffer) == .done(5))
        try d.setCloseOnExec()
        #expect(fcntl(d.rawValue, F_GETFD) & FD_CLOEXEC != 0)
        let inherited = try FileDescriptor.open("/dev/null", O_RDONLY, closeOnExec: false)
        defer { inherited.close() }
        #expect(fcntl(inherited.rawValue, F_GETFD) & FD_CLOEXEC == 0)
        let private_ = try FileDescriptor.open("/dev/null", O_RDONLY)
        defer { private_.close() }
        #expect(fcntl(private_.rawValue, F_GETFD) & FD_CLOEXEC != 0)
    }

    @Test func aChildIsWaitedForByPid() throws {
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup("exit 3"), nil]
        defer { for arg in argv { free(arg) } }
        #expect(posix_spawn(&pid, "/bin/sh", nil, nil, argv, nil) == 0)
        let status = try ChildProcess.waitFor(pid)
        #expect(ExitStatus(status).description == "exit 3")
        // reapAny is not tried here: in the test process it would reap the
        // children of tests running alongside.
    }

    @Test func wallClockAnswersFollowRFC867AndRFC868() {
        let line = String(decoding: WallClock.daytime(), as: UTF8.self)
        #expect(line.wholeMatch(of: #/[A-Z][a-z]{2} [A-Z][a-z]{2} [ 123][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] [0-9]{4}\r\n/#) != nil,
                "\(line.debugDescription)")
        let expected = UInt32(truncatingIfNeeded: WallClock.secondsSinceEpoch() + 2_208_988_800)
        #expect(WallClock.rfc868Seconds() &- expected <= 2)
    }

    @Test func addressTextIsWrittenInPlaceOrRefused() {
        let text = UnsafeMutablePointer<CChar>.allocate(capacity: 64)
        defer { text.deallocate() }
        let v4: [UInt8] = [192, 0, 2, 7]
        let v6: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]
        #expect(v4.withUnsafeBytes { writeAddressText(family: AF_INET, address: $0.baseAddress!, into: text, capacity: 64) } == 9)
        #expect(String(cString: text) == "192.0.2.7")
        #expect(v6.withUnsafeBytes { writeAddressText(family: AF_INET6, address: $0.baseAddress!, into: text, capacity: 64) } == 11)
        #expect(String(cString: text) == "2001:db8::1")
        #expect(v4.withUnsafeBytes { writeAddressText(family: AF_INET, address: $0.baseAddress!, into: text, capacity: 9) } == nil,
                "no room for the NUL")
    }

    @Test func processStateAndTexts() {
        #expect(CurrentProcess.id == getpid())
        let path = CurrentProcess.environmentValue("PATH")
        #expect(path != nil)
        #expect(CurrentProcess.environmentValue("INETD_SURELY_UNSET_\(getpid())") == nil)
        #expect(CurrentProcess.environment().contains("PATH=" + (path ?? "")))
        #expect(signalText(SIGSEGV) == "Segmentation fault")
        releaseFreeHeap()
    }
}
