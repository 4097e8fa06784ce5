import Testing
@testable import InetdCore

/// The PROXY protocol header parser (issue 17): v1 and v2 as HAProxy's
/// proxy-protocol.txt writes them, every way a header can be wrong, and a
/// fuzzer over random and mutated headers.
@Suite struct ProxyHeaderTests {
    func parse(_ bytes: [UInt8]) -> ProxyHeader.Outcome {
        bytes.withUnsafeBytes { ProxyHeader.parse($0) }
    }

    func parse(_ text: String) -> ProxyHeader.Outcome { parse(Array(text.utf8)) }

    func ip(_ text: String) -> IPAddress { IPAddress(literal: text)! }

    func addresses(_ source: String, _ sport: UInt16, _ destination: String, _ dport: UInt16) -> ProxyHeader.Addresses {
        ProxyHeader.Addresses(source: ip(source), sourcePort: sport, destination: ip(destination), destinationPort: dport)
    }

    // MARK: - v1

    @Test func v1TCP4AndTCP6() {
        let line = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"
        #expect(parse(line + "GET / HTTP/1.0\r\n") == .header(ProxyHeader(
            length: line.utf8.count, addresses: addresses("192.0.2.1", 56324, "198.51.100.2", 443))))
        let six = "PROXY TCP6 2001:db8::1 2001:db8::2 65535 0\r\n"
        #expect(parse(six) == .header(ProxyHeader(
            length: six.utf8.count, addresses: addresses("2001:db8::1", 65535, "2001:db8::2", 0))))
        // A v4-mapped TCP6 address is the IPv4 client it carries.
        let mapped = "PROXY TCP6 ::ffff:192.0.2.1 ::ffff:198.51.100.2 1 2\r\n"
        #expect(parse(mapped) == .header(ProxyHeader(
            length: mapped.utf8.count, addresses: addresses("192.0.2.1", 1, "198.51.100.2", 2))))
    }

    /// UNKNOWN: the real peer stands; the rest of the line is ignored.
    @Test func v1Unknown() {
        #expect(parse("PROXY UNKNOWN\r\n") == .header(ProxyHeader(length: 15, addresses: nil)))
        let long = "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"
        #expect(parse(long) == .header(ProxyHeader(length: long.utf8.count, addresses: nil)))
    }

    /// Every beginning of a valid header asks for more; nothing is decided
    /// on a part.
    @Test func v1PartsAreIncomplete() {
        let line = Array("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n".utf8)
        for end in 0..<line.count { #expect(parse(Array(line[0..<end])) == .incomplete, "\(end)") }
    }

    @Test(arguments: [
        "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\n",      // LF alone
        "PROXY TCP4 192.0.2.1  198.51.100.2 56324 443\r\n",   // two spaces
        "PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n",        // a field short
        "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 1\r\n",  // a field more
        "PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n",        // IPv6 under TCP4
        "PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n",           // IPv4 under TCP6
        "PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n",    // port too big
        "PROXY TCP4 192.0.2.1 198.51.100.2 0443 443\r\n",     // leading zero
        "PROXY TCP4 192.0.2.1 198.51.100.2 -1 443\r\n",
        "PROXY TCP4 192.0.2.01 198.51.100.2 1 443\r\n",       // octal-looking octet
        "PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n",
        "PROXY tcp4 192.0.2.1 198.51.100.2 1 2\r\n",
        "PROXY \r\n",
        "PROXY\r\n",
        "proxy TCP4 192.0.2.1 198.51.100.2 1 2\r\n",
        "GET / HTTP/1.0\r\n",
        "\r\n\r\nX",
    ])
    func v1Malformed(line: String) {
        guard case .invalid = parse(line) else {
            Issue.record("\(line.debugDescription) was taken: \(parse(line))")
            return
        }
    }

    /// No CR LF within 107 bytes: too long, whatever follows.
    @Test func v1TooLong() {
        let line = "PROXY UNKNOWN " + String(repeating: "x", count: 93)
        #expect(line.utf8.count == 107)
        #expect(parse(line) == .invalid(.tooLong))
        #expect(parse(line + "\r\n") == .invalid(.tooLong))
        let fits = "PROXY UNKNOWN " + String(repeating: "x", count: 91) + "\r\n"
        #expect(fits.utf8.count == 107)
        #expect(parse(fits) == .header(ProxyHeader(length: 107, addresses: nil)))
    }

    // MARK: - v2

    static func v2(command: UInt8 = 1, family: UInt8, transport: UInt8 = 1, block: [UInt8], statedLength: Int? = nil) -> [UInt8] {
        let length = statedLength ?? block.count
        return ProxyHeader.signature + [0x20 | command, family << 4 | transport, UInt8(length >> 8), UInt8(length & 0xFF)] + block
    }

    static let v4Block: [UInt8] = [192, 0, 2, 1, 198, 51, 100, 2, 0xDC, 0x04, 0x01, 0xBB]

    @Test func v2ProxyOverIPv4AndIPv6() {
        let header = Self.v2(family: 1, block: Self.v4Block)
        #expect(parse(header + Array("payload".utf8)) == .header(ProxyHeader(
            length: 28, addresses: addresses("192.0.2.1", 56324, "198.51.100.2", 443))))
        let six = Self.v2(family: 2, block: ip("2001:db8::1").bytes + ip("2001:db8::2").bytes + [0, 80, 1, 0])
        #expect(parse(six) == .header(ProxyHeader(length: 52, addresses: addresses("2001:db8::1", 80, "2001:db8::2", 256))))
    }

    /// TLVs are skipped by their lengths, which must fill the block exactly.
    @Test func v2TLVs() {
        let tlvs: [UInt8] = [0x04, 0x00, 0x00, /* NOOP, empty */ 0x05, 0x00, 0x03, 0x61, 0x62, 0x63 /* UNIQUE_ID "abc" */]
        let header = Self.v2(family: 1, block: Self.v4Block + tlvs)
        #expect(parse(header) == .header(ProxyHeader(
            length: header.count, addresses: addresses("192.0.2.1", 56324, "198.51.100.2", 443))))
        // A TLV whose length runs past the block.
        let lying: [UInt8] = [0x05, 0x00, 0x09, 0x61]
        #expect(parse(Self.v2(family: 1, block: Self.v4Block + lying)) == .invalid(.malformed("a TLV past the header's end")))
        // Two bytes left over: not even a TLV's head.
        if case .invalid = parse(Self.v2(family: 1, block: Self.v4Block + [0x05, 0x00])) {} else { Issue.record("taken") }
    }

    /// LOCAL (a health check), UNSPEC and AF_UNIX: the real peer stands.
    @Test func v2LocalUnspecAndUnix() {
        let local = Self.v2(command: 0, family: 0, transport: 0, block: [])
        #expect(parse(local) == .header(ProxyHeader(length: 16, addresses: nil)))
        // LOCAL with an address block: the block is skipped.
        #expect(parse(Self.v2(command: 0, family: 1, block: Self.v4Block)) == .header(ProxyHeader(length: 28, addresses: nil)))
        #expect(parse(Self.v2(family: 0, transport: 0, block: [])) == .header(ProxyHeader(length: 16, addresses: nil)))
        let unix = Self.v2(family: 3, block: [UInt8](repeating: 0x2F, count: 216))
        #expect(parse(unix) == .header(ProxyHeader(length: 232, addresses: nil)))
        // LOCAL discards its block whatever its family says: shorter than
        // an IPv4 block is fine.
        #expect(parse(Self.v2(command: 0, family: 1, block: [1, 2, 3])) == .header(ProxyHeader(length: 19, addresses: nil)))
    }

    @Test func v2Malformed() {
        func invalid(_ bytes: [UInt8], _ what: String) {
            guard case .invalid = parse(bytes) else {
                Issue.record("\(what) was taken")
                return
            }
        }
        var badVersion = Self.v2(family: 1, block: Self.v4Block)
        badVersion[12] = 0x11
        invalid(badVersion, "version 1 in a v2 head")
        invalid(Self.v2(command: 2, family: 1, block: Self.v4Block), "command 2")
        invalid(Self.v2(family: 4, block: Self.v4Block), "family 4")
        invalid(Self.v2(family: 1, transport: 3, block: Self.v4Block), "transport 3")
        invalid(Self.v2(family: 1, transport: 2, block: Self.v4Block), "UDP on a stream")
        invalid(Self.v2(family: 1, transport: 0, block: Self.v4Block), "no transport for an IPv4 client")
        invalid(Self.v2(family: 3, transport: 2, block: [UInt8](repeating: 0x2F, count: 216)), "unix datagrams")
        invalid(Self.v2(family: 2, block: Self.v4Block), "an IPv6 family with an IPv4-sized block")
        var badSignature = Self.v2(family: 1, block: Self.v4Block)
        badSignature[7] = 0x50
        invalid(badSignature, "a signature off by one byte")
    }

    /// A stated length past the bound is refused at once, not awaited;
    /// a stated length longer than what came is awaited.
    @Test func v2LengthsAreChecked() {
        #expect(parse(Self.v2(family: 1, block: Self.v4Block, statedLength: 2033)) == .invalid(.tooLong))
        #expect(parse(Self.v2(family: 1, block: Self.v4Block, statedLength: 65535)) == .invalid(.tooLong))
        #expect(parse(Self.v2(family: 1, block: Self.v4Block, statedLength: 40)) == .incomplete)
        let header = Self.v2(family: 1, block: Self.v4Block)
        for end in 0..<header.count { #expect(parse(Array(header[0..<end])) == .incomplete, "\(end)") }
    }

    // MARK: - Fuzzing

    /// Thousands of random and mutated headers: the parser never reads out
    /// of bounds (AddressSanitizer runs this too), never claims more bytes
    /// than it was given or than the bound, and a part of what it took
    /// whole is never taken as a different header.
    @Test func fuzz() {
        var rng = Seeded(state: 0x1717_2026)
        let seeds: [[UInt8]] = [
            Array("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n".utf8),
            Array("PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n".utf8),
            Array("PROXY UNKNOWN\r\n".utf8),
            Self.v2(family: 1, block: Self.v4Block),
            Self.v2(family: 2, block: [UInt8](repeating: 1, count: 36) + [0x00, 0x00, 0x01, 0x41]),
            Self.v2(command: 0, family: 0, transport: 0, block: []),
            Self.v2(family: 3, block: [UInt8](repeating: 0, count: 216)),
        ]
        var taken = 0
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 4 == 0 {
                bytes = (0..<Int(rng.next() % 300)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                if round % 8 == 0, bytes.count >= 12 { bytes.replaceSubrange(0..<12, with: ProxyHeader.signature) }
            } else {
                bytes = seeds[Int(rng.next() % UInt64(seeds.count))]
                for _ in 0...Int(rng.next() % 4) {
                    let at = bytes.isEmpty ? 0 : Int(rng.next() % UInt64(bytes.count))
                    switch rng.next() % 4 {
                    case 0 where !bytes.isEmpty: bytes[at] = UInt8(truncatingIfNeeded: rng.next())
                    case 1: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)
                    case 2 where !bytes.isEmpty: bytes.remove(at: at)
                    default: bytes = Array(bytes.prefix(at))
                    }
                }
            }
            switch parse(bytes) {
            case .header(let header):
                taken += 1
                #expect(header.length <= bytes.count && header.length <= ProxyHeader.maxLength)
                // The same header, whatever follows it.
                #expect(parse(Array(bytes[0..<header.length]) + [0x47, 0x45, 0x54]) == .header(header))
            case .incomplete:
                #expect(bytes.count < ProxyHeader.maxLength)
            case .invalid:
                break
            }
        }
        #expect(taken > 1000, "the mutations keep many headers valid: \(taken)")
    }
}
