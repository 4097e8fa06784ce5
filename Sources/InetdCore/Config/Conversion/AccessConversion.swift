/// xinetd's and systemd's address lists as `allow=` and `deny=` prefixes.
/// Both let an allowed address inside a denied range through (systemd: an
/// allow always wins; xinetd: the more precise match wins), where inetd's
/// `deny=` always wins: so the holes are cut out of each denied range.
enum AccessConversion {
    /// Every address of both families: xinetd's `0.0.0.0`, systemd's `any`.
    static let everything = [AddressRange(bytes: [0, 0, 0, 0], prefix: 0),
                             AddressRange(bytes: [UInt8](repeating: 0, count: 16), prefix: 0)]

    /// `10.0.0.0/8`, `::1`, `[::1]/128`: one prefix; nil if not numeric.
    static func prefix(_ text: String) -> AddressRange? {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        var host = parts[0]
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard let address = IPAddress(literal: host) else { return nil }
        let bits = address.bytes.count * 8
        var length = bits
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), parts[1].utf8.count <= 3,
                  let value = Int(parts[1]), value <= bits else { return nil }
            length = value
        }
        return masked(AddressRange(bytes: address.bytes, prefix: length))
    }

    /// One entry of xinetd's `only_from` or `no_access`: an address (its
    /// zero octets on the right are wildcards: `10.1.0.0` is 10.1/16), a
    /// CIDR prefix, `0.0.0.0` (every address), or a factorized
    /// `128.138.{209,207}`. nil for what only a lookup can judge: host
    /// names, `.domain` suffixes, network names.
    static func xinetdEntry(_ entry: String) -> [AddressRange]? {
        if entry == "0.0.0.0" || entry == "0.0.0.0/0" { return everything }
        if let open = entry.firstIndex(of: "{") {
            guard entry.hasSuffix("}") else { return nil }
            let base = entry[..<open]
            guard base.hasSuffix(".") else { return nil }
            let octets = base.dropLast().split(separator: ".", omittingEmptySubsequences: false)
            guard (1...3).contains(octets.count) else { return nil }
            var ranges: [AddressRange] = []
            for last in entry[entry.index(after: open)..<entry.index(before: entry.endIndex)].split(separator: ",",
                omittingEmptySubsequences: false) {
                let given = octets + [last]
                guard let range = dotted(given.map(String.init)) else { return nil }
                ranges.append(range)
            }
            return ranges.isEmpty ? nil : ranges
        }
        if !entry.contains("/"), !entry.contains(":") {
            let octets = entry.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard octets.count == 4, var range = dotted(octets) else { return nil }
            // Zero octets on the right are wildcards.
            var zeros = 0
            while zeros < 4, range.bytes[3 - zeros] == 0 { zeros += 1 }
            range.prefix = 32 - 8 * zeros
            return [range]
        }
        return prefix(entry).map { [$0] }
    }

    /// One to four decimal octets, the missing ones zero and outside the prefix.
    private static func dotted(_ octets: [String]) -> AddressRange? {
        var bytes: [UInt8] = []
        for octet in octets {
            guard !octet.isEmpty, octet.utf8.count <= 3, octet.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let value = UInt8(octet) else { return nil }
            bytes.append(value)
        }
        let prefix = bytes.count * 8
        while bytes.count < 4 { bytes.append(0) }
        return AddressRange(bytes: bytes, prefix: prefix)
    }

    /// One entry of systemd's `IPAddressAllow=`/`IPAddressDeny=`: a prefix
    /// or one of its keywords.
    static func systemdEntry(_ entry: String) -> [AddressRange]? {
        let v6 = { (text: String) in prefix(text)! }
        switch entry {
        case "any": return everything
        case "localhost": return [prefix("127.0.0.0/8")!, v6("::1/128")]
        case "link-local": return [prefix("169.254.0.0/16")!, v6("fe80::/64")]
        case "multicast": return [prefix("224.0.0.0/4")!, v6("ff00::/8")]
        default: return prefix(entry).map { [$0] }
        }
    }

    /// The options for an allow list (nil: none given) and a deny list,
    /// where an allowed range inside a denied one wins when `allowWins`
    /// says so for that pair. Returns `allow=` and `deny=` options.
    static func options(allow: [AddressRange]?, deny: [AddressRange],
                        allowWins: (_ allowed: AddressRange, _ denied: AddressRange) -> Bool) -> [String] {
        var denied: [AddressRange] = []
        for range in deny {
            denied += subtract(allow?.filter { allowWins($0, range) } ?? [], from: range)
        }
        var options: [String] = []
        if let allow, !covers(allow, everything) { options += allow.map { "allow=\($0)" } }
        options += denied.map { "deny=\($0)" }
        return options
    }

    /// Whether `ranges` hold every range of `wanted`.
    static func covers(_ ranges: [AddressRange], _ wanted: [AddressRange]) -> Bool {
        wanted.allSatisfy { want in ranges.contains { inside(want, $0) } }
    }

    /// Whether `inner` lies within `outer`.
    static func inside(_ inner: AddressRange, _ outer: AddressRange) -> Bool {
        inner.bytes.count == outer.bytes.count && inner.prefix >= outer.prefix && outer.contains(inner.bytes)
    }

    /// `range` less every one of `holes`, as prefixes: each hole splits
    /// the range into halves down to its own length.
    static func subtract(_ holes: [AddressRange], from range: AddressRange) -> [AddressRange] {
        var pieces = [masked(range)]
        for hole in holes {
            pieces = pieces.flatMap { piece -> [AddressRange] in
                var result: [AddressRange] = []
                var rest = piece
                while true {
                    if inside(rest, hole) { break }
                    guard inside(hole, rest) else { result.append(rest); break }
                    // Split: the half without the hole stays whole.
                    var low = rest, high = rest
                    low.prefix += 1
                    high.prefix += 1
                    high.bytes[rest.prefix / 8] |= UInt8(0x80) >> UInt8(rest.prefix % 8)
                    if high.contains(hole.bytes) { result.append(low); rest = high } else { result.append(high); rest = low }
                }
                return result
            }
        }
        return pieces.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
    }

    /// The range with its host bits zero.
    static func masked(_ range: AddressRange) -> AddressRange {
        var range = range
        for i in range.bytes.indices {
            let keep = min(max(range.prefix - i * 8, 0), 8)
            range.bytes[i] &= keep == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - keep))
        }
        return range
    }
}
