/// Slots for the objects a table registers in epoll, each stamped with a
/// generation when it takes a slot: freed slots are reused, stale events are
/// told apart.
struct SlotTable<Element: AnyObject> {
    private(set) var slots: [Element?] = []
    private var free: [Int] = []
    private var generation: UInt32 = 0
    let kind: EventToken.Kind

    init(kind: EventToken.Kind) { self.kind = kind }

    /// A token for the next insertion; `insert` must follow with it.
    mutating func reserve() -> EventToken {
        generation &+= 1
        return EventToken(kind, slot: free.popLast() ?? slots.count, generation: generation)
    }

    mutating func insert(_ element: Element, at token: EventToken) {
        if token.slot == slots.count { slots.append(element) } else { slots[token.slot] = element }
    }

    /// Gives back a reserved slot that was not used.
    mutating func release(_ token: EventToken) {
        guard token.slot < slots.count else { return }  // reserved at the end, never inserted
        slots[token.slot] = nil
        free.append(token.slot)
    }

    subscript(slot: Int) -> Element? { slot < slots.count ? slots[slot] : nil }

    mutating func reserveCapacity(_ count: Int) { slots.reserveCapacity(count) }

    var occupied: some Sequence<Element> { slots.lazy.compactMap { $0 } }

    /// Drops the empty slots past the last one in use, and their storage:
    /// after a burst the table would otherwise stay as long as its peak.
    /// Generations go on, so a stale token still tells its slot's new
    /// occupant apart.
    mutating func shrink() {
        let end = (slots.lastIndex { $0 != nil } ?? -1) + 1
        guard end < slots.count || slots.capacity > end else { return }
        slots = Array(slots[..<end])
        free = free.filter { $0 < end }
    }
}
