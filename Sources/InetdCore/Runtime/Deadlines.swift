/// Every timer of the loop in one set: the bind retry, back-off ends, the
/// stop's grace and checks, the idle check of built-in connections, each
/// child's bound on exec and each nowait handler's `timeout=`. epoll_wait
/// sleeps until the earliest; a turn takes what is due. Scheduling a key
/// again moves it; the earliest is kept without scanning, so a wake-up costs
/// the same with one timer or many. A moved or cancelled time stays in the
/// heap until it reaches the top, so once stale entries outnumber live ones
/// twice the heap is rebuilt: a `timeout=` per connection, cancelled at
/// each reap, would otherwise keep every spawn of the last `timeout=`
/// seconds.
struct Deadlines<Key: Hashable> {
    private var due: [Key: Int64] = [:]
    /// A min-heap of (time, key); entries whose time no longer matches `due`
    /// were moved or cancelled, and are skipped when they reach the top.
    private(set) var heap: [(at: Int64, key: Key)] = []

    /// Sets `key` to fire at `at` (monotonic milliseconds), replacing any
    /// earlier setting.
    mutating func schedule(_ key: Key, at: Int64) {
        due[key] = at
        push((at, key))
        compactIfStale()
    }

    /// When `key` fires, if it is set.
    func due(_ key: Key) -> Int64? { due[key] }

    /// Sets `key` unless it is already set.
    mutating func scheduleIfUnset(_ key: Key, at: Int64) {
        if due[key] == nil { schedule(key, at: at) }
    }

    mutating func cancel(_ key: Key) {
        guard due.removeValue(forKey: key) != nil else { return }
        compactIfStale()
    }

    /// A sorted array is a min-heap.
    private mutating func compactIfStale() {
        guard heap.count > 2 * due.count + 64 else { return }
        heap = due.map { (at: $0.value, key: $0.key) }.sorted { $0.at < $1.at }
    }

    /// The earliest time set, if any.
    mutating func earliest() -> Int64? {
        dropStale()
        return heap.first?.at
    }

    /// Removes and returns one key due at `now`, earliest first.
    mutating func popDue(now: Int64) -> Key? {
        dropStale()
        guard let top = heap.first, top.at <= now else { return nil }
        pop()
        due[top.key] = nil
        return top.key
    }

    private mutating func dropStale() {
        while let top = heap.first, due[top.key] != top.at { pop() }
    }

    private mutating func push(_ entry: (at: Int64, key: Key)) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].at < heap[parent].at else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func pop() {
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count, heap[left].at < heap[smallest].at { smallest = left }
            if right < heap.count, heap[right].at < heap[smallest].at { smallest = right }
            if smallest == parent { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
