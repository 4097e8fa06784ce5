/// Turns parsed entries into services: ports from /etc/services, host names
/// into addresses, users and groups into numeric ids. Duplicated endpoints and
/// identities inetd cannot take are errors on their line.
public struct ServiceResolver {
    public let file: String
    public let lookup: any NameLookup
    /// false: identities are left without supplementary groups, for
    /// `LoadedConfiguration.lookUpGroups` to fill in later.
    public let lookUpGroups: Bool
    /// What execve accepts: a line whose handler it would refuse is an error.
    public let execLimits: ExecLimits

    public init(file: String, lookup: any NameLookup, lookUpGroups: Bool = true, execLimits: ExecLimits = .unlimited) {
        self.file = file
        self.lookup = lookup
        self.lookUpGroups = lookUpGroups
        self.execLimits = execLimits
    }

    public func resolve(_ entries: [ServiceEntry]) -> (services: [Service], diagnostics: [Diagnostic]) {
        let found = entries.map { entry in
            Swift.Result { () throws(ConfigParser.Failure) -> Service in
                try service(for: entry, endpoints: try endpoints(for: entry))
            }
        }
        // OpenBSD and FreeBSD files pair every `tcp` line with a `tcp6` line
        // for the same service. Here `tcp` opens an IPv6 socket as well, so
        // its IPv6 wildcard yields to a line that asks for that one
        // explicitly, instead of making the stock files report duplicates.
        var explicitIPv6: Set<Claim> = []
        for (entry, result) in zip(entries, found) where entry.transport.families != .both {
            guard case .success(let service) = result else { continue }
            for endpoint in service.endpoints where endpoint.address.family == .inet6 {
                explicitIPv6.insert(Claim(endpoint))
            }
        }
        var services: [Service] = []
        services.reserveCapacity(entries.count)
        var diagnostics: [Diagnostic] = []
        var claimed: [Claim: Int] = [:]
        claimed.reserveCapacity(entries.count)
        var listening = ListeningPorts()
        for (entry, result) in zip(entries, found) {
            do throws(ConfigParser.Failure) {
                let service = try result.get()
                if entry.transport.families == .both, !explicitIPv6.isEmpty {
                    service.endpoints.removeAll {
                        $0.address.family == .inet6 && $0.address.isWildcard && explicitIPv6.contains(Claim($0))
                    }
                }
                for endpoint in service.endpoints {
                    if let line = claimed[Claim(endpoint)] { throw .init(text: "\(endpoint) is already claimed by line \(line)") }
                    if let ipv4 = Claim.impliedIPv4(of: endpoint), let line = claimed[ipv4] {
                        throw .init(text: "\(endpoint) takes IPv4 too, and \(ipv4.address) is already claimed by line \(line)")
                    }
                }
                if let (endpoint, clash) = listening.firstClash(service.endpoints, line: entry.line) {
                    throw .init(text: "\(endpoint) cannot listen beside \(clash.address) of line \(clash.line): "
                                + "on one TCP port, a wildcard and an address exclude each other")
                }
                for endpoint in service.endpoints { listening.add(endpoint, line: entry.line) }
                for endpoint in service.endpoints {
                    claimed[Claim(endpoint)] = entry.line
                    if let ipv4 = Claim.impliedIPv4(of: endpoint) { claimed[ipv4] = entry.line }
                }
                services.append(service)
            } catch {
                diagnostics.append(Diagnostic(file: file, line: entry.line, message: error.text))
            }
        }
        return (services, diagnostics)
    }

    func service(for entry: ServiceEntry, endpoints: [Endpoint]) throws(ConfigParser.Failure) -> Service {
        if let problem = execLimits.problem(entry, sockets: endpoints.count) { throw .init(text: problem) }
        var resolved = entry
        (resolved.user, resolved.group) = userAndGroup(entry)
        let identity = try identity(for: resolved)
        let socketOwner = try entry.options.ownerUser.map { user throws(ConfigParser.Failure) in
            try owner(user: user, group: entry.options.ownerGroup)
        }
        return Service(entry: resolved, endpoints: endpoints, identity: identity, socketOwner: socketOwner)
    }

    /// What two lines may not share. Neither IPV6_V6ONLY nor the socket type
    /// lets a second socket bind the same address, port and protocol (or
    /// path); a dual-stack wildcard holds the IPv4 wildcard as well.
    struct Claim: Hashable {
        var kind: Transport.Kind
        var address: EndpointAddress

        init(_ endpoint: Endpoint) {
            kind = endpoint.kind
            address = endpoint.address
        }

        init(kind: Transport.Kind, address: EndpointAddress) {
            self.kind = kind
            self.address = address
        }

        /// The IPv4 wildcard that a dual-stack IPv6 wildcard holds as well.
        static func impliedIPv4(of endpoint: Endpoint) -> Claim? {
            guard endpoint.address.family == .inet6, endpoint.address.isWildcard, !endpoint.ipv6Only else { return nil }
            return Claim(kind: endpoint.kind, address: .anyIPv4(port: endpoint.address.port))
        }
    }

    /// TCP listeners by family and port. Linux refuses to bind an address
    /// and the wildcard of its family on one port while either listens, even
    /// with SO_REUSEADDR (UDP allows it): such a pair would retry its bind
    /// every 60 s for ever, so it is an error on the second line.
    struct ListeningPorts {
        struct Key: Hashable {
            var ipv6: Bool
            var port: UInt16
        }
        var wildcards: [Key: (address: EndpointAddress, line: Int)] = [:]
        var addresses: [Key: (address: EndpointAddress, line: Int)] = [:]

        /// The first of one line's endpoints that cannot listen beside those
        /// recorded, or beside an earlier one of the same line, and what it
        /// clashes with. Records nothing: a refused line claims no port.
        func firstClash(_ endpoints: [Endpoint], line: Int) -> (Endpoint, (address: EndpointAddress, line: Int))? {
            for (index, endpoint) in endpoints.enumerated() {
                if let clash = clash(endpoint) { return (endpoint, clash) }
                var earlier = ListeningPorts()
                for other in endpoints[..<index] { earlier.add(other, line: line) }
                if let clash = earlier.clash(endpoint) { return (endpoint, clash) }
            }
            return nil
        }

        func clash(_ endpoint: Endpoint) -> (address: EndpointAddress, line: Int)? {
            guard endpoint.kind == .tcp else { return nil }
            let address = endpoint.address
            for key in keys(endpoint) {
                if let clash = address.isWildcard ? addresses[key] : wildcards[key] { return clash }
            }
            return nil
        }

        mutating func add(_ endpoint: Endpoint, line: Int) {
            guard endpoint.kind == .tcp else { return }
            let address = endpoint.address
            for key in keys(endpoint) {
                if address.isWildcard {
                    wildcards[key] = wildcards[key] ?? (address, line)
                } else {
                    addresses[key] = addresses[key] ?? (address, line)
                }
            }
        }

        /// The family and port, and for a dual-stack wildcard the IPv4 one too.
        private func keys(_ endpoint: Endpoint) -> [Key] {
            let address = endpoint.address
            let own = Key(ipv6: address.family == .inet6, port: address.port)
            guard address.isWildcard, address.family == .inet6, !endpoint.ipv6Only else { return [own] }
            return [own, Key(ipv6: false, port: address.port)]
        }
    }

    // MARK: - Endpoints

    /// `owner=` binds at `PATH.inetd-PID-N` before linking PATH
    /// (SocketBinder.bindTemporary): the longest such suffix, with pid_max's
    /// 7 digits and N up to 99.
    static let temporarySuffixBytes = ".inetd-4194304-99".utf8.count

    func endpoints(for entry: ServiceEntry) throws(ConfigParser.Failure) -> [Endpoint] {
        if entry.transport.kind == .unix {
            guard let address = EndpointAddress(unixPath: entry.service) else {
                throw .init(text: "unix socket path '\(entry.service)' is longer than 107 bytes")
            }
            let room = EndpointAddress.longestUnixPath - Self.temporarySuffixBytes
            if entry.options.ownerUser != nil, entry.service.utf8.count > room {
                throw .init(text: "unix socket path '\(entry.service)' is longer than \(room) bytes: with owner=, "
                            + "inetd binds PATH.inetd-PID-N first, and that name must fit in 107")
            }
            guard let path = UnixSocketPath(entry.service) else {
                throw .init(text: "unix socket path '\(entry.service)' must be absolute and end in a name, "
                            + "with no '.' or '..' component")
            }
            let steps = lookup.directories(along: path)
            if let problem = SocketDirectoryRule.problem(steps, inetdUID: lookup.effectiveUID)
                ?? SocketDirectoryRule.missing(steps, path: path) {
                throw .init(text: problem)
            }
            return [Endpoint(socketType: entry.socketType, kind: .unix, address: address, ipv6Only: false)]
        }
        let port = try self.port(entry)
        let families = entry.transport.families
        let wantV4 = families == .both || families == .ipv4Only
        let wantV6 = families != .ipv4Only
        var found: [Endpoint] = []
        func add(_ address: EndpointAddress) {
            let endpoint = Endpoint(socketType: entry.socketType, kind: entry.transport.kind, address: address,
                                    ipv6Only: families != .dualStack)
            if !found.contains(endpoint) { found.append(endpoint) }
        }
        for host in entry.hosts {
            if host == "*" {
                if wantV4 { add(.anyIPv4(port: port)) }
                if wantV6 { add(.anyIPv6(port: port)) }
            } else if let literal = EndpointAddress(literal: host, port: port) {
                switch literal.family {
                case .inet where !wantV4:
                    throw .init(text: "IPv4 address \(host) with protocol \(entry.transport.name), which is IPv6")
                case .inet6 where !wantV6:
                    throw .init(text: "IPv6 address \(host) with protocol \(entry.transport.name), which is IPv4")
                default: add(literal)
                }
            } else {
                var any = false
                for (want, family) in [(wantV4, IPAddress.Family.inet), (wantV6, .inet6)] where want {
                    for resolved in lookup.addresses(host: host, family: family) {
                        add(EndpointAddress(resolved, port: port))
                        any = true
                    }
                }
                if !any { throw .init(text: "host '\(host)' has no \(entry.transport.name) address") }
            }
        }
        if entry.options.listenFDs, entry.wait, found.count > Self.maxListenFDs {
            throw .init(text: "listen-fds hands a handler at most \(Self.maxListenFDs) sockets; "
                        + "this line has \(found.count): split it")
        }
        return found
    }

    /// fds 3 to 63: the spawn hands a child at most 64 descriptors
    /// (INETD_SPAWN_MAX_FDS in the C target, which Config cannot import).
    static let maxListenFDs = 61

    func port(_ entry: ServiceEntry) throws(ConfigParser.Failure) -> UInt16 {
        let service = entry.service
        if !service.isEmpty, service.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            guard let value = Int(service), (1...65535).contains(value) else {
                throw .init(text: "port \(service) is out of range (1-65535)")
            }
            return UInt16(value)
        }
        guard let port = lookup.port(service: service, proto: entry.transport.kind.name) else {
            throw .init(text: "unknown service '\(service)' for \(entry.transport.kind.name) (not in /etc/services)")
        }
        return port
    }

    // MARK: - Identity

    /// Splits `user.group`, the older separator, when no user has the
    /// dotted name; the service keeps the split so the listing shows it.
    func userAndGroup(_ entry: ServiceEntry) -> (String, String?) {
        let name = entry.user
        guard name != "-", entry.group == nil, lookup.user(named: name) == nil,
              let dot = name.firstIndex(of: ".") else { return (name, entry.group) }
        return (String(name[..<dot]), String(name[name.index(after: dot)...]))
    }

    func identity(for entry: ServiceEntry) throws(ConfigParser.Failure) -> Identity? {
        if entry.user == "-" { return nil }
        let userName = entry.user
        let groupName = entry.group
        guard let user = lookup.user(named: userName) else { throw .init(text: "unknown user '\(userName)'") }
        var gid = user.gid
        if let groupName {
            guard let found = lookup.group(named: groupName) else { throw .init(text: "unknown group '\(groupName)'") }
            gid = found
        }
        if lookup.effectiveUID != 0 {
            // Not root: the handler can only run as inetd already runs.
            guard user.uid == lookup.effectiveUID, gid == lookup.effectiveGID || groupName == nil else {
                throw .init(text: "cannot run as \(userName)\(groupName.map { ":" + $0 } ?? ""): inetd runs as uid \(lookup.effectiveUID), not root (use '-' or that user)")
            }
            return nil
        }
        return Identity(user: user.name, uid: user.uid, gid: gid,
                        groups: lookUpGroups ? lookup.groups(user: user.name, gid: gid) : nil,
                        home: user.home, shell: user.shell)
    }

    func owner(user: String, group: String?) throws(ConfigParser.Failure) -> Service.Owner {
        guard let record = lookup.user(named: user) else { throw .init(text: "unknown socket owner '\(user)'") }
        var gid = record.gid
        if let group {
            guard let found = lookup.group(named: group) else { throw .init(text: "unknown socket group '\(group)'") }
            gid = found
        }
        return Service.Owner(uid: record.uid, gid: gid)
    }
}
