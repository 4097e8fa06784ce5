import Glibc
import Testing
@testable import InetdCore

/// Which sources a UDP built-in answers (SPEC 4), from sockaddr bytes as
/// recvfrom gives them.
@Suite struct BuiltinSourceRuleTests {
    func answered(_ host: String, _ port: UInt16, builtinPorts: Set<UInt16> = []) -> Bool {
        let bytes = IPAddress(literal: host)!.bytes
        var raw = [UInt8](repeating: 0, count: bytes.count == 4 ? 16 : 28)
        raw.withUnsafeMutableBytes { p in
            p.storeBytes(of: UInt16(bytes.count == 4 ? AF_INET : AF_INET6), as: UInt16.self)
            p.storeBytes(of: port.bigEndian, toByteOffset: 2, as: UInt16.self)
        }
        raw.replaceSubrange((bytes.count == 4 ? 4 : 8)..<(bytes.count == 4 ? 8 : 24), with: bytes)
        return raw.withUnsafeBytes { DatagramBuiltins.acceptableSource($0, builtinPorts: builtinPorts) }
    }

    @Test func ordinaryClientsAreAnsweredOverEitherFamily() {
        #expect(answered("127.0.0.1", 40000))
        #expect(answered("192.0.2.7", 1024))
        #expect(answered("::1", 40000))
        #expect(answered("2001:db8::7", 40000))
        #expect(answered("::1234:5678:9abc", 40000), "not mapped, not compatible: an ordinary IPv6 address")
    }

    /// A udp46 socket sees its IPv4 clients as ::ffff:a.b.c.d: judged as
    /// that IPv4 address, loopback included.
    @Test func mappedSourcesAreJudgedAsTheirIPv4Address() {
        #expect(answered("::ffff:127.0.0.1", 40000))
        #expect(answered("::ffff:192.0.2.7", 40000))
        #expect(!answered("::ffff:255.255.255.255", 40000), "broadcast")
        #expect(!answered("::ffff:224.0.0.1", 40000), "multicast")
        #expect(!answered("::ffff:240.0.0.1", 40000), "240/4")
        #expect(!answered("::ffff:0.0.0.0", 40000), "unspecified")
        #expect(!answered("::ffff:0.1.2.3", 40000), "0/8")
        #expect(!answered("::ffff:127.0.0.1", 1023), "privileged port")
        #expect(!answered("::ffff:127.0.0.1", 7), "echo's port")
        #expect(!answered("::ffff:127.0.0.1", 19), "chargen's port")
        #expect(!answered("::ffff:127.0.0.1", 7007, builtinPorts: [7007]), "a configured built-in's port")
    }

    @Test func loopSourcesAreRefusedOverEitherFamily() {
        for port: UInt16 in [0, 53, 1023, 7, 9, 13, 19, 37] {
            #expect(!answered("127.0.0.1", port))
            #expect(!answered("::1", port))
        }
        #expect(!answered("127.0.0.1", 7007, builtinPorts: [7007]))
        #expect(!answered("::1", 7007, builtinPorts: [7007]))
        #expect(!answered("0.0.0.0", 40000))
        #expect(!answered("255.255.255.255", 40000))
        #expect(!answered("224.0.0.1", 40000))
        #expect(!answered("::", 40000))
        #expect(!answered("ff02::1", 40000))
        #expect(!answered("::127.0.0.2", 40000), "IPv4-compatible (deprecated)")
    }
}
