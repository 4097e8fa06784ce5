/// Where an endpoint listens: an IP address and port, or a unix socket path.
/// A value with no sockaddr in it, so that Config needs no libc; System
/// builds the sockaddr when a socket is bound (`SocketAddress(_:)`).
public struct EndpointAddress: Hashable, Sendable, CustomStringConvertible {
    public enum Family: Sendable, Hashable { case inet, inet6, unix }

    private enum Place: Hashable, Sendable {
        case ip(IPAddress, port: UInt16)
        case unix(path: String)
    }
    private let place: Place

    /// sun_path holds 108 bytes with the NUL.
    public static let longestUnixPath = 107

    public init(_ ip: IPAddress, port: UInt16) {
        place = .ip(ip, port: port)
    }

    /// A unix socket path; nil when sun_path cannot hold it, so that every
    /// value can be bound as it is.
    public init?(unixPath path: String) {
        let count = path.utf8.count
        guard count > 0, count <= Self.longestUnixPath, !path.utf8.contains(0) else { return nil }
        place = .unix(path: path)
    }

    /// An IPv4 or IPv6 literal (no brackets), as `IPAddress(literal:)` reads it.
    public init?(literal: String, port: UInt16) {
        guard let ip = IPAddress(literal: literal) else { return nil }
        self.init(ip, port: port)
    }

    public static func anyIPv4(port: UInt16) -> EndpointAddress { EndpointAddress(.anyIPv4, port: port) }
    public static func anyIPv6(port: UInt16) -> EndpointAddress { EndpointAddress(.anyIPv6, port: port) }

    /// The IP address; nil for a unix socket.
    public var ip: IPAddress? {
        if case .ip(let ip, _) = place { return ip }
        return nil
    }

    /// The socket path; nil for an IP address.
    public var unixPath: String? {
        if case .unix(let path) = place { return path }
        return nil
    }

    public var family: Family {
        switch place {
        case .ip(let ip, _): return ip.family == .inet ? .inet : .inet6
        case .unix: return .unix
        }
    }

    /// The port, for IP addresses; 0 for unix sockets.
    public var port: UInt16 {
        if case .ip(_, let port) = place { return port }
        return 0
    }

    /// The host part as text: `127.0.0.1`, `::1`; the path for a unix socket.
    public var host: String {
        switch place {
        case .ip(let ip, _): return ip.description
        case .unix(let path): return path
        }
    }

    /// The raw address bytes (4 or 16) of an IP address; empty for unix.
    public var addressBytes: [UInt8] { ip?.bytes ?? [] }

    public var isWildcard: Bool { ip?.isUnspecified ?? false }

    /// `127.0.0.1:7007`, `[::1]:7007`, or the path.
    public var description: String {
        switch family {
        case .inet: return "\(host):\(port)"
        case .inet6: return "[\(host)]:\(port)"
        case .unix: return host
        }
    }
}
