import Glibc
import _InetdSystem

/// Sending and receiving on sockets, each call through the seam. The calls
/// for descriptors the event loop polls return `IOResult`: `.wouldBlock`
/// when the socket has nothing to give or no room to take.
extension Socket {
    /// Sends what fits of `bytes` on a connected socket: the count sent,
    /// possibly short. A peer gone is EPIPE thrown, never SIGPIPE. C
    /// equivalent: `send(2)` with MSG_NOSIGNAL.
    static func send(_ fd: FileDescriptor, _ bytes: UnsafeRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try nonBlockingSyscall("send") { Glibc.send(fd.rawValue, bytes.baseAddress, bytes.count, CInt(MSG_NOSIGNAL)) }
    }

    /// Receives at most `buffer.count` bytes from a connected socket; 0 when
    /// the peer has closed. C equivalent: `recv(2)` with no flags.
    static func receive(_ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try nonBlockingSyscall("recv") { Glibc.recv(fd.rawValue, buffer.baseAddress, buffer.count, 0) }
    }

    /// Copies what has arrived on a connected socket, up to `buffer.count`
    /// bytes, and leaves it there; 0 when the peer has closed and nothing
    /// is left. Never blocks, whatever the socket's mode. C equivalent:
    /// `recv(2)` with MSG_PEEK | MSG_DONTWAIT.
    static func peek(_ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try nonBlockingSyscall("recv") {
            Glibc.recv(fd.rawValue, buffer.baseAddress, buffer.count, CInt(MSG_PEEK | MSG_DONTWAIT))
        }
    }

    /// Takes `count` bytes that have arrived (a `peek` saw them) off a
    /// connected socket: the count taken. C equivalent: `recv(2)` with
    /// MSG_DONTWAIT.
    static func consume(_ fd: FileDescriptor, _ count: Int, scratch: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        var taken = 0
        while taken < count {
            let want = min(count - taken, scratch.count)
            guard case .done(let n) = try nonBlockingSyscall("recv", {
                Glibc.recv(fd.rawValue, scratch.baseAddress, want, CInt(MSG_DONTWAIT))
            }), n > 0 else { break }
            taken += n
        }
        return taken
    }

    /// Drops the datagram at the head of the receive queue unread:
    /// `.wouldBlock` when none is waiting. C equivalent:
    /// `recv(fd, NULL, 0, MSG_DONTWAIT)`.
    @discardableResult
    static func discardDatagram(_ fd: FileDescriptor) throws(SystemError) -> IOResult<Void> {
        switch try nonBlockingSyscall("recv", { Glibc.recv(fd.rawValue, nil, 0, CInt(MSG_DONTWAIT)) }) {
        case .done: return .done(())
        case .wouldBlock: return .wouldBlock
        }
    }

    /// Receives one datagram into `buffer` (its tail cut if longer), with
    /// its source in `source`: the count received. C equivalent:
    /// `recvfrom(2)` with MSG_DONTWAIT.
    static func receiveDatagram(_ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer,
                                from source: inout PeerBuffer) throws(SystemError) -> IOResult<Int> {
        source.length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        return try withUnsafeMutablePointer(to: &source.storage) { (p) throws(SystemError) -> IOResult<Int> in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { (sa) throws(SystemError) -> IOResult<Int> in
                try nonBlockingSyscall("recvfrom") {
                    Glibc.recvfrom(fd.rawValue, buffer.baseAddress, buffer.count, CInt(MSG_DONTWAIT), sa, &source.length)
                }
            }
        }
    }

    /// Sends one datagram to `peer` (as `receiveDatagram` filled it in):
    /// the count sent. C equivalent: `sendto(2)` with MSG_DONTWAIT |
    /// MSG_NOSIGNAL.
    static func sendDatagram(_ fd: FileDescriptor, _ bytes: UnsafeRawBufferPointer,
                             to peer: PeerBuffer) throws(SystemError) -> IOResult<Int> {
        var storage = peer.storage
        return try withUnsafePointer(to: &storage) { (p) throws(SystemError) -> IOResult<Int> in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { (sa) throws(SystemError) -> IOResult<Int> in
                try nonBlockingSyscall("sendto") {
                    Glibc.sendto(fd.rawValue, bytes.baseAddress, bytes.count, CInt(MSG_DONTWAIT) | CInt(MSG_NOSIGNAL),
                                 sa, peer.length)
                }
            }
        }
    }

    /// The room for a unix socket's name (`sun_path`), its NUL included.
    static let unixNameCapacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)

    /// Sends one datagram to the unix socket named `name`: a path, or with
    /// a leading NUL byte a name in the abstract namespace (sd_notify's
    /// `@name`), at most `unixNameCapacity - 1` bytes. Never waits: a full
    /// queue is EAGAIN, thrown like any other failure. Returns the count
    /// sent. C equivalent: `sendto(2)` with MSG_NOSIGNAL | MSG_DONTWAIT to a
    /// `sockaddr_un`.
    @discardableResult
    static func sendDatagram(_ fd: FileDescriptor, _ bytes: UnsafeRawBufferPointer,
                             toUnixName name: [UInt8]) throws(SystemError) -> Int {
        precondition(!name.isEmpty && name.count < unixNameCapacity, "unix socket name of \(name.count) bytes")
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: name) }
        // A path is counted with its NUL; an abstract name is not.
        let length = socklen_t(MemoryLayout<sa_family_t>.size + name.count + (name[0] == 0 ? 0 : 1))
        return try withUnsafePointer(to: &address) { (p) throws(SystemError) -> Int in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { (sa) throws(SystemError) -> Int in
                try syscall("sendto") {
                    Glibc.sendto(fd.rawValue, bytes.baseAddress, bytes.count, CInt(MSG_NOSIGNAL | MSG_DONTWAIT), sa, length)
                }
            }
        }
    }
}
