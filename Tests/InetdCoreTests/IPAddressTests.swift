import Glibc
// in_addr and in6_addr come through _InetdSystem's header too; which module
// owns them depends on which the compiler loaded first, so both are named.
import _InetdSystem
@testable import InetdCore
import Testing

// Config reads and writes addresses in pure Swift; the listing and the error
// messages printed them through inet_pton and inet_ntop before, so here libc
// is the reference they must agree with.

/// inet_pton's answer: the bytes for AF_INET, else for AF_INET6, else nil.
private func libcBytes(_ text: String) -> [UInt8]? {
    var v4 = in_addr()
    if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: v4) { Array($0) } }
    var v6 = in6_addr()
    if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: v6) { Array($0) } }
    return nil
}

/// inet_ntop's text for 4 or 16 bytes.
private func libcText(_ bytes: [UInt8]) -> String {
    var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
    let family = bytes.count == 4 ? AF_INET : AF_INET6
    _ = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &text, socklen_t(text.count)) }
    return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// A fixed-seed generator (SplitMix64): a failure reproduces.
struct Seeded: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("IP address literals: Config's parser and formatter agree with inet_pton and inet_ntop")
struct IPAddressTests {
    static let literals = [
        // IPv4
        "0.0.0.0", "127.0.0.1", "255.255.255.255", "1.2.3.4", "10.0.0.1", "192.0.2.10",
        "01.2.3.4", "1.02.3.4", "1.2.3.04", "00.1.2.3", "0.0.0.00", "1.2.3", "1.2.3.4.5", "1.2.3.", "1.2.3.4.",
        ".1.2.3", "1..2.3", "256.1.1.1", "1.2.3.256", "999.1.1.1", "1.2.3.-4", "+1.2.3.4", "1.2.3.4 ", " 1.2.3.4",
        "0x1.2.3.4", "1.2.3.4/8", "1", "", ".", "...", "1.2.3.4:80", "١.٢.٣.٤",
        // IPv6
        "::", "::1", "1::", "::ffff:1.2.3.4", "::1.2.3.4", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
        "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5::1.2.3.4", "::ffff:0:0", "::ffff:0.0.0.0", "64:ff9b::192.0.2.33",
        "2001:db8::1", "2001:DB8::1", "2001:0db8:0000:0000:0000:ff00:0042:8329", "fe80::1", "FE80::ABCD:ef01",
        "1:0:0:1::", "0:0:0:0:0:0:0:0", "0:0:0:0:0:0:0:1", "1:0:0:0:0:0:0:0", "1:0:0:2:0:0:0:3", "1:0:2:0:0:3:0:4",
        "0000:0000:0000:0000:0000:0000:0000:0001", "::0.0.0.1", "::0.0.1.0", "::1:0.0.0.1",
        // IPv6 that inet_pton refuses
        "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1:2:3:4::5:6:7:8", ":::", "::::", "1:::2", "1::2::3", ":1", "1:",
        ":1::", "::1:", "1:2:3:4:5:6:7:8:", ":1:2:3:4:5:6:7:8", "12345::", "::12345", "g::", "::g",
        "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3", "::1.2.3.4.5", "::01.2.3.4", "::256.1.1.1", "::1.2.3.4:1", "::ffff:a.b.c.d",
        "1.2.3.4::", "::1.2.3.4::", "::1234.1.1.1", "[::1]", "fe80::1%eth0", "fe80::1%1", "::1%lo", "::1/128",
        "::1 ", " ::1", ":", "::ffff:1.2.3.4%eth0", "1:2:3:4:5:6:7:8%0",
    ]

    @Test("every literal is read as inet_pton reads it, and written as inet_ntop writes it")
    func literalsAgree() {
        for text in Self.literals {
            let ours = IPAddress(literal: text)
            let theirs = libcBytes(text)
            #expect(ours?.bytes == theirs, "\(text)")
            if let ours, let theirs {
                #expect(ours.description == libcText(theirs), "\(text)")
                #expect(ours.family == (theirs.count == 4 ? .inet : .inet6), "\(text)")
            }
        }
    }

    @Test("glibc's edge cases, spelled out")
    func edgeCases() {
        #expect(IPAddress(literal: "01.2.3.4") == nil, "a leading zero (octal to inet_aton) is refused")
        #expect(IPAddress(literal: "0.0.0.0")?.description == "0.0.0.0")
        #expect(IPAddress(literal: "1.2.3") == nil)
        #expect(IPAddress(literal: "::")?.description == "::")
        #expect(IPAddress(literal: "::1")?.description == "::1")
        #expect(IPAddress(literal: "1::")?.description == "1::")
        #expect(IPAddress(literal: "::ffff:1.2.3.4")?.description == "::ffff:1.2.3.4")
        #expect(IPAddress(literal: "::ffff:1.2.3.4")?.bytes == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 1, 2, 3, 4])
        #expect(IPAddress(literal: "1:2:3:4:5:6:7:8")?.description == "1:2:3:4:5:6:7:8")
        #expect(IPAddress(literal: "1:2:3:4:5:6:7:8:9") == nil)
        #expect(IPAddress(literal: ":::") == nil)
        #expect(IPAddress(literal: "fe80::1%eth0") == nil, "inet_pton takes no zone")
        #expect(IPAddress(literal: "2001:0db8:0:0:1:0:0:1")?.description == "2001:db8::1:0:0:1", "the first of two equal runs")
        #expect(IPAddress(literal: "1:0:2:3:4:5:6:7")?.description == "1:0:2:3:4:5:6:7", "one zero group is not ::")
    }

    @Test("random texts: accepted and refused exactly where inet_pton does")
    func randomTexts() {
        var random = Seeded(state: 0x1E7D_C0F1_6F00_2025)
        var accepted = (v4: 0, v6: 0)
        func agree(_ text: String) {
            let theirs = libcBytes(text)
            #expect(IPAddress(literal: text)?.bytes == theirs, "\(text)")
            if let theirs { theirs.count == 4 ? (accepted.v4 += 1) : (accepted.v6 += 1) }
        }
        // Any string of the characters that matter: mostly refused.
        let alphabet = Array("0123456789abcdefABCDEFg:.:.::..%".utf8)
        for _ in 0..<10_000 {
            let length = Int.random(in: 1...24, using: &random)
            agree(String(decoding: (0..<length).map { _ in alphabet.randomElement(using: &random)! }, as: UTF8.self))
        }
        // Groups and octets joined by separators: near misses and hits.
        let specials = ["0", "00", "01", "ffff", "FFFF", "12345", "g", "1.2.3.4", "01.2.3.4", "255.255.255.255", "1.2.3"]
        func token() -> String {
            switch Int.random(in: 0..<6, using: &random) {
            case 0: return String(String(UInt16.random(in: 0...0xFFFF, using: &random), radix: 16).prefix(Int.random(in: 1...4, using: &random)))
            case 1: return String(Int.random(in: 0..<300, using: &random))
            case 2: return specials.randomElement(using: &random)!
            default: return String(UInt16.random(in: 0...0xFFFF, using: &random), radix: 16)
            }
        }
        for _ in 0..<20_000 {
            var text = token()
            for _ in 0..<Int.random(in: 0...8, using: &random) {
                text += [":", ":", ":", ":", "::", ".", "."].randomElement(using: &random)! + token()
            }
            let ends = ["", "", "", "::", ":"]
            agree(ends.randomElement(using: &random)! + text + ends.randomElement(using: &random)!)
        }
        for _ in 0..<5_000 {
            // Four octets half the time; now and then a leading zero or one past 255.
            let count = Bool.random(using: &random) ? 4 : Int.random(in: 1...5, using: &random)
            agree((0..<count).map { _ in
                Int.random(in: 0..<8, using: &random) == 0 ? "0" + String(Int.random(in: 0..<10, using: &random))
                                                           : String(Int.random(in: 0..<270, using: &random))
            }.joined(separator: "."))
        }
        #expect(accepted.v4 > 500 && accepted.v6 > 500, "too few addresses among the texts to compare much: \(accepted)")
    }

    @Test("random addresses, zero runs included, are written as inet_ntop writes them and read back")
    func randomAddresses() {
        var random = Seeded(state: 0xC0FF_EE00_5EED_0001)
        for _ in 0..<20_000 {
            // Groups of 0, 1, ffff or anything, so runs of zeros of every
            // length and place, and the ::ffff: prefix, come up often.
            var bytes: [UInt8] = []
            for _ in 0..<8 {
                let group: UInt16 = switch Int.random(in: 0..<5, using: &random) {
                case 0, 1: 0
                case 2: 1
                case 3: 0xFFFF
                default: UInt16.random(in: 0...0xFFFF, using: &random)
                }
                bytes += [UInt8(group >> 8), UInt8(group & 0xFF)]
            }
            let address = IPAddress(bytes: bytes)
            #expect(address?.description == libcText(bytes), "\(bytes)")
            #expect(address.flatMap { IPAddress(literal: $0.description) } == address)
            let v4 = (0..<4).map { _ in UInt8.random(in: 0...255, using: &random) }
            #expect(IPAddress(bytes: v4)?.description == libcText(v4), "\(v4)")
        }
    }

    @Test("an endpoint's sockaddr is the one libc's literal makes")
    func sockaddrs() throws {
        let v4 = try #require(EndpointAddress(literal: "127.77.9.18", port: 20001))
        #expect(SocketAddress(v4) == SocketAddress(ipv4: (127, 77, 9, 18), port: 20001))
        #expect(v4.domain == AF_INET)
        let v6 = try #require(EndpointAddress(literal: "2001:db8::ff00:42:8329", port: 7))
        #expect(SocketAddress(v6) == SocketAddress(ipv6: try #require(libcBytes("2001:db8::ff00:42:8329")), port: 7))
        #expect(v6.domain == AF_INET6)
        v6.withSockaddrBytes { raw in
            #expect(raw.count == MemoryLayout<sockaddr_in6>.size)
            #expect(raw.load(as: sa_family_t.self) == sa_family_t(AF_INET6))
            #expect(Array(raw[8..<24]) == v6.addressBytes)
        }
        #expect(SocketAddress(EndpointAddress.anyIPv6(port: 7)) == SocketAddress.anyIPv6(port: 7))
        #expect(SocketAddress(EndpointAddress.anyIPv4(port: 7)) == SocketAddress.anyIPv4(port: 7))
        let unix = try #require(EndpointAddress(unixPath: "/run/x.sock"))
        #expect(SocketAddress(unix) == SocketAddress(unixPath: "/run/x.sock"))
        #expect(unix.domain == AF_UNIX)
        #expect(EndpointAddress(unixPath: String(repeating: "a", count: 107)) != nil)
        #expect(EndpointAddress(unixPath: String(repeating: "a", count: 108)) == nil, "sun_path holds 107 and the NUL")
        #expect(EndpointAddress(unixPath: "") == nil)
    }
}
