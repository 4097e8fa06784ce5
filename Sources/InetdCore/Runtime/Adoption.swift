import Glibc

/// Why an inherited descriptor serves no endpoint: it is closed at the
/// first load, and logged (`inherited_unused`) with this reason.
public enum Unadopted: Error, Equatable, Sendable, CustomStringConvertible {
    case notASocket
    /// Not AF_INET, AF_INET6 or AF_UNIX.
    case family(CInt)
    /// Not a stream, datagram or (unix) seqpacket socket.
    case socketType(CInt)
    /// An IP socket of another protocol than TCP on stream and UDP on
    /// datagram sockets (SCTP, MPTCP, ...).
    case transport(CInt)
    /// A stream socket that is not listening: a connection, or one that
    /// listen(2) was never called on.
    case notListening
    /// A datagram socket connected to one peer.
    case connected
    /// Port 0, or a unix socket without a path (unnamed or abstract): no
    /// line can name it.
    case unnamed
    /// An IPv6 address with a scope (a link-local `%interface`): no line
    /// names one.
    case scoped
    /// No line of the configuration has its endpoint.
    case noService
    /// Another inherited socket, on a lower descriptor, has its endpoint.
    case duplicate(of: FileDescriptor)

    public var description: String {
        switch self {
        case .notASocket: return "not a socket"
        case .family(let domain): return "address family \(domain) (not inet, inet6 or unix)"
        case .socketType(let type): return "socket type \(type) (not stream, dgram or unix seqpacket)"
        case .transport(let number): return "protocol \(number) (not tcp on stream, udp on dgram)"
        case .notListening: return "a stream socket that is not listening"
        case .connected: return "a datagram socket connected to a peer"
        case .unnamed: return "no address a line could name"
        case .scoped: return "an IPv6 address with a scope"
        case .noService: return "no service listens there"
        case .duplicate(let fd): return "fd \(fd.rawValue) has the same endpoint and was adopted"
        }
    }
}

extension InheritedSocket {
    /// The endpoint this socket is, as a line of inetd.conf would give it,
    /// or why it is none. Pure.
    public var endpoint: Result<Endpoint, Unadopted> {
        guard let facts else { return .failure(.notASocket) }
        let socketType: SocketType
        switch facts.type {
        case CInt(SOCK_STREAM.rawValue): socketType = .stream
        case CInt(SOCK_DGRAM.rawValue): socketType = .dgram
        case CInt(SOCK_SEQPACKET.rawValue) where facts.domain == AF_UNIX: socketType = .seqpacket
        default: return .failure(.socketType(facts.type))
        }
        let kind: Transport.Kind
        switch (facts.domain, socketType) {
        case (AF_UNIX, _): kind = .unix
        case (AF_INET, .stream), (AF_INET6, .stream):
            guard facts.protocolNumber == CInt(IPPROTO_TCP) else { return .failure(.transport(facts.protocolNumber)) }
            kind = .tcp
        case (AF_INET, .dgram), (AF_INET6, .dgram):
            guard facts.protocolNumber == CInt(IPPROTO_UDP) else { return .failure(.transport(facts.protocolNumber)) }
            kind = .udp
        default: return .failure(.family(facts.domain))
        }
        if socketType == .dgram {
            guard !facts.connected else { return .failure(.connected) }
        } else {
            guard facts.listening else { return .failure(.notListening) }
        }
        let address: EndpointAddress
        if kind == .unix {
            guard let path = EndpointAddress(unixPath: facts.address.host) else { return .failure(.unnamed) }
            address = path
        } else {
            guard facts.address.port != 0, let ip = facts.address.ip else { return .failure(.unnamed) }
            guard facts.address.scopeID == 0 else { return .failure(.scoped) }
            address = EndpointAddress(ip, port: facts.address.port)
        }
        return .success(AdoptionPlan.key(Endpoint(socketType: socketType, kind: kind, address: address,
                                                  ipv6Only: facts.ipv6Only)))
    }

    /// The socket's address as the log shows it: its endpoint, or what the
    /// kernel says of it.
    var shownAddress: String {
        if case .success(let endpoint) = endpoint { return endpoint.description }
        guard let facts, [AF_INET, AF_INET6, AF_UNIX].contains(facts.domain) else { return "-" }
        let text = facts.address.description
        return text.isEmpty ? "-" : text
    }
}

/// Which inherited socket serves which endpoint of the first load: each
/// socket whose family, type, protocol, address and port (or path) and,
/// for IPv6, IPV6_V6ONLY are those of an endpoint (a `tcp` line's IPv6
/// socket is V6ONLY, a `tcp46` line's is not) serves it; the first one, by
/// descriptor, where two would. Every other is unused, with its reason.
/// Pure, so that the rule is tested without sockets.
public struct AdoptionPlan: Equatable, Sendable {
    public private(set) var adopted: [Endpoint: InheritedSocket] = [:]
    public private(set) var unused: [Unused] = []

    public struct Unused: Equatable, Sendable {
        public var socket: InheritedSocket
        public var reason: Unadopted
    }

    public init(inherited: [InheritedSocket], endpoints: [Endpoint]) {
        var wanted: [Endpoint: Endpoint] = [:]
        wanted.reserveCapacity(endpoints.count)
        for endpoint in endpoints { wanted[Self.key(endpoint)] = endpoint }
        for socket in inherited.sorted(by: { $0.fd.rawValue < $1.fd.rawValue }) {
            switch socket.endpoint {
            case .failure(let reason):
                unused.append(Unused(socket: socket, reason: reason))
            case .success(let key):
                guard let endpoint = wanted[key] else {
                    unused.append(Unused(socket: socket, reason: .noService))
                    continue
                }
                if let first = adopted[endpoint] {
                    unused.append(Unused(socket: socket, reason: .duplicate(of: first.fd)))
                } else {
                    adopted[endpoint] = socket
                }
            }
        }
    }

    /// An endpoint with what the kernel cannot tell of a socket left out:
    /// IPV6_V6ONLY means something for IPv6 sockets only, and the resolver
    /// sets it on a line's IPv4 endpoints too.
    static func key(_ endpoint: Endpoint) -> Endpoint {
        var key = endpoint
        key.ipv6Only = endpoint.address.family == .inet6 && endpoint.ipv6Only
        return key
    }
}

extension Daemon {
    /// The first load's use of the inherited sockets: those that match an
    /// endpoint of `next`, by endpoint, for `apply` to adopt instead of
    /// binding; the others are closed and logged now, before binding counts
    /// the descriptors left (and so that one on an address a line binds
    /// itself is out of its way). Every later load gets none.
    func takeInherited(for next: [Service]) -> [Endpoint: InheritedSocket] {
        guard !inherited.isEmpty else { return [:] }
        defer { inherited = [] }
        let plan = AdoptionPlan(inherited: inherited, endpoints: next.flatMap(\.endpoints))
        for unused in plan.unused {
            log.warn("inherited_unused", ("name", unused.socket.name), ("fd", "\(unused.socket.fd.rawValue)"),
                     ("address", unused.socket.shownAddress), ("reason", "\(unused.reason)"), ("action", "closed"))
            unused.socket.fd.close()
        }
        return plan.adopted
    }

    /// `listener` takes an inherited socket instead of binding one: it
    /// becomes an ordinary listener (a reload keeps it like any other),
    /// except that it is never shut down and its unix socket file is never
    /// touched (`Listener.inherited`). A socket that cannot be set up is
    /// closed and the endpoint bound as usual.
    func adopt(_ listener: Listener, _ socket: InheritedSocket) {
        // A socket a running handler holds (an upgrade) stays blocking: the
        // flag is the open file's, which the handler shares.
        let held = handedOver?.held.contains(socket.fd.rawValue) ?? false
        do {
            try SocketBinder.adopt(socket.fd, listener.endpoint, listener.state.service, heldByHandler: held)
        } catch {
            log.error("adopt_failed", ("service", listener.state.label), ("name", socket.name),
                      ("fd", "\(socket.fd.rawValue)"), ("error", "\(error)"), ("action", "closed, binding a socket of its own"))
            socket.fd.close()
            bind(listener, poll: false)
            return
        }
        listener.fd = socket.fd
        listener.inherited = true
        listener.held = held
        // An upgrade passes every socket back to the same process: its
        // `upgraded` line counts them, and one line each (a thousand with
        // a thousand services) is for -d. A supervisor's sockets are each
        // told.
        if handedOver == nil || log.verbose {
            log.write(handedOver == nil ? .info : .debug, "adopted",
                      [("service", listener.state.label), ("name", socket.name), ("fd", "\(socket.fd.rawValue)"),
                       ("address", listener.name)])
        }
        let options = listener.state.entry.options
        if listener.endpoint.kind == .unix, options.mode != nil || listener.state.service.socketOwner != nil {
            log.warn("socket_file_untouched", ("service", listener.state.label), ("path", listener.endpoint.address.host),
                     ("reason", "mode= and owner= apply to a socket file inetd binds, not to an adopted one"))
        }
    }

    /// Logs what was wrong with LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES.
    func reportInheritedProblems(_ problems: [ListenFdsVariables.Problem]) {
        for problem in problems { log.warn("listen_fds", ("problem", problem.description)) }
    }
}
