import Glibc
import _InetdSystem

/// What a reload does to the sockets: keep the bound socket of every endpoint
/// found before and after, close the ones gone, bind the new ones. Pure, so
/// that the decision is tested without sockets.
public struct ReloadPlan: Equatable {
    public var kept: [Endpoint] = []
    public var closed: [Endpoint] = []
    public var opened: [Endpoint] = []

    public init(current: [Endpoint], next: [Service]) {
        guard !current.isEmpty else {
            opened = next.flatMap(\.endpoints)
            return
        }
        let wanted = Set(next.flatMap(\.endpoints))
        for endpoint in current {
            if wanted.contains(endpoint) { kept.append(endpoint) } else { closed.append(endpoint) }
        }
        let existing = Set(current)
        for endpoint in next.flatMap(\.endpoints) where !existing.contains(endpoint) { opened.append(endpoint) }
    }
}

extension Daemon {
    /// SIGHUP. A file that cannot be read, or one with entries of which none
    /// is valid, leaves the running configuration untouched.
    func reload() {
        readiness.reloading()
        defer { readiness.reloaded() }
        // Reading the file and NSS need descriptors; a look-up failing with
        // EMFILE reads as an unknown user and would drop its service.
        if let room = descriptorsForBinding(), room < 0 {
            log.error("reload_failed", ("file", configPath), ("error", "fewer than \(Self.descriptorReserve) descriptors free"),
                      ("action", "running configuration kept"))
            return
        }
        let configuration: LoadedConfiguration
        do {
            configuration = try LoadedConfiguration.load(path: configPath, lookup: lookup, lookUpGroups: false)
        } catch {
            log.error("reload_failed", ("file", configPath), ("error", "\(error)"),
                      ("action", "running configuration kept"))
            return
        }
        report(configuration)
        if configuration.services.isEmpty && configuration.entryLines > 0 {
            log.error("reload_failed", ("file", configPath), ("error", "no valid line"),
                      ("action", "running configuration kept"))
            return
        }
        let plan = apply(configuration.services)
        log.info("reloaded", ("services", "\(services.count)"), ("kept", "\(plan.kept.count)"),
                 ("opened", "\(plan.opened.count)"), ("closed", "\(plan.closed.count)"),
                 ("errors", "\(configuration.errorCount)"))
    }

    /// Makes the running table match `next`: the first load and every reload.
    @discardableResult
    func apply(_ next: [Service]) -> ReloadPlan {
        let runnable = next.filter { service in
            guard let reason = LoadedConfiguration.unservedReason(service.entry) else { return true }
            log.error("service_skipped", ("service", service.label), ("reason", reason))
            return false
        }
        let plan = ReloadPlan(current: endpointOrder, next: runnable)
        for endpoint in plan.closed {
            if let listener = byEndpoint[endpoint] { close(listener) }
        }
        // A service with the same endpoints as before keeps its state: the
        // running handlers' count (its max= cap) and the totals carry on.
        var previous: [Endpoint: ServiceState] = [:]
        previous.reserveCapacity(services.count)
        for state in services {
            if let first = state.service.endpoints.first { previous[first] = state }
        }
        services = runnable.map { service in
            if let first = service.endpoints.first, let state = previous.removeValue(forKey: first),
               state.service.endpoints == service.endpoints || Set(state.service.endpoints) == Set(service.endpoints) {
                state.take(service)
                return state
            }
            return ServiceState(service: service, environment: environment)
        }
        bindRoom = descriptorsForBinding()
        builtinUDPPorts = Set(runnable.filter { $0.entry.socketType == .dgram && $0.entry.program.isBuiltin }
            .flatMap { $0.endpoints.map(\.address.port) })
        endpointOrder = []
        let endpointCount = runnable.reduce(0) { $0 + $1.endpoints.count }
        endpointOrder.reserveCapacity(endpointCount)
        byEndpoint.reserveCapacity(endpointCount)
        listeners.reserveCapacity(endpointCount + 1)
        for state in services {
            for endpoint in state.service.endpoints {
                endpointOrder.append(endpoint)
                if let listener = byEndpoint[endpoint] {
                    listener.state = state
                    reconfigure(listener)
                } else {
                    bind(makeListener(endpoint, state), poll: false)
                }
            }
        }
        // Every socket listens before any is polled: the kernel queues
        // connections from the first listen(2) on, so the last socket of a
        // long file takes connections one epoll_ctl pass earlier.
        for case let listener? in listeners { poll(listener) }
        if byEndpoint.count != endpointOrder.count { endpointOrder.removeAll { byEndpoint[$0] == nil } }
        // After listen(2): connections queue while NSS loads its modules.
        LoadedConfiguration.lookUpGroups(runnable, lookup: lookup)
        // Parsing a large file leaves freed heap behind; give it back.
        malloc_trim(0)
        return plan
    }

    func makeListener(_ endpoint: Endpoint, _ state: ServiceState) -> Listener {
        let slot = freeSlots.popLast() ?? listeners.count
        generation &+= 1
        let token = UInt64(generation) << 32 | UInt64(slot)
        let listener = Listener(endpoint: endpoint, state: state, token: token)
        if slot == listeners.count { listeners.append(listener) } else { listeners[slot] = listener }
        byEndpoint[endpoint] = listener
        return listener
    }

    /// Descriptors kept free for accept, spawn, the built-ins' connections
    /// and a reload's file and NSS look-ups: binding stops short of them
    /// (OpenBSD's inetd keeps a margin of 8 too).
    static let descriptorReserve = 8

    /// How many more sockets may be bound: the soft limit less the
    /// descriptors open now and the reserve (negative: the reserve is being
    /// used). nil when that cannot be told (no /proc).
    func descriptorsForBinding() -> Int? {
        guard let limit = descriptorLimit else { return nil }
        do {
            return limit.soft - (try openDescriptorCount()) - Self.descriptorReserve
        } catch where error.errno == EMFILE || error.errno == ENFILE {
            return -Self.descriptorReserve
        } catch {
            return nil
        }
    }

    func bind(_ listener: Listener, poll polling: Bool = true) {
        if let room = bindRoom, room <= 0 {
            // Left unbound, so that the bound services keep the headroom they
            // need to serve; retried with the others every 60 s.
            let text = "descriptor limit"
            if listener.lastBindError != text {
                log.error("bind_skipped", ("service", listener.state.label), ("address", listener.name),
                          ("reason", "fewer than \(Self.descriptorReserve) descriptors would remain"),
                          ("limit", "\(descriptorLimit?.soft ?? 0)"), ("retry_in_s", "\(Self.bindRetryMilliseconds / 1000)"))
            }
            listener.lastBindError = text
            if bindRetryAt == nil { bindRetryAt = monotonicMilliseconds() + Self.bindRetryMilliseconds }
            return
        }
        do {
            let bound = try SocketBinder.open(listener.endpoint, listener.state.service)
            if let room = bindRoom { bindRoom = room - 1 }
            listener.fd = bound.fd
            listener.socketFile = bound.file
            listener.lastBindError = nil
            if log.verbose { log.debug("listening", ("service", listener.state.label), ("address", listener.name)) }
            if polling { poll(listener) }
        } catch where SocketBinder.ipv6Unavailable(error) && listener.state.entry.transport.families == .both {
            log.warn("ipv6_unavailable", ("service", listener.state.label), ("error", "\(error)"))
            forget(listener)
        } catch {
            let text = "\(error)"
            if listener.lastBindError != text {
                log.error("bind_failed", ("service", listener.state.label), ("address", listener.name),
                          ("error", text), ("retry_in_s", "\(Self.bindRetryMilliseconds / 1000)"))
            }
            listener.lastBindError = text
            if bindRetryAt == nil { bindRetryAt = monotonicMilliseconds() + Self.bindRetryMilliseconds }
        }
    }

    /// A kept socket takes the new entry's socket options.
    func reconfigure(_ listener: Listener) {
        guard let fd = listener.fd else {
            bind(listener)
            return
        }
        let entry = listener.state.entry
        do throws(SystemError) {
            if let n = entry.sendBuffer { try Socket.setOption(fd, level: SOL_SOCKET, name: SO_SNDBUF, value: CInt(n)) }
            if let n = entry.receiveBuffer { try Socket.setOption(fd, level: SOL_SOCKET, name: SO_RCVBUF, value: CInt(n)) }
            if listener.endpoint.socketType != .dgram {
                try Socket.listen(fd, backlog: CInt(entry.options.backlog ?? Int(SOMAXCONN)))
            }
            if listener.endpoint.kind == .unix {
                let found = try SocketBinder.applyOwnership(listener.endpoint, listener.state.service, file: listener.socketFile)
                if found != .ours { warnNotOurs(listener, found) }
            }
        } catch {
            log.warn("reconfigure_failed", ("service", listener.state.label), ("error", "\(error)"))
        }
        if listener.holder == nil, listener.resumeAt == nil { poll(listener) }
    }

    /// Closes a listener for good (removed by a reload, or at stop). A
    /// handler holding the socket keeps its own copy.
    func close(_ listener: Listener) {
        unpoll(listener)
        if let fd = listener.fd {
            // A child cloned a moment ago may still hold a copy of every
            // descriptor until its exec closes them; if that copy outlived
            // ours, connections would queue on a removed service and be
            // reset. Shut down, the socket stops listening at once. Not a
            // socket a handler holds: that handler keeps it (SPEC 6).
            if listener.holder == nil, listener.endpoint.socketType != .dgram { try? Socket.shutdown(fd) }
            fd.close()
            listener.fd = nil
            if let file = listener.socketFile {
                // Only the socket file inetd bound is removed: a symlink,
                // a file or another program's socket now at the path stays.
                listener.socketFile = nil
                do {
                    let found = try file.remove(at: listener.endpoint.address.host)
                    if case .other = found { warnNotOurs(listener, found) }
                } catch {
                    log.warn("unlink_failed", ("service", listener.state.label), ("path", listener.endpoint.address.host),
                             ("error", "\(error)"))
                }
            }
            if log.verbose { log.debug("closed", ("service", listener.state.label), ("address", listener.name)) }
        }
        forget(listener)
    }

    /// The path of a unix listener no longer holds the socket file inetd
    /// bound there: logged, and whatever is there is left alone.
    func warnNotOurs(_ listener: Listener, _ found: UnixSocketFile.Found) {
        let what: String
        switch found {
        case .ours: return
        case .nothing: what = "nothing"
        case .other(let kind): what = kind
        }
        log.warn("unix_path_not_ours", ("service", listener.state.label), ("path", listener.endpoint.address.host),
                 ("found", what), ("action", "left alone"))
    }

    func forget(_ listener: Listener) {
        byEndpoint[listener.endpoint] = nil
        listeners[listener.slot] = nil
        freeSlots.append(listener.slot)
    }
}
