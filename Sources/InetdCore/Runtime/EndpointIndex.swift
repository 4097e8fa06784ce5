/// The listeners by endpoint: an open-addressing table (linear probing) of
/// references, at most half full. A bucket is 8 bytes; in a Dictionary keyed
/// by the 40-byte endpoint it was 48, and 1,001 listeners took 2,048 of them
/// (96 KiB instead of 16).
struct EndpointIndex {
    private var buckets: [Listener?] = []
    private(set) var count = 0

    private var mask: Int { buckets.count - 1 }

    private func home(_ endpoint: Endpoint) -> Int { endpoint.hashValue & mask }

    /// The bucket holding `endpoint`, or the empty one where it would go.
    private func find(_ endpoint: Endpoint) -> (index: Int, found: Bool) {
        var index = home(endpoint)
        while let listener = buckets[index] {
            if listener.endpoint == endpoint { return (index, true) }
            index = (index + 1) & mask
        }
        return (index, false)
    }

    subscript(endpoint: Endpoint) -> Listener? {
        guard count > 0 else { return nil }
        let (index, found) = find(endpoint)
        return found ? buckets[index] : nil
    }

    /// Adds `listener`, or puts it in the place of the one at its endpoint.
    mutating func insert(_ listener: Listener) {
        reserveCapacity(count + 1)
        let (index, found) = find(listener.endpoint)
        buckets[index] = listener
        if !found { count += 1 }
    }

    mutating func remove(_ endpoint: Endpoint) {
        guard count > 0 else { return }
        var (hole, found) = find(endpoint)
        guard found else { return }
        buckets[hole] = nil
        count -= 1
        // Backward shift: each listener after the hole, up to an empty
        // bucket, moves into it unless its home lies between the two.
        var next = (hole + 1) & mask
        while let listener = buckets[next] {
            let h = home(listener.endpoint)
            let stays = hole < next ? (h > hole && h <= next) : (h > hole || h <= next)
            if !stays {
                buckets[hole] = listener
                buckets[next] = nil
                hole = next
            }
            next = (next + 1) & mask
        }
    }

    /// Room for `wanted` listeners at most half full: a power of two.
    mutating func reserveCapacity(_ wanted: Int) {
        guard wanted * 2 > buckets.count else { return }
        var size = max(16, buckets.count)
        while size < wanted * 2 { size *= 2 }
        let old = buckets
        buckets = Array(repeating: nil, count: size)
        for case let listener? in old {
            buckets[find(listener.endpoint).index] = listener
        }
    }
}
