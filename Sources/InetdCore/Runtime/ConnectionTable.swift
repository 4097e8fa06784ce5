/// The connections the loop holds itself (built-ins' clients, connections
/// waiting for their PROXY header): slots and generations (their epoll
/// tokens), and how many each service has open (counted against its
/// `max=`). Idle ones, and headers past their time, are found by a check
/// every second while any is open (the loop's `.idleConnections` deadline).
struct ConnectionTable {
    static let defaultIdleSeconds = 60

    private var slots = SlotTable<LoopConnection>(kind: .connection)
    private var open: [ObjectIdentifier: Int] = [:]
    private(set) var count = 0
    /// Connections waiting for their PROXY header, all services together.
    private(set) var awaitingHeaders = 0
    /// The most connections open at once since memory was last given back.
    private(set) var peak = 0
    /// Connections (a 4 KiB buffer each, about 4.2 KiB of heap with the
    /// object) that must have closed since the peak before their memory is
    /// worth handing back: 256 KiB.
    static let releaseThreshold = 64

    mutating func reserve() -> EventToken { slots.reserve() }
    mutating func release(_ token: EventToken) { slots.release(token) }

    mutating func insert(_ connection: LoopConnection) {
        slots.insert(connection, at: connection.token)
        open[ObjectIdentifier(connection.state), default: 0] += 1
        count += 1
        if connection is PendingHeader { awaitingHeaders += 1 }
        peak = max(peak, count)
    }

    mutating func remove(_ connection: LoopConnection) {
        guard slots[connection.token.slot] === connection else { return }
        slots.release(connection.token)
        if connection is PendingHeader { awaitingHeaders -= 1 }
        let key = ObjectIdentifier(connection.state)
        if let n = open[key], n > 1 { open[key] = n - 1 } else { open[key] = nil }
        count -= 1
    }

    func connection(for token: EventToken) -> LoopConnection? {
        guard let c = slots[token.slot], c.token == token else { return nil }
        return c
    }

    /// Connections of this service open now.
    func active(_ state: ServiceState) -> Int { open[ObjectIdentifier(state)] ?? 0 }

    var all: [LoopConnection] { Array(slots.occupied) }

    /// True once a burst has ended: at least `releaseThreshold` of the
    /// connections open at the peak have closed.
    var burstEnded: Bool { peak - count >= Self.releaseThreshold }

    /// The slots the burst left empty go; the caller gives the freed heap
    /// (the connections' buffers) back to the system.
    mutating func shrink() {
        slots.shrink()
        peak = count
    }
}
