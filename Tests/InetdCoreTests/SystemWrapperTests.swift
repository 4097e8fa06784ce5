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
}
