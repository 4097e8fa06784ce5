public import Glibc

/// A user from the password database.
public struct UserRecord: Equatable, Sendable {
    public var name: String
    public var uid: uid_t
    public var gid: gid_t
}

/// The name look-ups configuration needs. The daemon uses `SystemLookup`;
/// tests give the parser a table instead, so it stays pure.
public protocol NameLookup {
    /// A port from /etc/services for `name` over `proto` ("tcp" or "udp").
    func port(service name: String, proto: String) -> UInt16?
    /// The addresses of a host name, of the family asked (AF_INET or AF_INET6).
    func addresses(host: String, family: CInt) -> [SocketAddress]
    func user(named name: String) -> UserRecord?
    func group(named name: String) -> gid_t?
    /// initgroups(name, gid)'s list: the user's groups plus `gid`.
    func groups(user: String, gid: gid_t) -> [gid_t]
    /// The identity inetd runs as.
    var effectiveUID: uid_t { get }
    var effectiveGID: gid_t { get }
}

/// Look-ups through libc (NSS), done in the parent at load time: never after
/// a fork.
public struct SystemLookup: NameLookup {
    public init() {}

    public func port(service name: String, proto: String) -> UInt16? {
        guard let entry = getservbyname(name, proto) else { return nil }
        return UInt16(bigEndian: UInt16(truncatingIfNeeded: entry.pointee.s_port))
    }

    public func addresses(host: String, family: CInt) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_family = family
        hints.ai_socktype = CInt(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(first) }
        var found: [SocketAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let sa = entry.pointee.ai_addr {
                let address = SocketAddress(raw: UnsafeRawPointer(sa), length: entry.pointee.ai_addrlen)
                if !found.contains(address) { found.append(address) }
            }
            cursor = entry.pointee.ai_next
        }
        return found
    }

    public func user(named name: String) -> UserRecord? {
        var record = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getpwnam_r(name, &record, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return UserRecord(name: String(cString: record.pw_name), uid: record.pw_uid, gid: record.pw_gid)
    }

    public func group(named name: String) -> gid_t? {
        var record = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 65536)
        guard getgrnam_r(name, &record, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return record.gr_gid
    }

    public func groups(user: String, gid: gid_t) -> [gid_t] {
        var count: CInt = 64
        while true {
            var list = [gid_t](repeating: 0, count: Int(count))
            let before = count
            if getgrouplist(user, gid, &list, &count) >= 0 { return Array(list.prefix(Int(count))) }
            if count <= before { count = before * 2 }
        }
    }

    public var effectiveUID: uid_t { geteuid() }
    public var effectiveGID: gid_t { getegid() }
}

/// Remembers every answer for the length of one load: a file naming the same
/// user a thousand times asks NSS (which rereads /etc/passwd) once. A new
/// load makes a new cache, so changes to the databases are seen on reload.
public final class CachedLookup: NameLookup {
    private let base: any NameLookup
    private var ports: [String: UInt16?] = [:]
    private var users: [String: UserRecord?] = [:]
    private var groupIDs: [String: gid_t?] = [:]
    private struct Member: Hashable {
        var user: String
        var gid: gid_t
    }
    private var groupLists: [Member: [gid_t]] = [:]

    public let effectiveUID: uid_t
    public let effectiveGID: gid_t

    public init(_ base: any NameLookup) {
        self.base = base
        effectiveUID = base.effectiveUID
        effectiveGID = base.effectiveGID
    }

    public func port(service name: String, proto: String) -> UInt16? {
        let key = name + "/" + proto
        if let known = ports[key] { return known }
        let found = base.port(service: name, proto: proto)
        ports[key] = found
        return found
    }

    public func addresses(host: String, family: CInt) -> [SocketAddress] {
        base.addresses(host: host, family: family)
    }

    public func user(named name: String) -> UserRecord? {
        if let known = users[name] { return known }
        let found = base.user(named: name)
        users[name] = found
        return found
    }

    public func group(named name: String) -> gid_t? {
        if let known = groupIDs[name] { return known }
        let found = base.group(named: name)
        groupIDs[name] = found
        return found
    }

    public func groups(user: String, gid: gid_t) -> [gid_t] {
        let key = Member(user: user, gid: gid)
        if let known = groupLists[key] { return known }
        let found = base.groups(user: user, gid: gid)
        groupLists[key] = found
        return found
    }

}
