/// uid_t and gid_t without libc. UInt32 is what glibc defines them as on
/// Linux, so an id from here goes to a system call with no conversion (the
/// System code that does so fails to compile if that ever changes).
public typealias UserID = UInt32
public typealias GroupID = UInt32

/// A user from the password database.
public struct UserRecord: Equatable, Sendable {
    public var name: String
    public var uid: UserID
    public var gid: GroupID
    /// pw_dir and pw_shell: the handler's HOME and SHELL.
    public var home: String = ""
    public var shell: String = ""
}

/// The name look-ups configuration needs. The daemon uses `SystemLookup`;
/// tests give the resolver a table instead, so it stays pure.
public protocol NameLookup {
    /// A port from /etc/services for `name` over `proto` ("tcp" or "udp").
    func port(service name: String, proto: String) -> UInt16?
    /// The addresses of a host name, of the family asked.
    func addresses(host: String, family: IPAddress.Family) -> [IPAddress]
    func user(named name: String) -> UserRecord?
    func group(named name: String) -> GroupID?
    /// initgroups(name, gid)'s list: the user's groups plus `gid`.
    func groups(user: String, gid: GroupID) -> [GroupID]
    /// The directories of a unix socket's path from "/" down to its own,
    /// each as lstat finds it, without following a symlink; the list ends
    /// at the first that is missing (a `.missing` step), a symlink or not a
    /// directory, or, with no step for it, one that cannot be read
    /// (`SocketDirectoryRule` judges them).
    func directories(along path: UnixSocketPath) -> [DirectoryStep]
    /// The identity inetd runs as.
    var effectiveUID: UserID { get }
    var effectiveGID: GroupID { get }
}

/// Remembers every answer for the length of one load: a file naming the same
/// user a thousand times asks NSS (which rereads /etc/passwd) once. A new
/// load makes a new cache, so changes to the databases are seen on reload.
public final class CachedLookup: NameLookup {
    private let base: any NameLookup
    private var ports: [String: UInt16?] = [:]
    private var users: [String: UserRecord?] = [:]
    private var groupIDs: [String: GroupID?] = [:]
    private struct Member: Hashable {
        var user: String
        var gid: GroupID
    }
    private var groupLists: [Member: [GroupID]] = [:]
    private var directorySteps: [String: [DirectoryStep]] = [:]

    public let effectiveUID: UserID
    public let effectiveGID: GroupID

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

    public func addresses(host: String, family: IPAddress.Family) -> [IPAddress] {
        base.addresses(host: host, family: family)
    }

    public func user(named name: String) -> UserRecord? {
        if let known = users[name] { return known }
        let found = base.user(named: name)
        users[name] = found
        return found
    }

    public func group(named name: String) -> GroupID? {
        if let known = groupIDs[name] { return known }
        let found = base.group(named: name)
        groupIDs[name] = found
        return found
    }

    public func groups(user: String, gid: GroupID) -> [GroupID] {
        let key = Member(user: user, gid: gid)
        if let known = groupLists[key] { return known }
        let found = base.groups(user: user, gid: gid)
        groupLists[key] = found
        return found
    }

    /// By directory: the sockets of a file often share one.
    public func directories(along path: UnixSocketPath) -> [DirectoryStep] {
        let key = path.directory
        if let known = directorySteps[key] { return known }
        let found = base.directories(along: path)
        directorySteps[key] = found
        return found
    }
}
