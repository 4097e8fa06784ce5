/// A line's `allow=` and `deny=` prefixes, compiled once per load into
/// sorted, merged ranges of addresses: judging a source is two binary
/// searches, so a list of 10,000 prefixes costs about 14 comparisons a
/// connection, and no allocation.
///
/// A source is refused when it matches a `deny`, or when any `allow` is
/// given and it matches none (SPEC 2). Deny wins. A v4-mapped IPv6 source
/// is judged as the IPv4 address it carries: the caller passes it as one.
public struct AccessRules: Equatable, Sendable {
    private let allowed: AddressRanges
    private let denied: AddressRanges
    /// Any `allow=`: a source must match one.
    private let restricted: Bool

    /// nil when the line names neither: every source is served.
    public init?(allow: [AddressRange], deny: [AddressRange]) {
        guard !allow.isEmpty || !deny.isEmpty else { return nil }
        allowed = AddressRanges(allow)
        denied = AddressRanges(deny)
        restricted = !allow.isEmpty
    }

    public func admits(_ source: IPAddress) -> Bool {
        if denied.contains(source) { return false }
        return !restricted || allowed.contains(source)
    }
}

/// Prefixes as closed ranges of integers, one sorted list per family, with
/// overlapping and adjacent ranges merged so that the lists stay disjoint.
struct AddressRanges: Equatable, Sendable {
    private var v4: [ClosedRange<UInt128>] = []
    private var v6: [ClosedRange<UInt128>] = []

    init(_ prefixes: [AddressRange]) {
        var v4: [ClosedRange<UInt128>] = [], v6: [ClosedRange<UInt128>] = []
        for prefix in prefixes {
            guard let address = IPAddress(bytes: prefix.bytes) else { continue }
            let bits = address.family == .inet ? 32 : 128
            let hostBits = bits - min(max(prefix.prefix, 0), bits)
            let value = Self.integer(address)
            let hostMask: UInt128 = hostBits == 128 ? ~0 : (UInt128(1) << hostBits) - 1
            let range = (value & ~hostMask)...(value | hostMask)
            if address.family == .inet { v4.append(range) } else { v6.append(range) }
        }
        self.v4 = Self.merged(v4)
        self.v6 = Self.merged(v6)
    }

    func contains(_ address: IPAddress) -> Bool {
        let list = address.family == .inet ? v4 : v6
        let value = Self.integer(address)
        // The last range that starts at or before the value.
        var low = 0, high = list.count
        while low < high {
            let middle = (low + high) / 2
            if list[middle].lowerBound <= value { low = middle + 1 } else { high = middle }
        }
        return low > 0 && list[low - 1].contains(value)
    }

    static func integer(_ address: IPAddress) -> UInt128 {
        UInt128(address.high) << 64 | UInt128(address.low)
    }

    private static func merged(_ ranges: [ClosedRange<UInt128>]) -> [ClosedRange<UInt128>] {
        var result: [ClosedRange<UInt128>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = result.last, last.upperBound == UInt128.max || range.lowerBound <= last.upperBound + 1 {
                result[result.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                result.append(range)
            }
        }
        return result
    }
}
