/// One socket a service listens on. Two services may not share an endpoint;
/// on reload, an endpoint present before and after keeps its bound socket.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var socketType: SocketType
    public var kind: Transport.Kind
    public var address: EndpointAddress
    /// IPV6_V6ONLY for IPv6 sockets: true except for `tcp46`/`udp46`.
    public var ipv6Only: Bool

    public var description: String {
        let proto: String
        switch (kind, address.family) {
        case (.unix, _): proto = "unix"
        case (_, .inet): proto = kind.name + "4"
        case (_, _): proto = kind.name + (ipv6Only ? "6" : "46")
        }
        return "\(address)/\(proto)"
    }
}

/// The numeric identity a handler runs as, resolved in the parent at load.
public struct Identity: Equatable, Sendable {
    public var user: String
    public var uid: UserID
    public var gid: GroupID
    /// Supplementary groups: the user's own plus `gid` (initgroups' list).
    /// nil until looked up: the daemon looks them up once its sockets listen
    /// (`LoadedConfiguration.lookUpGroups`).
    public var groups: [GroupID]?
    /// The user's HOME and SHELL for the handler's environment.
    public var home: String = ""
    public var shell: String = ""
}

/// A resolved service: an entry with its endpoints and numeric ids.
///
/// A class: a service is made once per load and then shared by the table,
/// the running state and its listeners. As a struct (392 bytes) every one of
/// those places copied it, with a retain for each of its strings and arrays;
/// with 1001 services that was a third of the time to load.
public final class Service: Equatable {
    public let entry: ServiceEntry
    public internal(set) var endpoints: [Endpoint]
    /// nil: the handler keeps inetd's identity (`-`, or inetd is not root).
    public internal(set) var identity: Identity?
    /// Owner of a unix socket, when `owner=` is given.
    public let socketOwner: Owner?

    public struct Owner: Equatable, Sendable {
        public var uid: UserID
        public var gid: GroupID
    }

    public init(entry: ServiceEntry, endpoints: [Endpoint], identity: Identity?, socketOwner: Owner? = nil) {
        self.entry = entry
        self.endpoints = endpoints
        self.identity = identity
        self.socketOwner = socketOwner
    }

    public static func == (a: Service, b: Service) -> Bool {
        a === b || (a.entry == b.entry && a.endpoints == b.endpoints && a.identity == b.identity
                    && a.socketOwner == b.socketOwner)
    }

    /// How logs name the service: the service field and protocol as written.
    public var label: String {
        let written = entry.hosts.isEmpty || entry.hosts == ["*"]
            ? entry.service
            : "\(entry.hosts.map { $0.contains(":") ? "[\($0)]" : $0 }.joined(separator: ",")):\(entry.service)"
        return "\(written)/\(entry.transport.name)"
    }

    /// The LISTEN_FDNAMES name: `name=`, or the service field without address.
    public var fdName: String { entry.options.name ?? entry.service }
}
