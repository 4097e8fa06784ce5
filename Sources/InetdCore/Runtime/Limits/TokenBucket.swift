/// "At most N per 60 s" as a token bucket of N tokens refilled at N per
/// 60 s (SPEC 5 lets us choose; docs/limits.md says why this one): a burst
/// of N at once, then one every 60/N s. Kept as the generic cell rate
/// algorithm's one number, the time the bucket will be full again, so a
/// bucket is 8 bytes, taking a token is a few arithmetic operations, and
/// the moment the next token comes is exact (a degraded service resumes
/// then, not at the end of a fixed window).
///
/// The price, stated: within one 60 s span a full bucket's N plus the N
/// refilled meanwhile may start, so any 60 s sees at most 2N, and a steady
/// load N.
struct TokenBucket: Equatable {
    /// When the bucket is full again (monotonic microseconds, which count
    /// from boot); at or before now, it is full.
    private(set) var fullAt: Int64 = 0

    static let windowMicroseconds: Int64 = 60_000_000

    init(fullAt: Int64 = 0) { self.fullAt = fullAt }

    /// Microseconds for one token to come back.
    @inline(__always)
    static func interval(_ limit: Int) -> Int64 { max(1, windowMicroseconds / Int64(limit)) }

    /// Takes a token if one is left; false when the bucket is empty.
    mutating func take(limit: Int, now: Int64) -> Bool {
        let interval = Self.interval(limit)
        let start = max(fullAt, now)
        // Tokens missing after this one would be taken: (start - now) / interval.
        guard start - now <= interval * Int64(limit - 1) else { return false }
        fullAt = start + interval
        return true
    }

    /// When the next token comes: now, if one is left.
    func nextToken(limit: Int, now: Int64) -> Int64 {
        max(now, fullAt - Self.interval(limit) * Int64(limit - 1))
    }

    /// Whether a token is left now.
    func hasToken(limit: Int, now: Int64) -> Bool { nextToken(limit: limit, now: now) <= now }

    /// Full: it remembers nothing, and may be forgotten.
    func isFull(now: Int64) -> Bool { fullAt <= now }
}
