import Glibc
import _InetdSystem

/// An IPv4, IPv6 or Unix-domain socket address, stored as the kernel takes it.
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    public enum Family: Sendable, Hashable { case inet, inet6, unix }

    /// An IP address as `struct sockaddr_in` or `sockaddr_in6`, stored inline
    /// in the larger of the two: making, copying or hashing one is cheap and
    /// allocates nothing. `length` is the valid prefix.
    private var storage = sockaddr_in6()
    private(set) var length: socklen_t = 0
    /// A Unix-domain address keeps its path; its `sockaddr_un` is built on
    /// the stack when a system call needs it.
    private var path: String?

    public static func == (a: SocketAddress, b: SocketAddress) -> Bool {
        if a.path != nil || b.path != nil { return a.path == b.path }
        return a.length == b.length && a.withBytes { x in b.withBytes { y in memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 } }
    }

    public func hash(into hasher: inout Hasher) {
        if let path {
            hasher.combine(path)
        } else {
            withBytes { hasher.combine(bytes: $0) }
        }
    }

    /// The valid `sockaddr` bytes.
    private func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        guard let path else {
            return withUnsafeBytes(of: storage) { body(UnsafeRawBufferPointer(rebasing: $0.prefix(Int(length)))) }
        }
        var sun = sockaddr_un()
        sun.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &sun.sun_path) { $0.copyBytes(from: bytes.prefix($0.count - 1)) }
        let count = MemoryLayout<sa_family_t>.size + min(bytes.count, MemoryLayout.size(ofValue: sun.sun_path) - 1) + 1
        return withUnsafeBytes(of: &sun) { body(UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
    }

    private init(copying raw: UnsafeRawBufferPointer) {
        guard raw.count >= MemoryLayout<sa_family_t>.size else { return }
        if raw.load(as: sa_family_t.self) == sa_family_t(AF_UNIX) {
            path = String(decoding: raw.dropFirst(MemoryLayout<sa_family_t>.size).prefix { $0 != 0 }, as: UTF8.self)
            length = socklen_t(raw.count)
            return
        }
        let count = min(raw.count, MemoryLayout<sockaddr_in6>.size)
        withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw.prefix(count))) }
        length = socklen_t(count)
    }

    public var family: Family {
        if path != nil { return .unix }
        return storage.sin6_family == sa_family_t(AF_INET) ? .inet : .inet6
    }

    public var domain: CInt {
        switch family {
        case .inet: return AF_INET
        case .inet6: return AF_INET6
        case .unix: return AF_UNIX
        }
    }

    /// Builds an address from raw `sockaddr` bytes as accept(2) or
    /// getsockname(2) filled them in.
    init(raw: UnsafeRawPointer, length: socklen_t) {
        self.init(copying: UnsafeRawBufferPointer(start: raw, count: Int(length)))
    }

    public init(ipv4 bytes: (UInt8, UInt8, UInt8, UInt8), port: UInt16) {
        var address = in_addr()
        withUnsafeMutableBytes(of: &address) { dst in withUnsafeBytes(of: bytes) { dst.copyMemory(from: $0) } }
        self.init(ipv4: address, port: port)
    }

    public init(ipv6 bytes: [UInt8], port: UInt16, scope: UInt32 = 0) {
        precondition(bytes.count == 16)
        var address = in6_addr()
        withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
        self.init(ipv6: address, port: port, scope: scope)
    }

    init(ipv6 address: in6_addr, port: UInt16, scope: UInt32 = 0) {
        storage.sin6_family = sa_family_t(AF_INET6)
        storage.sin6_port = port.bigEndian
        storage.sin6_addr = address
        storage.sin6_scope_id = scope
        length = socklen_t(MemoryLayout<sockaddr_in6>.size)
    }

    init(ipv4 address: in_addr, port: UInt16) {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        sin.sin_addr = address
        withUnsafeMutableBytes(of: &storage) { dst in withUnsafeBytes(of: sin) { dst.copyMemory(from: $0) } }
        length = socklen_t(MemoryLayout<sockaddr_in>.size)
    }

    /// A Unix-domain address; nil when the path does not fit sun_path.
    public init?(unixPath path: String) {
        let count = path.utf8.count
        guard count > 0, count < MemoryLayout.size(ofValue: sockaddr_un().sun_path), !path.utf8.contains(0) else { return nil }
        self.path = path
        length = socklen_t(MemoryLayout<sa_family_t>.size + count + 1)
    }

    /// Parses an IPv4 or IPv6 literal (no brackets); nil if it is neither.
    /// Config's parser reads it, so a literal means the same everywhere.
    public init?(literal: String, port: UInt16) {
        guard let address = EndpointAddress(literal: literal, port: port) else { return nil }
        self.init(address)
    }

    /// Whether `text` is an IPv4 or IPv6 literal, without building an address.
    public static func isLiteral(_ text: String) -> Bool { IPAddress(literal: text) != nil }

    public static func anyIPv4(port: UInt16) -> SocketAddress { SocketAddress(ipv4: in_addr(), port: port) }
    public static func anyIPv6(port: UInt16) -> SocketAddress { SocketAddress(ipv6: in6_addr(), port: port) }

    /// The port, for IP addresses; 0 for Unix-domain ones.
    public var port: UInt16 {
        switch family {
        case .inet, .inet6: return withBytes { UInt16(bigEndian: $0.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) }
        case .unix: return 0
        }
    }

    /// The host part as text: `127.0.0.1`, `::1`; the path for Unix-domain.
    public var host: String {
        switch family {
        case .inet: return ntop(AF_INET, offset: 4)
        case .inet6: return ntop(AF_INET6, offset: 8)
        case .unix:
            return path ?? ""
        }
    }

    /// The raw address bytes (4 or 16) of an IP address; empty for Unix.
    public var addressBytes: [UInt8] {
        switch family {
        case .inet: return withBytes { Array($0[4..<8]) }
        case .inet6: return withBytes { Array($0[8..<24]) }
        case .unix: return []
        }
    }

    /// An IPv6 address's scope (the interface of a link-local address); 0
    /// for none and for other families.
    public var scopeID: UInt32 { family == .inet6 && length >= socklen_t(MemoryLayout<sockaddr_in6>.size) ? storage.sin6_scope_id : 0 }

    public var isWildcard: Bool {
        switch family {
        case .inet: return withBytes { $0[4..<8].allSatisfy { $0 == 0 } }
        case .inet6: return withBytes { $0[8..<24].allSatisfy { $0 == 0 } }
        case .unix: return false
        }
    }

    /// `127.0.0.1:7007`, `[::1]:7007`, or the path.
    public var description: String {
        switch family {
        case .inet: return "\(host):\(port)"
        case .inet6: return "[\(host)]:\(port)"
        case .unix: return host
        }
    }

    private func ntop(_ af: CInt, offset: Int) -> String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        withBytes { raw in
            _ = inet_ntop(af, raw.baseAddress! + offset, &text, socklen_t(text.count))
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Calls `body` with the raw `sockaddr` bytes.
    public func withSockaddrBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R { withBytes(body) }

    /// Calls `body` with a `sockaddr` pointer and length for a system call.
    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws(SystemError) -> R) throws(SystemError) -> R {
        let result = withBytes { raw in
            Result { () throws(SystemError) -> R in
                try body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
            }
        }
        return try result.get()
    }
}

// MARK: - Config's addresses

extension SocketAddress {
    /// The sockaddr for an endpoint of the configuration.
    public init(_ address: EndpointAddress) {
        if let ip = address.ip {
            self.init(ip, port: address.port)
        } else {
            // EndpointAddress only holds paths that fit sun_path.
            self.init(unixPath: address.unixPath ?? "")!
        }
    }

    init(_ ip: IPAddress, port: UInt16) {
        switch ip.family {
        case .inet:
            self.init(ipv4: in_addr(s_addr: ip.ipv4Value.bigEndian), port: port)
        case .inet6:
            var address = in6_addr()
            withUnsafeMutableBytes(of: &address) { raw in
                raw.storeBytes(of: ip.high.bigEndian, toByteOffset: 0, as: UInt64.self)
                raw.storeBytes(of: ip.low.bigEndian, toByteOffset: 8, as: UInt64.self)
            }
            self.init(ipv6: address, port: port)
        }
    }

    /// The IP address without the port; nil for a unix socket.
    var ip: IPAddress? { IPAddress(bytes: addressBytes) }
}

extension EndpointAddress {
    /// The address family for socket(2): AF_INET, AF_INET6 or AF_UNIX.
    public var domain: CInt {
        switch family {
        case .inet: return AF_INET
        case .inet6: return AF_INET6
        case .unix: return AF_UNIX
        }
    }

    /// Calls `body` with the raw `sockaddr` bytes.
    public func withSockaddrBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        SocketAddress(self).withSockaddrBytes(body)
    }
}
