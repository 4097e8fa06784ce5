import Glibc

/// The limits that judge each client (`allow=`/`deny=`, `per-ip=`,
/// `per-ip-rate=`), and the service's `rate=`. A source refused is closed
/// (or its datagram dropped) before anything is started, counted, and
/// logged once per episode. `max=` and `rate=` refuse nothing: they take
/// the socket out of the loop (`ListenerPhase.atCap`, `.overRate`) and
/// clients wait in the backlog.
extension Daemon {
    enum Admission {
        /// Served; `source` is counted as running until `releaseSource`.
        case admitted(source: SourceKey?)
        case refused
    }

    /// Judges an accepted connection by its peer. Nothing is looked at, and
    /// nothing allocated, for a line with no access rule or per-source limit.
    func admit(_ connection: FileDescriptor, peer: inout PeerBuffer, state: ServiceState, unix: Bool) -> Admission {
        let limits = state.limits
        guard limits.judgesSources else { return .admitted(source: nil) }
        let service = sourceService(of: state)
        let key: SourceKey
        if unix {
            // A unix peer has no address: its uid is the source (SPEC 2).
            guard let credentials = try? PeerCredentials.of(connection) else { return .admitted(source: nil) }
            key = SourceKey(service: service, uid: UInt32(truncatingIfNeeded: credentials.uid))
        } else {
            guard let address = peer.ipAddress else { return .admitted(source: nil) }
            if let access = limits.access, !access.admits(address) {
                state.counters.denied += 1
                logRefusal("access_denied", state, peer: &peer, limit: nil)
                return .refused
            }
            guard limits.countsSources else { return .admitted(source: nil) }
            key = SourceKey(service: service, address: address, v4: limits.prefixV4, v6: limits.prefixV6)
        }
        switch sources.admit(key, concurrent: limits.perSourceConcurrent, rate: limits.perSourceRate,
                             now: monotonicMicroseconds()) {
        case .admitted:
            scheduleSourceSweep()
            return .admitted(source: key)
        case .overConcurrency:
            state.counters.overPerSource += 1
            logRefusal("source_limited", state, peer: &peer, connection: connection, limit: ("per-ip", limits.perSourceConcurrent))
        case .overRate:
            state.counters.overPerSourceRate += 1
            logRefusal("source_limited", state, peer: &peer, connection: connection, limit: ("per-ip-rate", limits.perSourceRate))
        }
        return .refused
    }

    /// Whether a datagram from `source` may be served (`allow=`/`deny=` on
    /// a dgram line); a refused one is counted and logged.
    func admitDatagram(from source: inout PeerBuffer, state: ServiceState) -> Bool {
        guard let access = state.limits.access, let address = source.ipAddress, !access.admits(address) else {
            return true
        }
        state.counters.denied += 1
        logRefusal("access_denied", state, peer: &source, limit: nil)
        return false
    }

    /// An admitted client is gone: its handler exited or its built-in
    /// connection closed.
    func releaseSource(_ key: SourceKey?) {
        guard let key else { return }
        sources.release(key, now: monotonicMicroseconds())
    }

    func sourceService(of state: ServiceState) -> UInt32 {
        if let id = state.sourceService { return id }
        let id = sources.newService()
        state.sourceService = id
        return id
    }

    /// Once a minute while the table holds anything: entries whose buckets
    /// have filled up go, so that after a flood the table shrinks back.
    static let sourceSweepMilliseconds: Int64 = 60_000

    private func scheduleSourceSweep() {
        deadlines.scheduleIfUnset(.sourceSweep, at: monotonicMilliseconds() + Self.sourceSweepMilliseconds)
    }

    func sweepSources() {
        if sources.sweep(now: monotonicMicroseconds()) { releaseFreeHeap() }
        if sources.count > 0 { scheduleSourceSweep() }
    }

    private func logRefusal(_ event: String, _ state: ServiceState, peer: inout PeerBuffer, connection: FileDescriptor? = nil,
                            limit: (String, Int)?) {
        guard log.admit(.warn, event, service: state.label) else { return }
        var fields: [(String, String)] = [("service", state.label), ("peer", peerText(peer.address(), connection))]
        if let (name, value) = limit { fields += [("limit", name), ("value", "\(value)")] }
        fields.append(("action", "closed"))
        log.write(.warn, event, fields)
    }

    // MARK: - rate=

    /// A start of the service (a spawn, a built-in's connection or answered
    /// datagram) takes a token of its `rate=`. The last one takes its
    /// sockets out of the loop until the next token comes: the port stays
    /// bound and clients wait in the backlog (SPEC 5).
    func countStart(_ state: ServiceState) {
        let limit = state.limits.rate
        guard limit > 0 else { return }
        let now = monotonicMicroseconds()
        _ = state.startBucket.take(limit: limit, now: now)
        guard !state.startBucket.hasToken(limit: limit, now: now), state.rateResumeAt == nil else { return }
        let next = state.startBucket.nextToken(limit: limit, now: now)
        let resume = (next + 999) / 1000
        state.rateResumeAt = resume
        state.counters.overRate += 1
        deadlines.schedule(.rateWindow(ObjectIdentifier(state)), at: resume)
        if log.admit(.warn, "rate_limited", service: state.label) {
            log.warn("rate_limited", ("service", state.label), ("rate", "\(limit)/60s"),
                     ("resume_in_ms", "\(max(0, resume - monotonicMilliseconds()))"),
                     ("action", "clients wait in the backlog"))
        }
        listeners.forEachListener(of: state) { reconcile($0) }
    }

}
