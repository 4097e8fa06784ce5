/// Every listener of the running configuration: its slot and generation
/// (the epoll token), the map from endpoint to listener that a reload pairs
/// old and new lines with, and the endpoints in configuration order (for the
/// bind retry, logs and the state dump).
struct ListenerTable {
    private var slots = SlotTable<Listener>(kind: .listener)
    private(set) var byEndpoint: [Endpoint: Listener] = [:]
    /// Endpoints in configuration order.
    private(set) var order: [Endpoint] = []

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
        byEndpoint[endpoint] = listener
        return listener
    }

    /// Takes a listener out of the table; its slot may be reused.
    mutating func forget(_ listener: Listener) {
        guard byEndpoint[listener.endpoint] === listener else { return }
        byEndpoint[listener.endpoint] = nil
        slots.release(listener.token)
    }

    /// Whether `listener` is still the one serving its endpoint.
    func isCurrent(_ listener: Listener) -> Bool { byEndpoint[listener.endpoint] === listener }

    /// Calls `body` with each listener of a service that is in the table,
    /// in its endpoints' order, allocating nothing: a built-in connection's
    /// end runs it.
    func forEachListener(of state: ServiceState, _ body: (Listener) -> Void) {
        for endpoint in state.service.endpoints {
            if let listener = byEndpoint[endpoint], listener.state === state { body(listener) }
        }
    }

    /// The listeners of a service that are in the table, in its endpoints' order.
    func listeners(of state: ServiceState) -> [Listener] {
        var found: [Listener] = []
        forEachListener(of: state) { found.append($0) }
        return found
    }

    var all: some Sequence<Listener> { slots.occupied }
    var inOrder: [Listener] { order.compactMap { byEndpoint[$0] } }
    var count: Int { byEndpoint.count }

    /// The configuration order of a new load; endpoints that got no listener
    /// (IPv6 missing) are dropped from it.
    mutating func setOrder(_ endpoints: [Endpoint]) {
        order = endpoints
        if byEndpoint.count != order.count { order.removeAll { byEndpoint[$0] == nil } }
    }

    mutating func reserveCapacity(_ count: Int) {
        byEndpoint.reserveCapacity(count)
        slots.reserveCapacity(count)
    }
}
