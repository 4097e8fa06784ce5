import Glibc
import _InetdSystem

/// Look-ups through libc (NSS), done in the parent at load time: never after
/// a fork.
public struct SystemLookup: NameLookup {
    public init() {}

    public func port(service name: String, proto: String) -> UInt16? {
        guard let entry = getservbyname(name, proto) else { return nil }
        return UInt16(bigEndian: UInt16(truncatingIfNeeded: entry.pointee.s_port))
    }

    public func addresses(host: String, family: IPAddress.Family) -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_family = family == .inet ? AF_INET : AF_INET6
        hints.ai_socktype = CInt(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(first) }
        var found: [IPAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let sa = entry.pointee.ai_addr,
               let address = SocketAddress(raw: UnsafeRawPointer(sa), length: entry.pointee.ai_addrlen).ip,
               !found.contains(address) {
                found.append(address)
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
        return UserRecord(name: String(cString: record.pw_name), uid: record.pw_uid, gid: record.pw_gid,
                          home: record.pw_dir.map { String(cString: $0) } ?? "",
                          shell: record.pw_shell.map { String(cString: $0) } ?? "")
    }

    public func group(named name: String) -> GroupID? {
        var record = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 65536)
        guard getgrnam_r(name, &record, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return record.gr_gid
    }

    public func groups(user: String, gid: GroupID) -> [GroupID] {
        var count: CInt = 64
        while true {
            var list = [gid_t](repeating: 0, count: Int(count))
            let before = count
            if getgrouplist(user, gid, &list, &count) >= 0 { return Array(list.prefix(Int(count))) }
            if count <= before { count = before * 2 }
        }
    }

    public var effectiveUID: UserID { geteuid() }
    public var effectiveGID: GroupID { getegid() }
}

extension SystemLookup {
    /// The walk a bind makes (`SocketDirectory.open`), its descriptor closed.
    public func directories(along path: UnixSocketPath) -> [DirectoryStep] { SocketDirectory.steps(along: path) }
}
