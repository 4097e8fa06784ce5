/// What an image of inetd hands the next one on SIGUSR2, besides the
/// sockets themselves (SPEC 5, docs/upgrades.md): the running handlers and
/// which service and sockets each has, the connections the loop serves
/// itself, and each service's counters and limit state. It travels in a
/// sealed memfd passed among the LISTEN_FDS under `fdName`, never in argv
/// or the environment. Descriptors are named by their place among the
/// LISTEN_FDS (0 is fd 3), since exec keeps them at those numbers.
struct UpgradeState: Equatable {
    static let fdName = "inetd-upgrade-state"
    /// "inetdUPG" and the version: an image reads only its own version;
    /// a state of another is refused, and the image starts as a new one.
    static let magic: UInt64 = 0x4750_5564_7465_6E69
    static let version: UInt32 = 1

    /// When the first image started (monotonic milliseconds: the clock
    /// runs on across exec), for uptime.
    var startedAt: Int64
    /// How many upgrades led to the image that wrote this.
    var upgrades: UInt32
    /// When the image that wrote this called execve (monotonic
    /// microseconds): the next one logs the gap.
    var handedOverAt: Int64
    /// The places of the sockets an image bound itself, as against those a
    /// supervisor passed it: the new image shuts them down when a reload
    /// removes them, as their binder would.
    var owned: [UInt32]
    var services: [ServiceRecord]
    var children: [ChildRecord]
    var connections: [ConnectionRecord]

    /// A service is known by the endpoints of its line, as a reload pairs
    /// old and new lines; its counters and limit state carry over.
    struct ServiceRecord: Equatable {
        /// `Endpoint` descriptions, sorted.
        var endpoints: [String]
        var accepted: Int64
        var spawned: Int64
        var execFailures: Int64
        var atCap: Int64
        var overRate: Int64
        var denied: Int64
        var overPerSource: Int64
        var overPerSourceRate: Int64
        var proxyRefused: Int64
        /// `TokenBucket.fullAt`, monotonic microseconds.
        var bucketFullAt: Int64
        var quickFailures: Int64
        var backoffMilliseconds: Int64
        var resumeAt: Int64?
        var rateResumeAt: Int64?
        /// `stderr=log`: the places of its socket pair's receiving and
        /// sending ends, which its running handlers write to; empty when
        /// it has none.
        var stderr: [UInt32] = []
    }

    /// A client's source as the per-source limits count it.
    struct SourceRecord: Equatable {
        var kind: UInt8
        var high: UInt64
        var low: UInt64
    }

    /// A handler still running: it stays the same process's child.
    struct ChildRecord: Equatable {
        var pid: Int32
        /// Index into `services`; nil for a service a reload removed.
        var service: UInt32?
        var wait: Bool
        var started: Int64
        /// The sockets it holds (LISTEN_FDS places): they stay out of the
        /// loop until it exits.
        var held: [UInt32]
        var source: SourceRecord?
    }

    /// A connection the loop serves itself.
    struct ConnectionRecord: Equatable {
        enum Kind: UInt8 { case echo, discard, chargen, pendingHeader }
        /// Its LISTEN_FDS place.
        var place: UInt32
        /// A pending header's: the place of the socket it came in on.
        var listener: UInt32?
        /// Index into `services`; nil for a service a reload removed.
        var service: UInt32?
        var kind: Kind
        var lastActivity: Int64
        /// A pending header's: when it is closed unread.
        var deadline: Int64?
        var inputClosed: Bool
        var chargenOffset: UInt32
        /// echo: bytes read and not yet written back.
        var pending: [UInt8]
        var source: SourceRecord?
    }
}

extension UpgradeState {
    func encoded() -> [UInt8] {
        var w = StateWriter()
        w.put(Self.magic)
        w.put(Self.version)
        w.put(startedAt)
        w.put(upgrades)
        w.put(handedOverAt)
        w.put(owned) { w, place in w.put(place) }
        w.put(services) { w, s in
            w.put(s.endpoints) { w, e in w.put(e) }
            for value in [s.accepted, s.spawned, s.execFailures, s.atCap, s.overRate, s.denied, s.overPerSource,
                          s.overPerSourceRate, s.proxyRefused, s.bucketFullAt, s.quickFailures, s.backoffMilliseconds] {
                w.put(value)
            }
            w.put(instant: s.resumeAt)
            w.put(instant: s.rateResumeAt)
            w.put(s.stderr) { w, place in w.put(place) }
        }
        w.put(children) { w, c in
            w.put(c.pid)
            w.put(c.service ?? UInt32.max)
            w.put(c.wait)
            w.put(c.started)
            w.put(c.held) { w, place in w.put(place) }
            Self.put(c.source, into: &w)
        }
        w.put(connections) { w, c in
            w.put(c.place)
            w.put(c.listener ?? UInt32.max)
            w.put(c.service ?? UInt32.max)
            w.put(c.kind.rawValue)
            w.put(c.lastActivity)
            w.put(instant: c.deadline)
            w.put(c.inputClosed)
            w.put(c.chargenOffset)
            w.put(c.pending)
            Self.put(c.source, into: &w)
        }
        return w.bytes
    }

    /// The state `bytes` hold, checked field by field: every index names
    /// a record or a place that exists, and nothing is left over.
    init(decoding bytes: [UInt8], places: Int) throws(StateDecodingError) {
        var r = StateReader(bytes)
        guard r.remaining >= 12, try r.get(UInt64.self) == Self.magic, try r.get(UInt32.self) == Self.version else {
            throw .notAState
        }
        startedAt = try r.get()
        upgrades = try r.get()
        handedOverAt = try r.get()
        func place(_ r: inout StateReader) throws(StateDecodingError) -> UInt32 {
            let value: UInt32 = try r.get()
            guard Int(value) < places else { throw .invalid("descriptor place") }
            return value
        }
        owned = try r.getList(minimumSize: 4) { (r) throws(StateDecodingError) in try place(&r) }
        services = try r.getList(minimumSize: 4 + 12 * 8 + 16 + 4) { (r) throws(StateDecodingError) in
            let endpoints = try r.getList(minimumSize: 4) { (r) throws(StateDecodingError) in try r.getText() }
            var v: [Int64] = []
            for _ in 0..<12 { v.append(try r.get()) }
            let resumeAt = try r.getInstant(), rateResumeAt = try r.getInstant()
            let stderr = try r.getList(minimumSize: 4) { (r) throws(StateDecodingError) in try place(&r) }
            guard stderr.isEmpty || stderr.count == 2 else { throw .invalid("stderr pair") }
            return ServiceRecord(endpoints: endpoints, accepted: v[0], spawned: v[1], execFailures: v[2], atCap: v[3],
                                 overRate: v[4], denied: v[5], overPerSource: v[6], overPerSourceRate: v[7],
                                 proxyRefused: v[8], bucketFullAt: v[9], quickFailures: v[10],
                                 backoffMilliseconds: v[11], resumeAt: resumeAt, rateResumeAt: rateResumeAt,
                                 stderr: stderr)
        }
        let serviceCount = services.count
        func service(_ r: inout StateReader) throws(StateDecodingError) -> UInt32? {
            let value: UInt32 = try r.get()
            if value == UInt32.max { return nil }
            guard Int(value) < serviceCount else { throw .invalid("service index") }
            return value
        }
        children = try r.getList(minimumSize: 4 + 4 + 1 + 8 + 4 + 1) { (r) throws(StateDecodingError) in
            let pid: Int32 = try r.get()
            guard pid > 1 else { throw .invalid("pid") }
            return ChildRecord(pid: pid, service: try service(&r), wait: try r.getFlag(),
                               started: try r.get(),
                               held: try r.getList(minimumSize: 4) { (r) throws(StateDecodingError) in try place(&r) },
                               source: try Self.getSource(&r))
        }
        connections = try r.getList(minimumSize: 4 + 4 + 4 + 1 + 8 + 8 + 1 + 4 + 4 + 1) { (r) throws(StateDecodingError) in
            let at = try place(&r)
            let raw: UInt32 = try r.get()
            guard raw == UInt32.max || Int(raw) < places else { throw .invalid("descriptor place") }
            let listener = raw == UInt32.max ? nil : raw
            let owner = try service(&r)
            guard let kind = ConnectionRecord.Kind(rawValue: try r.get()) else { throw .invalid("connection kind") }
            return ConnectionRecord(place: at, listener: listener, service: owner, kind: kind, lastActivity: try r.get(),
                                    deadline: try r.getInstant(), inputClosed: try r.getFlag(), chargenOffset: try r.get(), pending: try r.getBytes(),
                                    source: try Self.getSource(&r))
        }
        try r.finish()
    }

    private static func put(_ source: SourceRecord?, into w: inout StateWriter) {
        guard let source else {
            w.put(UInt8.max)
            return
        }
        w.put(source.kind)
        w.put(source.high)
        w.put(source.low)
    }

    private static func getSource(_ r: inout StateReader) throws(StateDecodingError) -> SourceRecord? {
        let kind: UInt8 = try r.get()
        if kind == UInt8.max { return nil }
        guard SourceKey.Kind(rawValue: kind) != nil else { throw .invalid("source kind") }
        return SourceRecord(kind: kind, high: try r.get(), low: try r.get())
    }
}
