/// An IPv4 or IPv6 address, read and written as glibc's inet_pton and
/// inet_ntop do, without them: Config stays pure, so a listing or an error
/// message prints an address as it did when libc formatted it.
///
/// Two words hold the 16 bytes in network order (IPv4: the low 32 bits of
/// `low`), so making, comparing or hashing one allocates nothing.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    public enum Family: Sendable, Hashable { case inet, inet6 }

    public let family: Family
    /// Bytes 0-7 of an IPv6 address; 0 for IPv4.
    let high: UInt64
    /// Bytes 8-15 of an IPv6 address, or the IPv4 address.
    let low: UInt64

    /// 0.0.0.0 and ::, the wildcards.
    public static let anyIPv4 = IPAddress(ipv4: 0)
    public static let anyIPv6 = IPAddress(ipv6High: 0, low: 0)

    /// `a.b.c.d` as the integer `a << 24 | b << 16 | c << 8 | d`.
    public init(ipv4 value: UInt32) {
        family = .inet
        high = 0
        low = UInt64(value)
    }

    /// The two halves of an IPv6 address, each read big-endian.
    public init(ipv6High high: UInt64, low: UInt64) {
        family = .inet6
        self.high = high
        self.low = low
    }

    /// 4 bytes for IPv4, 16 for IPv6, in network order; nil for any other count.
    public init?(bytes: [UInt8]) {
        func word<C: Collection>(_ part: C) -> UInt64 where C.Element == UInt8 {
            part.reduce(0) { $0 << 8 | UInt64($1) }
        }
        switch bytes.count {
        case 4: self.init(ipv4: UInt32(word(bytes)))
        case 16: self.init(ipv6High: word(bytes[0..<8]), low: word(bytes[8..<16]))
        default: return nil
        }
    }

    /// An IPv4 or IPv6 literal, no brackets: exactly the texts inet_pton
    /// takes for AF_INET or AF_INET6. Hence no zone (`fe80::1%eth0`), and no
    /// IPv4 octet with a leading zero, which inet_aton would read as octal.
    public init?(literal text: String) {
        var text = text
        guard let address = text.withUTF8({ Self.parse($0) }) else { return nil }
        self = address
    }

    static func parse(_ text: UnsafeBufferPointer<UInt8>) -> IPAddress? {
        if let v4 = parseIPv4(text, from: 0) { return IPAddress(ipv4: v4) }
        return parseIPv6(text)
    }

    /// The address bytes in network order: 4 or 16.
    public var bytes: [UInt8] {
        switch family {
        case .inet: return (0..<4).map { UInt8(truncatingIfNeeded: low >> (24 - 8 * $0)) }
        case .inet6:
            return (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * $0)) }
                + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * $0)) }
        }
    }

    /// The IPv4 address as `a << 24 | b << 16 | c << 8 | d`; 0 for IPv6.
    public var ipv4Value: UInt32 { family == .inet ? UInt32(truncatingIfNeeded: low) : 0 }

    /// 0.0.0.0 or ::.
    public var isUnspecified: Bool { high == 0 && low == 0 }

    /// inet_ntop's text: dotted quad, or IPv6 as RFC 5952 writes it.
    public var description: String {
        switch family {
        case .inet: return Self.dottedQuad(UInt32(truncatingIfNeeded: low))
        case .inet6: return ipv6Text
        }
    }

    // MARK: - Reading

    /// glibc's inet_pton4 on `text[start...]`: four decimal octets, none
    /// over 255, none with a leading zero, nothing after the fourth.
    static func parseIPv4(_ text: UnsafeBufferPointer<UInt8>, from start: Int) -> UInt32? {
        var value: UInt32 = 0
        var octet: UInt32 = 0
        var digits = 0
        var octets = 0
        for index in start..<text.count {
            let c = text[index]
            if c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") {
                if digits > 0, octet == 0 { return nil }
                octet = octet * 10 + UInt32(c - UInt8(ascii: "0"))
                if octet > 255 { return nil }
                if digits == 0 {
                    octets += 1
                    if octets > 4 { return nil }
                }
                digits += 1
            } else if c == UInt8(ascii: "."), digits > 0 {
                if octets == 4 { return nil }
                value = value << 8 | octet
                octet = 0
                digits = 0
            } else {
                return nil
            }
        }
        guard octets == 4 else { return nil }
        return value << 8 | octet
    }

    /// glibc's inet_pton6: up to eight groups of at most four hex digits,
    /// one `::` standing for at least one zero group, and optionally a
    /// dotted quad in place of the last two groups.
    static func parseIPv6(_ text: UnsafeBufferPointer<UInt8>) -> IPAddress? {
        withUnsafeTemporaryAllocation(of: UInt16.self, capacity: 8) { groups -> IPAddress? in
            groups.initialize(repeating: 0)
            let end = text.count
            var index = 0
            guard index < end else { return nil }
            if text[index] == UInt8(ascii: ":") {
                // A leading colon only as part of `::`; the second one is
                // read below as the gap.
                index += 1
                guard index < end, text[index] == UInt8(ascii: ":") else { return nil }
            }
            var count = 0
            var gap: Int?
            var tokenStart = index
            var digits = 0
            var value: UInt16 = 0
            while index < end {
                let c = text[index]
                index += 1
                if let digit = hexValue(c) {
                    if digits == 4 { return nil }
                    value = value << 4 | digit
                    digits += 1
                    continue
                }
                if c == UInt8(ascii: ":") {
                    tokenStart = index
                    if digits == 0 {
                        if gap != nil { return nil }
                        gap = count
                        continue
                    }
                    // A group may not end the text with a single colon.
                    if index == end || count == 8 { return nil }
                    groups[count] = value
                    count += 1
                    digits = 0
                    value = 0
                    continue
                }
                if c == UInt8(ascii: "."), count + 2 <= 8, let v4 = parseIPv4(text, from: tokenStart) {
                    groups[count] = UInt16(truncatingIfNeeded: v4 >> 16)
                    groups[count + 1] = UInt16(truncatingIfNeeded: v4)
                    count += 2
                    digits = 0
                    break
                }
                return nil
            }
            if digits > 0 {
                if count == 8 { return nil }
                groups[count] = value
                count += 1
            }
            if let gap {
                // `::` must stand for at least one group.
                if count == 8 { return nil }
                let tail = count - gap
                for i in 0..<tail { groups[7 - i] = groups[count - 1 - i] }
                for i in gap..<(8 - tail) { groups[i] = 0 }
                count = 8
            }
            guard count == 8 else { return nil }
            var high: UInt64 = 0, low: UInt64 = 0
            for i in 0..<4 { high = high << 16 | UInt64(groups[i]) }
            for i in 4..<8 { low = low << 16 | UInt64(groups[i]) }
            return IPAddress(ipv6High: high, low: low)
        }
    }

    private static func hexValue(_ c: UInt8) -> UInt16? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt16(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt16(c - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt16(c - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    // MARK: - Writing

    private static func dottedQuad(_ value: UInt32) -> String {
        "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
    }

    /// glibc's inet_ntop6: lower-case hex without leading zeros; the first
    /// longest run of two or more zero groups as `::`; the last 32 bits as
    /// a dotted quad where exactly the first six groups are zero
    /// (`::1.2.3.4`) or the first five are and the sixth is ffff
    /// (`::ffff:1.2.3.4`).
    private var ipv6Text: String {
        let groups = (0..<8).map { i -> UInt16 in
            let half = i < 4 ? high : low
            return UInt16(truncatingIfNeeded: half >> (48 - 16 * (i % 4)))
        }
        var best = (start: -1, length: 0)
        var run = (start: -1, length: 0)
        for (i, group) in groups.enumerated() {
            if group == 0 {
                run = run.start < 0 ? (i, 1) : (run.start, run.length + 1)
            } else if run.start >= 0 {
                if best.start < 0 || run.length > best.length { best = run }
                run = (-1, 0)
            }
        }
        if run.start >= 0, best.start < 0 || run.length > best.length { best = run }
        if best.length < 2 { best = (-1, 0) }

        var text = ""
        var i = 0
        while i < 8 {
            if best.start >= 0, i >= best.start, i < best.start + best.length {
                if i == best.start { text += ":" }
                i += 1
                continue
            }
            if i != 0 { text += ":" }
            if i == 6, best.start == 0, best.length == 6 || (best.length == 5 && groups[5] == 0xFFFF) {
                text += Self.dottedQuad(UInt32(truncatingIfNeeded: low))
                return text
            }
            text += String(groups[i], radix: 16)
            i += 1
        }
        if best.start >= 0, best.start + best.length == 8 { text += ":" }
        return text
    }
}
