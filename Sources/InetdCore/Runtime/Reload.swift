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
    /// SIGHUP. A file that cannot be read, or one that is not blank but
    /// has no valid line (comments only, every line an error), leaves the
    /// running configuration untouched (SPEC 6): a file cut down by mistake
    /// must not close every socket. A blank file closes them all.
    func reload() {
        readiness.reloading()
        defer { readiness.reloaded(status: statusForReady()) }
        // Reading the file and NSS need descriptors; a look-up failing with
        // EMFILE reads as an unknown user and would drop its service.
        if let room = descriptors.available(), room < 0 {
            log.error("reload_failed", ("file", configPath), ("error", "fewer than \(DescriptorBudget.reserve) descriptors free"),
                      ("action", "running configuration kept"))
            return
        }
        // A scope of its own: the file's services and the plan are released
        // at its end, before the heap they took is given back.
        do {
            let configuration: LoadedConfiguration
            do {
                configuration = try LoadedConfiguration.load(path: configPath, lookup: lookup, lookUpGroups: false,
                                                             execLimits: .current(environmentBytes: environments.inheritedBytes))
            } catch {
                log.error("reload_failed", ("file", configPath), ("error", "\(error)"),
                          ("action", "running configuration kept"))
                return
            }
            let repeated = report(configuration)
            if configuration.services.isEmpty && !configuration.blank {
                log.error("reload_failed", ("file", configPath), ("error", "no valid line"),
                          ("action", "running configuration kept"))
                return
            }
            let before = Dictionary(uniqueKeysWithValues: services.map { (ObjectIdentifier($0), ($0.entry, $0.label)) })
            let plan = apply(configuration.services)
            retireStderrChannels()
            reportChanges(from: before)
            log.info("reloaded", ("services", "\(services.count)"), ("kept", "\(plan.kept.count)"),
                     ("opened", "\(plan.opened.count)"), ("closed", "\(plan.closed.count)"),
                     ("errors", "\(configuration.errorCount)"), ("warnings_told_before", "\(repeated)"),
                     ("pid", "\(CurrentProcess.id)"), ("version", Invocation.release))
        }
        releaseFreeHeap()
    }

    /// One line per service a reload opened, closed, or kept with another
    /// line (SPEC 6): what it did, by service, at info level.
    private func reportChanges(from before: [ObjectIdentifier: (entry: ServiceEntry, label: String)]) {
        var kept = Set<ObjectIdentifier>()
        for state in services {
            let id = ObjectIdentifier(state)
            guard let old = before[id] else {
                log.info("service_opened", ("service", state.label), ("program", state.programName))
                continue
            }
            kept.insert(id)
            let changed = Self.changes(from: old.entry, to: state.entry)
            if !changed.isEmpty { log.info("service_changed", ("service", state.label), ("changed", changed.joined(separator: ","))) }
        }
        for (id, old) in before where !kept.contains(id) { log.info("service_closed", ("service", old.label)) }
    }

    /// What differs between two lines of one service, by field; its place
    /// in the file does not count.
    static func changes(from old: ServiceEntry, to new: ServiceEntry) -> [String] {
        var changed: [String] = []
        if old.program != new.program { changed.append("program") }
        if old.arguments != new.arguments { changed.append("arguments") }
        if old.user != new.user || old.group != new.group { changed.append("user") }
        if old.wait != new.wait { changed.append("wait") }
        if old.limits != new.limits { changed.append("limits") }
        if old.options != new.options { changed.append("options") }
        if old.sendBuffer != new.sendBuffer || old.receiveBuffer != new.receiveBuffer { changed.append("buffers") }
        return changed
    }

    /// Makes the running table match `next`: the first load and every reload.
    @discardableResult
    func apply(_ next: [Service]) -> ReloadPlan {
        let plan = ReloadPlan(current: listeners.orderedEndpoints, next: next)
        for endpoint in plan.closed {
            if let listener = listeners[endpoint] { close(listener) }
        }
        environments.startLoad()
        services = pairStates(next)
        environments.endLoad()
        // The first load only: the inherited sockets it does not adopt are
        // closed before binding counts the descriptors left.
        var adoptable = takeInherited(for: next)
        descriptors.startBinding()
        datagrams.ports = Set(next.filter { $0.entry.socketType == .dgram && $0.entry.program.isBuiltin }
            .flatMap { $0.endpoints.map(\.address.port) })
        let endpointCount = next.reduce(0) { $0 + $1.endpoints.count }
        var order: [Listener] = []
        order.reserveCapacity(endpointCount)
        listeners.reserveCapacity(endpointCount + 1)
        for state in services {
            for endpoint in state.service.endpoints {
                if let listener = listeners[endpoint] {
                    order.append(listener)
                    listener.state = state
                    reconfigure(listener)
                } else {
                    let listener = listeners.make(endpoint, state)
                    order.append(listener)
                    if let socket = adoptable.removeValue(forKey: endpoint) {
                        adopt(listener, socket)
                    } else {
                        bind(listener, poll: false)
                    }
                }
            }
        }
        reportSkippedBinds()
        // Every socket listens before any is polled: the kernel queues
        // connections from the first listen(2) on, so the last socket of a
        // long file takes connections one epoll_ctl pass earlier.
        for listener in listeners.all { reconcile(listener) }
        listeners.setOrder(order)
        // After listen(2): connections queue while NSS loads its modules.
        LoadedConfiguration.lookUpGroups(next, lookup: lookup)
        // The caller gives the heap that parsing freed back (`releaseFreeHeap`)
        // once the file's services and this plan are released too.
        return plan
    }

    /// A service with the same endpoints as before keeps its state: the
    /// running handlers' count (its max= cap), the crash-loop state and the
    /// totals carry on.
    private func pairStates(_ runnable: [Service]) -> [ServiceState] {
        var previous: [Endpoint: ServiceState] = [:]
        previous.reserveCapacity(services.count)
        for state in services {
            if let first = state.service.endpoints.first { previous[first] = state }
        }
        return runnable.map { service in
            if let first = service.endpoints.first, let state = previous.removeValue(forKey: first),
               state.service.endpoints == service.endpoints || Set(state.service.endpoints) == Set(service.endpoints) {
                state.take(service, environment: environments.environment(for: service))
                return state
            }
            return ServiceState(service: service, environment: environments.environment(for: service))
        }
    }
}
