/// One source of a service, as the per-source limits count it: an IPv4 or
/// IPv6 address cut to the line's `ip-prefix=`, or a unix peer's uid.
struct SourceKey: Hashable {
    enum Kind: UInt8 { case ipv4, ipv6, uid }
    /// `SourceTable.newService()`'s number for the service: unlike an object
    /// identity, never reused while an entry of a service gone by a reload
    /// may still be in the table.
    var service: UInt32
    var kind: Kind
    var high: UInt64
    var low: UInt64

    /// The source of `address` for a line whose prefixes are `v4` and `v6`.
    init(service: UInt32, address: IPAddress, v4: Int, v6: Int) {
        self.service = service
        if address.family == .inet {
            kind = .ipv4
            high = 0
            low = v4 == 0 ? 0 : address.low & (UInt64(UInt32.max) << (32 - v4) & UInt64(UInt32.max))
        } else {
            kind = .ipv6
            high = v6 == 0 ? 0 : v6 >= 64 ? address.high : address.high & (UInt64.max << (64 - v6))
            low = v6 <= 64 ? 0 : v6 == 128 ? address.low : address.low & (UInt64.max << (128 - v6))
        }
    }

    init(service: UInt32, uid: UInt32) {
        self.init(service: service, kind: .uid, high: 0, low: UInt64(uid))
    }

    /// A source as an upgrade carries it.
    init(service: UInt32, kind: Kind, high: UInt64, low: UInt64) {
        self.service = service
        self.kind = kind
        self.high = high
        self.low = low
    }
}

/// What the per-source limits know of each source: its running handlers
/// (`per-ip=`) and its token bucket (`per-ip-rate=`). One table for the
/// daemon, bounded (`capacity`): a flood from a million sources costs at
/// most that many entries. An entry with a running handler is never evicted,
/// so `per-ip` stays exact (those are bounded by the handlers themselves);
/// forgetting an idle entry only gives its source a fresh burst, an error
/// towards serving that the service-wide `max=` and `rate=` still bound.
struct SourceTable {
    /// About 64 bytes an entry in the dictionary: at most about 1.5 MiB with
    /// the dictionary's spare room (docs/limits.md).
    static let capacity = 16_384

    struct Entry {
        var running: Int32 = 0
        var bucket = TokenBucket()

        func carriesNothing(now: Int64) -> Bool { running == 0 && bucket.isFull(now: now) }
    }

    enum Verdict: Equatable { case admitted, overConcurrency, overRate }

    private(set) var entries: [SourceKey: Entry] = [:]
    private var lastService: UInt32 = 0
    /// Idle entries forgotten to make room, since start.
    private(set) var evicted = 0

    var count: Int { entries.count }

    mutating func newService() -> UInt32 {
        lastService &+= 1
        return lastService
    }

    /// Judges one connection of `key`'s source against `per-ip=` (`concurrent`)
    /// and then `per-ip-rate=` (`rate`), 0 meaning no limit; an admitted one
    /// counts as running until `release`. A source refused for its count
    /// takes no token: the rate counts connections served.
    mutating func admit(_ key: SourceKey, concurrent: Int, rate: Int, now: Int64) -> Verdict {
        if entries[key] == nil, entries.count >= Self.capacity { makeRoom(now: now) }
        var verdict = Verdict.admitted
        // One hash and one look-up: the entry is changed in place.
        withEntry(key) { entry in
            if concurrent > 0, entry.running >= concurrent {
                verdict = .overConcurrency
            } else if rate > 0, !entry.bucket.take(limit: rate, now: now) {
                verdict = .overRate
            } else {
                entry.running += 1
            }
        }
        return verdict
    }

    private mutating func withEntry(_ key: SourceKey, _ body: (inout Entry) -> Void) {
        body(&entries[key, default: Entry()])
    }

    /// An admitted connection's handler exited (or its built-in connection
    /// closed).
    mutating func release(_ key: SourceKey, now: Int64) {
        guard var entry = entries[key] else { return }
        entry.running = max(0, entry.running - 1)
        entries[key] = entry.carriesNothing(now: now) ? nil : entry
    }

    /// Full: every idle entry goes at once, and the storage is kept. Not a
    /// part of them: the dictionary probes linearly, and dropping entries
    /// in the order it walks them (its buckets' order) left the survivors
    /// packed at the end of the table, where lookups then probed long runs
    /// (24 us an operation after a few cycles, against 0.6 us). Clearing is
    /// O(n) once per `capacity` new sources, and forgets no more than any
    /// eviction would: rate histories, which only errs towards serving.
    private mutating func makeRoom(now: Int64) {
        let before = entries.count
        keep { $0.running > 0 }
        evicted += before - entries.count
    }

    /// Drops the entries that carry nothing; once what is left fills less
    /// than a quarter of the storage (after a flood), the storage is made
    /// anew at its size and true is returned: the caller gives the freed
    /// heap back to the system.
    mutating func sweep(now: Int64) -> Bool {
        let shrink = entries.capacity > 64
            && entries.count(where: { !$0.value.carriesNothing(now: now) }) * 4 < entries.capacity
        keep(shrinking: shrink) { !$0.carriesNothing(now: now) }
        return shrink
    }

    /// Keeps the entries `kept` picks (few: a copy of them is made), in
    /// the same storage or, `shrinking`, in storage of their size.
    private mutating func keep(shrinking: Bool = false, _ kept: (Entry) -> Bool) {
        let survivors = entries.filter { kept($0.value) }
        guard survivors.count < entries.count || shrinking else { return }
        if shrinking {
            entries = [:]
            entries.reserveCapacity(survivors.count)
        } else {
            entries.removeAll(keepingCapacity: true)
        }
        for (key, entry) in survivors { entries[key] = entry }
    }
}
