/// A PROXY protocol header (HAProxy's proxy-protocol.txt, v1 text and v2
/// binary), read from the bytes a connection starts with. Pure: no system
/// call, so the loop and the fuzzer read it the same way.
///
/// `parse` never reads past what it is given and never past `maxLength`;
/// every length a v2 header states is checked against the bytes there
/// before anything is read at it.
struct ProxyHeader: Equatable {
    /// Bytes the header takes at the start of the stream: inetd consumes
    /// exactly these, and the handler reads what follows, untouched.
    var length: Int
    /// The client and the address it reached, as the balancer saw them.
    /// nil where the header says to use the connection's own endpoints:
    /// v2 LOCAL (a balancer's health check), v1 UNKNOWN, v2 UNSPEC, and v2
    /// AF_UNIX (no address rules or limits can judge a path).
    var addresses: Addresses?

    struct Addresses: Equatable {
        var source: IPAddress
        var sourcePort: UInt16
        var destination: IPAddress
        var destinationPort: UInt16
    }

    /// Why a connection's first bytes are not a header inetd accepts.
    enum Failure: Equatable, CustomStringConvertible {
        /// Neither `PROXY ` nor the v2 signature.
        case notAHeader
        /// v1: no CR LF within 107 bytes; v2: a stated length past `maxLength`.
        case tooLong
        /// A field that breaks the grammar, named.
        case malformed(String)

        var description: String {
            switch self {
            case .notAHeader: return "no PROXY header"
            case .tooLong: return "header too long"
            case .malformed(let what): return "malformed header: \(what)"
            }
        }
    }

    enum Outcome: Equatable {
        /// What has arrived is a valid beginning: read more.
        case incomplete
        case header(ProxyHeader)
        case invalid(Failure)
    }

    /// v1's limit, CR LF included (the specification's 107).
    static let maxTextLength = 107
    /// The longest v2 header taken: the 16-byte head and up to 2,032 bytes
    /// of addresses and TLVs. Balancers send far less (AWS's and GCP's TLVs
    /// are tens of bytes); a longer stated length is refused, not awaited.
    static let maxLength = 2048

    static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    private static let textStart = Array("PROXY ".utf8)

    static func parse(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        guard let first = bytes.first else { return .incomplete }
        if first == signature[0] {
            return startsWith(bytes, signature) ? parseBinary(bytes) : .invalid(.notAHeader)
        }
        if first == textStart[0] {
            return startsWith(bytes, textStart) ? parseText(bytes) : .invalid(.notAHeader)
        }
        return .invalid(.notAHeader)
    }

    /// Whether `bytes` begins with `prefix`, or with a beginning of it when
    /// shorter (`incomplete` is decided by the caller from the count).
    private static func startsWith(_ bytes: UnsafeRawBufferPointer, _ prefix: [UInt8]) -> Bool {
        for i in 0..<min(bytes.count, prefix.count) where bytes[i] != prefix[i] { return false }
        return true
    }

    // MARK: - v1

    private static func parseText(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        let window = min(bytes.count, maxTextLength)
        var end: Int?
        for i in 0..<window where bytes[i] == 0x0A {
            end = i
            break
        }
        guard let newline = end else {
            return bytes.count >= maxTextLength ? .invalid(.tooLong) : .incomplete
        }
        guard newline >= 1, bytes[newline - 1] == 0x0D else { return .invalid(.malformed("a line not ended by CR LF")) }
        let line = UnsafeRawBufferPointer(rebasing: bytes[textStart.count..<(newline - 1)])
        var fields: [UnsafeRawBufferPointer] = []
        var start = 0
        for i in 0...line.count where i == line.count || line[i] == 0x20 {
            fields.append(UnsafeRawBufferPointer(rebasing: line[start..<i]))
            start = i + 1
            if fields.count > 6 { break }
        }
        let length = newline + 1
        guard let proto = fields.first else { return .invalid(.malformed("no protocol")) }
        if equals(proto, "UNKNOWN") {
            // The rest of the line is to be ignored.
            return .header(ProxyHeader(length: length, addresses: nil))
        }
        let v4 = equals(proto, "TCP4"), v6 = equals(proto, "TCP6")
        guard v4 || v6 else { return .invalid(.malformed("protocol not TCP4, TCP6 or UNKNOWN")) }
        guard fields.count == 5 else { return .invalid(.malformed("not four fields after the protocol, one space apart")) }
        guard let source = address(fields[1], v6: v6), let destination = address(fields[2], v6: v6) else {
            return .invalid(.malformed("an address not of the protocol's family"))
        }
        guard let sourcePort = port(fields[3]), let destinationPort = port(fields[4]) else {
            return .invalid(.malformed("a port not from 0 to 65535"))
        }
        return .header(ProxyHeader(length: length, addresses: Addresses(
            source: source, sourcePort: sourcePort, destination: destination, destinationPort: destinationPort)))
    }

    private static func equals(_ field: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
        guard field.count == text.utf8CodeUnitCount else { return false }
        let expected = UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
        return field.elementsEqual(expected)
    }

    /// A literal of the protocol's family; a v4-mapped TCP6 address is the
    /// IPv4 address it carries, as inetd shows every such peer.
    private static func address(_ field: UnsafeRawBufferPointer, v6: Bool) -> IPAddress? {
        guard !field.isEmpty, field.count <= 45 else { return nil }
        guard let parsed = IPAddress.parse(field.assumingMemoryBound(to: UInt8.self)) else { return nil }
        guard (parsed.family == .inet6) == v6 else { return nil }
        return parsed.unmapped
    }

    /// Decimal, 1 to 5 digits, at most 65535; no sign, no leading zero
    /// (the specification's form; a leading zero hides a confused sender).
    private static func port(_ field: UnsafeRawBufferPointer) -> UInt16? {
        guard (1...5).contains(field.count), field.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        if field.count > 1, field[0] == 0x30 { return nil }
        let value = field.reduce(0) { $0 * 10 + Int($1 - 0x30) }
        return value <= 65535 ? UInt16(value) : nil
    }

    // MARK: - v2

    private static func parseBinary(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        guard bytes.count >= 16 else { return .incomplete }
        let versionCommand = bytes[12], familyTransport = bytes[13]
        guard versionCommand >> 4 == 2 else { return .invalid(.malformed("version not 2")) }
        let command = versionCommand & 0x0F
        guard command <= 1 else { return .invalid(.malformed("command neither LOCAL nor PROXY")) }
        let stated = Int(bytes[14]) << 8 | Int(bytes[15])
        let length = 16 + stated
        guard length <= maxLength else { return .invalid(.tooLong) }
        guard bytes.count >= length else { return .incomplete }
        // LOCAL: the balancer's own connection (a health check): the real
        // endpoints stand, and the block is discarded, family included.
        guard command == 1 else { return .header(ProxyHeader(length: length, addresses: nil)) }
        let family = familyTransport >> 4, transport = familyTransport & 0x0F
        guard family <= 3, transport <= 2 else { return .invalid(.malformed("unknown address family or transport")) }
        // UNSPEC: an address the sender could not name; the real peer stands.
        guard family != 0 else { return .header(ProxyHeader(length: length, addresses: nil)) }
        guard transport == 1 else { return .invalid(.malformed("a transport other than STREAM")) }
        let block = UnsafeRawBufferPointer(rebasing: bytes[16..<length])
        let addressBytes = [0, 12, 36, 216][Int(family)]
        guard block.count >= addressBytes else { return .invalid(.malformed("length shorter than its addresses")) }
        guard tlvsFit(UnsafeRawBufferPointer(rebasing: block[addressBytes...])) else {
            return .invalid(.malformed("a TLV past the header's end"))
        }
        // AF_UNIX: paths no rule or limit can judge; the real peer stands.
        guard family != 3 else { return .header(ProxyHeader(length: length, addresses: nil)) }
        func word(_ offset: Int, _ count: Int) -> UInt64 {
            var value: UInt64 = 0
            for i in offset..<offset + count { value = value << 8 | UInt64(block[i]) }
            return value
        }
        let addresses: Addresses
        if family == 1 {
            addresses = Addresses(source: IPAddress(ipv4: UInt32(word(0, 4))), sourcePort: UInt16(word(8, 2)),
                                  destination: IPAddress(ipv4: UInt32(word(4, 4))), destinationPort: UInt16(word(10, 2)))
        } else {
            addresses = Addresses(source: IPAddress(ipv6High: word(0, 8), low: word(8, 8)).unmapped,
                                  sourcePort: UInt16(word(32, 2)),
                                  destination: IPAddress(ipv6High: word(16, 8), low: word(24, 8)).unmapped,
                                  destinationPort: UInt16(word(34, 2)))
        }
        return .header(ProxyHeader(length: length, addresses: addresses))
    }

    /// The TLVs (type, 16-bit length, value) exactly fill what is left:
    /// each is skipped by its own length, checked first.
    private static func tlvsFit(_ rest: UnsafeRawBufferPointer) -> Bool {
        var at = 0
        while at < rest.count {
            guard rest.count - at >= 3 else { return false }
            let length = Int(rest[at + 1]) << 8 | Int(rest[at + 2])
            guard rest.count - at - 3 >= length else { return false }
            at += 3 + length
        }
        return true
    }
}

extension IPAddress {
    /// `::ffff:a.b.c.d` as the IPv4 address it carries; any other address
    /// as it is.
    var unmapped: IPAddress {
        guard family == .inet6, high == 0, low >> 32 == 0xFFFF else { return self }
        return IPAddress(ipv4: UInt32(truncatingIfNeeded: low))
    }
}
