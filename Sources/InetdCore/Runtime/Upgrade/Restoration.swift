import Glibc

/// What the image before this one handed over (SIGUSR2), from claiming it
/// before the first load until that load has restored it.
struct HandedOver {
    var state: UpgradeState
    /// The sockets running handlers hold (raw descriptors): adopted as
    /// held, left blocking, never polled until their holder exits.
    var held: Set<CInt>
    /// The connections the loop served and the ends of the services'
    /// stderr pairs: the descriptors that are no sockets to adopt.
    var descriptors: [CInt: FileDescriptor]
}

extension Daemon {
    /// A LISTEN_FDS place as a descriptor.
    static func descriptor(atPlace place: UInt32) -> CInt { ListenFdsVariables.firstDescriptor + CInt(place) }

    /// Before the first load: the upgrade state among the inherited
    /// descriptors, read, checked and closed, and the connections it names
    /// taken out of `inherited` (they are no listeners to adopt). nil when
    /// inetd was not started by an upgrade; a state that cannot be used is
    /// logged, and this image starts as a new one on the sockets it got.
    func claimHandOver() -> HandedOver? {
        guard let index = inherited.firstIndex(where: { $0.name == UpgradeState.fdName && $0.facts == nil }) else {
            return nil
        }
        let fd = inherited.remove(at: index).fd
        defer { fd.close() }
        let state: UpgradeState
        do {
            guard let bytes = try SealedState.read(fd) else {
                log.error("upgrade_state_unusable", ("error", "not a sealed memfd"), ("action", "starting afresh"))
                return nil
            }
            state = try UpgradeState(decoding: bytes, places: inheritedPlaces)
        } catch {
            log.error("upgrade_state_unusable", ("error", "\(error)"), ("action", "starting afresh"))
            return nil
        }
        let wanted = Set(state.connections.map { Self.descriptor(atPlace: $0.place) }
                         + state.services.flatMap { $0.stderr.map(Self.descriptor(atPlace:)) })
        var descriptors: [CInt: FileDescriptor] = [:]
        inherited.removeAll { socket in
            guard wanted.contains(socket.fd.rawValue) else { return false }
            descriptors[socket.fd.rawValue] = socket.fd
            return true
        }
        let held = Set(state.children.flatMap { $0.held.map(Self.descriptor(atPlace:)) })
        return HandedOver(state: state, held: held, descriptors: descriptors)
    }

    /// After the first load adopted the sockets: each service's counters
    /// and limit state, the running handlers (still this process's
    /// children) with the sockets they hold, and the connections the loop
    /// served. Then one `upgraded` line, and a reap for the handlers that
    /// exited while no image ran.
    func restore(_ handedOver: HandedOver) {
        let state = handedOver.state
        upgradeStartedAt = state.startedAt
        upgradesSoFar = state.upgrades
        var byEndpoints: [[String]: ServiceState] = [:]
        for service in services { byEndpoints[service.service.upgradeKeys] = service }
        let restored: [ServiceState?] = state.services.map { record in
            let ends = record.stderr.compactMap { handedOver.descriptors[Self.descriptor(atPlace: $0)] }
            guard let service = byEndpoints[record.endpoints] else {
                for end in ends { end.close() }
                return nil
            }
            Self.restore(record, into: service)
            if ends.count == 2, service.stderrMode == .log {
                _ = openStderrChannel(service, handedOver: StderrSocketPair(receiving: ends[0], sending: ends[1]))
            } else {
                for end in ends { end.close() }
            }
            return service
        }
        var byDescriptor: [CInt: Listener] = [:]
        for listener in listeners.all { if let fd = listener.fd { byDescriptor[fd.rawValue] = listener } }
        let adopted = listeners.adoptedCount
        // The previous image's own IP sockets are this one's: shut down
        // when a reload removes them. A unix socket's file stays as an
        // adopted one's (never unlinked nor chmod'ed): the file inetd made
        // is not verified anew here (docs/upgrades.md).
        for place in state.owned {
            guard let listener = byDescriptor[Self.descriptor(atPlace: place)], listener.endpoint.kind != .unix else { continue }
            listener.inherited = false
        }
        let now = monotonicMilliseconds()
        var handlers = 0
        var takenOver: [ObjectIdentifier: (handlers: Int, connections: Int)] = [:]
        var stillHeld = Set<ObjectIdentifier>()
        for record in state.children {
            // A handler of a service gone by a reload before the upgrade is
            // reaped as any unknown child: nothing waits on it. A pid that
            // is not this process's child is never entered: a stop would
            // signal its process group.
            guard let index = record.service, let owner = restored[Int(index)],
                  ChildProcess.isChild(record.pid) else { continue }
            let sockets = record.held.compactMap { byDescriptor[Self.descriptor(atPlace: $0)] }
            for socket in sockets { stillHeld.insert(ObjectIdentifier(socket)) }
            let source = record.source.flatMap { restoreSource($0, of: owner, now: now) }
            children.add(record.pid, Child(state: owner, wait: record.wait, sockets: sockets, started: record.started,
                                           peer: nil, source: source))
            if !record.wait, sockets.isEmpty { startTimeout(record.pid, owner, now: record.started) }
            handlers += 1
            takenOver[ObjectIdentifier(owner), default: (0, 0)].handlers += 1
        }
        // A socket adopted as held whose holder is not tracked comes back
        // into the loop.
        for listener in listeners.all where listener.held && !stillHeld.contains(ObjectIdentifier(listener)) {
            listener.held = false
            try? listener.fd?.setNonBlocking(true)
        }
        var served = 0
        for record in state.connections {
            guard let fd = handedOver.descriptors[Self.descriptor(atPlace: record.place)] else { continue }
            guard let index = record.service, let owner = restored[Int(index)], restoreConnection(record, fd, owner, byDescriptor, now: now) else {
                fd.close()
                continue
            }
            served += 1
            takenOver[ObjectIdentifier(owner), default: (0, 0)].connections += 1
        }
        for service in services {
            guard let taken = takenOver[ObjectIdentifier(service)] else { continue }
            log.info("taken_over", ("service", service.label), ("handlers", "\(taken.handlers)"),
                     ("connections", "\(taken.connections)"))
        }
        for listener in listeners.all { reconcile(listener) }
        let gap = monotonicMicroseconds() - state.handedOverAt
        log.info("upgraded", ("upgrades", "\(state.upgrades)"), ("gap_us", "\(gap)"),
                 ("sockets", "\(adopted)"), ("handlers", "\(handlers)"), ("connections", "\(served)"))
        reap()
    }

    private static func restore(_ record: UpgradeState.ServiceRecord, into service: ServiceState) {
        service.accepted = Int(record.accepted)
        service.spawned = Int(record.spawned)
        service.execFailures = Int(record.execFailures)
        service.counters = LimitCounters(atCap: Int(record.atCap), overRate: Int(record.overRate), denied: Int(record.denied),
                                         overPerSource: Int(record.overPerSource),
                                         overPerSourceRate: Int(record.overPerSourceRate),
                                         proxyRefused: Int(record.proxyRefused))
        service.startBucket = TokenBucket(fullAt: record.bucketFullAt)
        service.quickFailures = Int(record.quickFailures)
        service.backoffMilliseconds = record.backoffMilliseconds
        service.resumeAt = record.resumeAt
        service.rateResumeAt = record.rateResumeAt
    }

    /// A running handler's or connection's source counts again in the
    /// per-source table, under the service's number in this image.
    private func restoreSource(_ record: UpgradeState.SourceRecord, of service: ServiceState, now: Int64) -> SourceKey? {
        guard let kind = SourceKey.Kind(rawValue: record.kind) else { return nil }
        let key = SourceKey(service: sourceService(of: service), kind: kind, high: record.high, low: record.low)
        _ = sources.admit(key, concurrent: 0, rate: 0, now: now)
        return key
    }

    private func restoreConnection(_ record: UpgradeState.ConnectionRecord, _ fd: FileDescriptor, _ owner: ServiceState,
                                   _ byDescriptor: [CInt: Listener], now: Int64) -> Bool {
        let token = connections.reserve()
        let connection: LoopConnection
        switch record.kind {
        case .echo, .discard, .chargen:
            let kind: BuiltinKind = record.kind == .echo ? .echo : record.kind == .discard ? .discard : .chargen
            let builtin = BuiltinConnection(fd: fd, kind: kind, state: owner, token: token, now: record.lastActivity)
            let pending = min(record.pending.count, BuiltinConnection.bufferSize)
            record.pending.prefix(pending).withUnsafeBytes { builtin.buffer.copyMemory(from: $0) }
            builtin.pending = pending
            builtin.chargenOffset = Int(record.chargenOffset)
            builtin.inputClosed = record.inputClosed
            builtin.source = record.source.flatMap { restoreSource($0, of: owner, now: now) }
            builtin.interest = builtin.wantedEvents
            connection = builtin
        case .pendingHeader:
            var balancer = PeerBuffer()
            guard let place = record.listener, let listener = byDescriptor[Self.descriptor(atPlace: place)],
                  (try? Socket.peerAddress(fd, into: &balancer)) != nil else {
                connections.release(token)
                return false
            }
            connection = PendingHeader(fd: fd, listener: listener, token: token, balancer: balancer,
                                       now: record.lastActivity, deadline: record.deadline ?? now)
        }
        do {
            try enterLoop(connection, now: now)
        } catch {
            connections.release(token)
            return false
        }
        if let pending = connection as? PendingHeader { readHeader(pending) }
        return true
    }
}
