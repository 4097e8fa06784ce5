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
        services = runnable.map { ServiceState(service: $0, environment: environment) }
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

    func bind(_ listener: Listener, poll polling: Bool = true) {
        do {
            listener.fd = try SocketBinder.open(listener.endpoint, listener.state.service)
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
            if listener.endpoint.kind == .unix { try SocketBinder.applyOwnership(listener.endpoint, listener.state.service) }
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
            if listener.endpoint.kind == .unix { _ = unlink(listener.endpoint.address.host) }
            if log.verbose { log.debug("closed", ("service", listener.state.label), ("address", listener.name)) }
        }
        forget(listener)
    }

    func forget(_ listener: Listener) {
        byEndpoint[listener.endpoint] = nil
        listeners[listener.slot] = nil
        freeSlots.append(listener.slot)
    }
}
