/// Every listener of the running configuration: its slot and generation
/// (the epoll token), the index from endpoint to listener that a reload pairs
/// old and new lines with, and the listeners in configuration order (for the
/// bind retry, logs and the state dump).
struct ListenerTable {
    private var slots = SlotTable<Listener>(kind: .listener)
    private var byEndpoint = EndpointIndex()
    /// The listeners of the last load in configuration order, including any
    /// taken out of the table since (`inOrder` leaves those out).
    private var order: [Listener] = []

    subscript(endpoint: Endpoint) -> Listener? { byEndpoint[endpoint] }

    /// The listener a token names, unless it has left its slot since.
    func listener(for token: EventToken) -> Listener? {
        guard let listener = slots[token.slot], listener.token == token else { return nil }
        return listener
    }

    /// A new listener in a free slot, with a token of its own.
    mutating func make(_ endpoint: Endpoint, _ state: ServiceState) -> Listener {
        let listener = Listener(endpoint: endpoint, state: state, token: slots.reserve())
        slots.insert(listener, at: listener.token)
        byEndpoint.insert(listener)
        return listener
    }

    /// Takes a listener out of the table; its slot may be reused.
    mutating func forget(_ listener: Listener) {
        guard isCurrent(listener) else { return }
        byEndpoint.remove(listener.endpoint)
        slots.release(listener.token)
    }

    /// Whether `listener` is still the one serving its endpoint: it holds
    /// its slot (`make` and `forget` change the slot and the index together).
    func isCurrent(_ listener: Listener) -> Bool { slots[listener.token.slot] === listener }

    /// Calls `body` with each listener of a service that is in the table,
    /// in its endpoints' order, allocating nothing: a built-in connection's
    /// end runs it.
    func forEachListener(of state: ServiceState, _ body: (Listener) -> Void) {
        for endpoint in state.service.endpoints {
            if let listener = byEndpoint[endpoint], listener.state === state { body(listener) }
        }
    }

    /// The listeners of a service that are in the table, in its endpoints' order.
    /// True when a handler holds a socket of this service.
    func anyHeld(of state: ServiceState) -> Bool {
        var held = false
        forEachListener(of: state) { held = held || $0.held }
        return held
    }

    func listeners(of state: ServiceState) -> [Listener] {
        var found: [Listener] = []
        forEachListener(of: state) { found.append($0) }
        return found
    }

    var all: some Sequence<Listener> { slots.occupied }
    var inOrder: [Listener] { order.filter { isCurrent($0) } }
    /// The endpoints of the last load in configuration order, as a reload
    /// pairs them with the next one's.
    var orderedEndpoints: [Endpoint] { order.map(\.endpoint) }
    var count: Int { byEndpoint.count }
    /// How many listeners hold a bound socket.
    var boundCount: Int { slots.occupied.reduce(0) { $1.fd != nil ? $0 + 1 : $0 } }
    /// How many listeners hold a socket inetd was started with.
    var adoptedCount: Int { slots.occupied.reduce(0) { $1.inherited ? $0 + 1 : $0 } }

    /// The configuration order of a new load; listeners taken out of the
    /// table meanwhile (IPv6 missing) are dropped from it.
    mutating func setOrder(_ listeners: [Listener]) {
        order = byEndpoint.count == listeners.count ? listeners : listeners.filter { isCurrent($0) }
    }

    mutating func reserveCapacity(_ count: Int) {
        byEndpoint.reserveCapacity(count)
        slots.reserveCapacity(count)
    }
}
