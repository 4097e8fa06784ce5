import Glibc
import _InetdSystem

/// Socket calls, each through the syscall seam, each creating descriptors
/// close-on-exec.
public enum Socket {
    /// C equivalent: `socket(2)` with SOCK_CLOEXEC.
    public static func open(domain: CInt, type: CInt, protocol: CInt = 0) throws(SystemError) -> FileDescriptor {
        FileDescriptor(rawValue: try syscall("socket") { Glibc.socket(domain, type | CInt(SOCK_CLOEXEC.rawValue), `protocol`) })
    }

    /// C equivalent: `setsockopt(2)` with an int value.
    public static func setOption(_ fd: FileDescriptor, level: CInt, name: CInt, value: CInt) throws(SystemError) {
        var v = value
        _ = try syscall("setsockopt") {
            Glibc.setsockopt(fd.rawValue, level, name, &v, socklen_t(MemoryLayout<CInt>.size))
        }
    }

    /// C equivalent: `bind(2)`.
    public static func bind(_ fd: FileDescriptor, to address: SocketAddress) throws(SystemError) {
        _ = try address.withSockaddr { (sa, len) throws(SystemError) in
            try syscall("bind") { Glibc.bind(fd.rawValue, sa, len) }
        }
    }

    /// C equivalent: `bind(2)`, at an endpoint of the configuration.
    public static func bind(_ fd: FileDescriptor, to address: EndpointAddress) throws(SystemError) {
        try bind(fd, to: SocketAddress(address))
    }

    /// C equivalent: `connect(2)`.
    public static func connect(_ fd: FileDescriptor, to address: SocketAddress) throws(SystemError) {
        _ = try address.withSockaddr { (sa, len) throws(SystemError) in
            try syscall("connect") { Glibc.connect(fd.rawValue, sa, len) }
        }
    }

    /// C equivalent: `listen(2)`. Calling it again on a listening socket
    /// changes the backlog.
    public static func listen(_ fd: FileDescriptor, backlog: CInt) throws(SystemError) {
        _ = try syscall("listen") { Glibc.listen(fd.rawValue, backlog) }
    }

    /// C equivalent: `shutdown(2)` with SHUT_RDWR. On a listening socket it
    /// stops listening at once, whoever else holds a descriptor for it.
    public static func shutdown(_ fd: FileDescriptor) throws(SystemError) {
        _ = try syscall("shutdown") { Glibc.shutdown(fd.rawValue, CInt(SHUT_RDWR)) }
    }

    /// The local address of `fd` as raw `sockaddr` bytes in `local`: for a
    /// connection accepted on a wildcard listener, the address the client
    /// reached. C equivalent: `getsockname(2)`.
    static func localAddress(_ fd: FileDescriptor, into local: inout PeerBuffer) throws(SystemError) {
        local.length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        try withUnsafeMutablePointer(to: &local.storage) { (p) throws(SystemError) in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { (sa) throws(SystemError) in
                _ = try syscall("getsockname") { getsockname(fd.rawValue, sa, &local.length) }
            }
        }
    }
}

extension Endpoint {
    /// The type argument of socket(2): SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET.
    public var socketTypeValue: CInt {
        switch socketType {
        case .stream: return CInt(SOCK_STREAM.rawValue)
        case .dgram: return CInt(SOCK_DGRAM.rawValue)
        case .seqpacket: return CInt(SOCK_SEQPACKET.rawValue)
        }
    }
}

/// A socket address as the kernel fills it in: where an accepted
/// connection or a datagram came from (`accept4`, `recvfrom`), or a
/// socket's own address (`getsockname`).
struct PeerBuffer {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    init() {}

    func address() -> SocketAddress {
        withUnsafeBytes(of: storage) { SocketAddress(raw: $0.baseAddress!, length: length) }
    }

    /// An IPv4 or IPv6 address and port as a `sockaddr_in` or
    /// `sockaddr_in6`: a peer a PROXY header names.
    init(_ address: IPAddress, port: UInt16) {
        withUnsafeMutableBytes(of: &storage) { raw in
            func store(_ word: UInt64, at offset: Int, count: Int) {
                for i in 0..<count { raw[offset + i] = UInt8(truncatingIfNeeded: word >> (8 * (count - 1 - i))) }
            }
            raw.storeBytes(of: port.bigEndian, toByteOffset: 2, as: UInt16.self)
            if address.family == .inet {
                raw.storeBytes(of: sa_family_t(AF_INET), as: sa_family_t.self)
                store(address.low, at: 4, count: 4)
            } else {
                raw.storeBytes(of: sa_family_t(AF_INET6), as: sa_family_t.self)
                store(address.high, at: 8, count: 8)
                store(address.low, at: 16, count: 8)
            }
        }
        length = socklen_t(address.family == .inet ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
    }

    /// The peer's IP address, a v4-mapped IPv6 one as the IPv4 address it
    /// carries (what access rules and per-source limits judge); nil for
    /// any other family. Reads the bytes in place: nothing is allocated.
    var ipAddress: IPAddress? {
        withUnsafeBytes(of: storage) { raw -> IPAddress? in
            func word(_ offset: Int, _ count: Int) -> UInt64 {
                var value: UInt64 = 0
                for i in offset..<offset + count { value = value << 8 | UInt64(raw[i]) }
                return value
            }
            switch raw.load(as: sa_family_t.self) {
            case sa_family_t(AF_INET):
                return IPAddress(ipv4: UInt32(word(4, 4)))
            case sa_family_t(AF_INET6):
                // sin6_addr at offset 8: ::ffff:a.b.c.d is IPv4.
                let high = word(8, 8), low = word(16, 8)
                if high == 0, low >> 32 == 0xFFFF { return IPAddress(ipv4: UInt32(truncatingIfNeeded: low)) }
                return IPAddress(ipv6High: high, low: low)
            default:
                return nil
            }
        }
    }
}

extension Socket {
    /// The outcome of one accept: a connection, or "nothing pending".
    public enum Accepted { case connection(FileDescriptor), wouldBlock }

    /// C equivalent: `accept4(2)` with SOCK_CLOEXEC: a connection for a
    /// handler stays blocking, as every classic inetd handler expects; one
    /// that inetd serves itself is non-blocking.
    static func accept(_ listener: FileDescriptor, peer: inout PeerBuffer, nonBlocking: Bool = false) throws(SystemError) -> Accepted {
        let flags = CInt(SOCK_CLOEXEC.rawValue) | (nonBlocking ? CInt(SOCK_NONBLOCK.rawValue) : 0)
        peer.length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        do {
            let fd = try withUnsafeMutablePointer(to: &peer.storage) { (p) throws(SystemError) -> CInt in
                try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { (sa) throws(SystemError) -> CInt in
                    try syscall("accept4") { inetd_accept4(listener.rawValue, sa, &peer.length, flags) }
                }
            }
            return .connection(FileDescriptor(rawValue: fd))
        } catch where error.errno == EAGAIN || error.errno == EWOULDBLOCK {
            return .wouldBlock
        }
    }
}

extension Socket {
    /// Connections waiting in a TCP listener's accept queue. C equivalent:
    /// `getsockopt(IPPROTO_TCP, TCP_INFO)`: on a listening socket the kernel
    /// reports the queue's length in `tcpi_unacked`.
    static func acceptQueueLength(_ fd: FileDescriptor) throws(SystemError) -> Int {
        var info = tcp_info()
        var length = socklen_t(MemoryLayout<tcp_info>.size)
        _ = try syscall("getsockopt") { getsockopt(fd.rawValue, CInt(IPPROTO_TCP), TCP_INFO, &info, &length) }
        return Int(info.tcpi_unacked)
    }

    /// Whether a read or accept would find something now. C equivalent:
    /// `poll(2)` with a zero timeout.
    static func isReadable(_ fd: FileDescriptor) throws(SystemError) -> Bool {
        var entry = pollfd(fd: fd.rawValue, events: Int16(POLLIN), revents: 0)
        return try syscall("poll") { poll(&entry, 1, 0) } == 1 && entry.revents & Int16(POLLIN) != 0
    }

    /// Whether the socket was shut down for reading (by a handler holding
    /// it): a listener no longer listens, a datagram socket reads EOF, and
    /// either is readable for ever. A listening or bound socket in service
    /// never reports it. C equivalent: `poll(2)` for POLLRDHUP, zero timeout.
    static func isShutDown(_ fd: FileDescriptor) -> Bool {
        // POLLRDHUP is a GNU extension that Glibc's module leaves out; it
        // has EPOLLRDHUP's value.
        let readHangUp = Int16(EPOLLRDHUP.rawValue)
        var entry = pollfd(fd: fd.rawValue, events: readHangUp, revents: 0)
        guard (try? syscall("poll", { poll(&entry, 1, 0) })) == 1 else { return false }
        return entry.revents & (readHangUp | Int16(POLLHUP)) != 0
    }
}

extension PeerBuffer {
    /// The same address, byte for byte.
    func sameAddress(as other: PeerBuffer) -> Bool {
        guard length == other.length else { return false }
        var a = storage, b = other.storage
        return memcmp(&a, &b, Int(length)) == 0
    }
}

extension Socket {
    /// An int socket option. C equivalent: `getsockopt(2)`.
    static func option(_ fd: FileDescriptor, level: CInt, name: CInt) throws(SystemError) -> CInt {
        var value: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        _ = try syscall("getsockopt") { getsockopt(fd.rawValue, level, name, &value, &length) }
        return value
    }

    /// The socket's own address. C equivalent: `getsockname(2)`.
    static func localAddress(_ fd: FileDescriptor) throws(SystemError) -> SocketAddress {
        var local = PeerBuffer()
        try localAddress(fd, into: &local)
        return local.address()
    }

    /// Whether the socket has a peer: a connection, or a datagram socket
    /// connect(2)ed to one address. C equivalent: `getpeername(2)`, which
    /// fails with ENOTCONN when there is none.
    static func hasPeer(_ fd: FileDescriptor) -> Bool {
        var peer = PeerBuffer()
        return withUnsafeMutablePointer(to: &peer.storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                (try? syscall("getpeername") { getpeername(fd.rawValue, sa, &peer.length) }) != nil
            }
        }
    }
}
