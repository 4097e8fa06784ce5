import Glibc
@testable import InetdCore
import Testing

// Which inherited socket serves which endpoint (AdoptionPlan), and how
// LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES are read (ListenFdsVariables).

@Suite("AdoptionPlan")
struct AdoptionPlanTests {
    static let stream = CInt(SOCK_STREAM.rawValue), dgram = CInt(SOCK_DGRAM.rawValue)
    static let tcp = CInt(IPPROTO_TCP), udp = CInt(IPPROTO_UDP)

    func endpoints(_ text: String) -> [Endpoint] {
        let result = resolve(text)
        #expect(result.messages == [])
        return result.services.flatMap(\.endpoints)
    }

    /// A listening TCP socket (or bound UDP one) at `address`.
    static func socket(_ fd: CInt, _ address: SocketAddress, type: CInt = stream, protocolNumber: CInt? = nil,
                       listening: Bool = true, connected: Bool = false, ipv6Only: Bool = false,
                       name: String = "n") -> InheritedSocket {
        let domain = address.domain
        let facts = SocketFacts(domain: domain, type: type,
                                protocolNumber: protocolNumber ?? (domain == AF_UNIX ? 0 : type == dgram ? udp : tcp),
                                address: address, listening: listening && type != dgram, connected: connected,
                                ipv6Only: ipv6Only)
        return InheritedSocket(fd: FileDescriptor(rawValue: fd), name: name, facts: facts)
    }

    static let anyV6 = [UInt8](repeating: 0, count: 16)
    static let loopbackV6 = [UInt8](repeating: 0, count: 15) + [1]

    func adopted(_ plan: AdoptionPlan) -> [String: CInt] {
        Dictionary(uniqueKeysWithValues: plan.adopted.map { ($0.key.description, $0.value.fd.rawValue) })
    }

    func reasons(_ plan: AdoptionPlan) -> [CInt: Unadopted] {
        Dictionary(uniqueKeysWithValues: plan.unused.map { ($0.socket.fd.rawValue, $0.reason) })
    }

    @Test("tcp and tcp46 differ by IPV6_V6ONLY; IPv4 matches whatever the resolver writes there")
    func v6OnlyDecides() {
        let plan = AdoptionPlan(inherited: [
            Self.socket(3, SocketAddress(ipv4: (0, 0, 0, 0), port: 7007)),
            Self.socket(4, SocketAddress(ipv6: Self.anyV6, port: 7007), ipv6Only: true),
            Self.socket(5, SocketAddress(ipv6: Self.anyV6, port: 7008), ipv6Only: true),
            Self.socket(6, SocketAddress(ipv6: Self.anyV6, port: 7009), ipv6Only: false),
        ], endpoints: endpoints("""
            7007 stream tcp nowait root /bin/cat cat
            7008 stream tcp46 nowait root /bin/cat cat
            7009 stream tcp46 nowait root /bin/cat cat
            """))
        #expect(adopted(plan) == ["0.0.0.0:7007/tcp4": 3, "[::]:7007/tcp6": 4, "[::]:7009/tcp46": 6])
        #expect(reasons(plan) == [5: .noService])
    }

    @Test("exact address, port, type and protocol; unix by path")
    func exactMatch() {
        let plan = AdoptionPlan(inherited: [
            Self.socket(3, SocketAddress(ipv4: (127, 0, 0, 1), port: 7007)),
            Self.socket(4, SocketAddress(ipv4: (127, 0, 0, 2), port: 7007)),
            Self.socket(5, SocketAddress(ipv4: (127, 0, 0, 1), port: 7010)),
            Self.socket(6, SocketAddress(ipv4: (127, 0, 0, 1), port: 7011), type: Self.dgram),
            Self.socket(7, SocketAddress(ipv4: (127, 0, 0, 1), port: 7012), type: Self.dgram),
            Self.socket(8, SocketAddress(unixPath: "/run/a.sock")!),
            Self.socket(9, SocketAddress(unixPath: "/run/b.sock")!, type: Self.dgram),
            Self.socket(10, SocketAddress(ipv6: Self.loopbackV6, port: 7013), ipv6Only: true),
        ], endpoints: endpoints("""
            127.0.0.1:7007 stream tcp4 nowait root /bin/cat cat
            127.0.0.1:7010 dgram udp4 wait root /bin/cat cat
            127.0.0.1:7011 dgram udp4 wait root /bin/cat cat
            127.0.0.1:7012 stream tcp4 nowait root /bin/cat cat
            /run/a.sock stream unix nowait root /bin/cat cat
            /run/b.sock stream unix nowait root /bin/cat cat
            [::1]:7013 stream tcp6 nowait root /bin/cat cat
            """))
        #expect(adopted(plan) == ["127.0.0.1:7007/tcp4": 3, "127.0.0.1:7011/udp4": 6, "/run/a.sock/unix": 8,
                                  "[::1]:7013/tcp6": 10])
        #expect(reasons(plan) == [4: .noService, 5: .noService, 7: .noService, 9: .noService])
    }

    @Test("what can serve no line: not a socket, not listening, connected, unnamed, scoped, another protocol")
    func unusable() {
        let plan = AdoptionPlan(inherited: [
            InheritedSocket(fd: FileDescriptor(rawValue: 3), name: "file", facts: nil),
            Self.socket(4, SocketAddress(ipv4: (127, 0, 0, 1), port: 7007), listening: false),
            Self.socket(5, SocketAddress(ipv4: (127, 0, 0, 1), port: 7008), type: Self.dgram, connected: true),
            Self.socket(6, SocketAddress(ipv4: (127, 0, 0, 1), port: 0)),
            Self.socket(7, SocketAddress(ipv6: [0xFE, 0x80] + [UInt8](repeating: 0, count: 13) + [1], port: 7009, scope: 2),
                        ipv6Only: true),
            Self.socket(8, SocketAddress(ipv4: (127, 0, 0, 1), port: 7010), protocolNumber: 132),
            Self.socket(9, SocketAddress(ipv4: (127, 0, 0, 1), port: 7011), type: CInt(SOCK_SEQPACKET.rawValue)),
            Self.socket(10, SocketAddress(ipv4: (127, 0, 0, 1), port: 7012), type: CInt(SOCK_RAW.rawValue)),
        ], endpoints: endpoints("""
            127.0.0.1:7007 stream tcp4 nowait root /bin/cat cat
            127.0.0.1:7008 dgram udp4 wait root /bin/cat cat
            127.0.0.1:7010 stream tcp4 nowait root /bin/cat cat
            """))
        #expect(plan.adopted.isEmpty)
        #expect(reasons(plan) == [3: .notASocket, 4: .notListening, 5: .connected, 6: .unnamed, 7: .scoped,
                                  8: .transport(132), 9: .socketType(CInt(SOCK_SEQPACKET.rawValue)),
                                  10: .socketType(CInt(SOCK_RAW.rawValue))])
    }

    @Test("two sockets for one endpoint: the lower descriptor is adopted, the other unused")
    func firstWins() {
        let address = SocketAddress(ipv4: (127, 0, 0, 1), port: 7007)
        let plan = AdoptionPlan(inherited: [Self.socket(7, address), Self.socket(4, address)],
                                endpoints: endpoints("127.0.0.1:7007 stream tcp4 nowait root /bin/cat cat"))
        #expect(adopted(plan) == ["127.0.0.1:7007/tcp4": 4])
        #expect(reasons(plan) == [7: .duplicate(of: FileDescriptor(rawValue: 4))])
    }

    @Test("nothing inherited, or no service: nothing adopted")
    func empty() {
        #expect(AdoptionPlan(inherited: [], endpoints: endpoints("7007 stream tcp nowait root /bin/cat cat")).adopted.isEmpty)
        let lone = AdoptionPlan(inherited: [Self.socket(3, SocketAddress(ipv4: (127, 0, 0, 1), port: 7007))], endpoints: [])
        #expect(reasons(lone) == [3: .noService])
    }
}

@Suite("ListenFdsVariables")
struct ListenFdsVariablesTests {
    func read(pid: String? = "42", fds: String? = "2", names: String? = "a:b", limit: Int = 1024) -> ListenFdsVariables {
        ListenFdsVariables(pid: pid, fds: fds, names: names, ownPID: 42, descriptorLimit: limit)
    }

    @Test("LISTEN_PID naming inetd: fds from 3, one name each")
    func own() {
        let read = read()
        #expect(read.count == 2 && read.names == ["a", "b"] && read.problems.isEmpty)
        #expect(read.descriptors == 3..<5)
    }

    @Test("another pid, no pid, a pid that is no number: none adopted, each said")
    func pid() {
        #expect(read(pid: "41").problems == [.otherPID("41", own: 42)] && read(pid: "41").count == 0)
        #expect(read(pid: nil).problems == [.noPID] && read(pid: nil).count == 0)
        #expect(read(pid: nil, fds: nil, names: nil).problems.isEmpty, "no variable at all: nothing to say")
        for bad in ["", "+42", " 42", "42 ", "-1", "0", "4x", "99999999999999999999"] {
            #expect(read(pid: bad).problems == [.unreadablePID(bad)] && read(pid: bad).count == 0, "\(bad)")
        }
    }

    @Test("LISTEN_FDS: garbage refused, 0 or unset is nothing, past the limit cut to it")
    func count() {
        for bad in ["", "x", "-1", "+2", " 2", "2 "] {
            #expect(read(fds: bad).problems == [.unreadableCount(bad)] && read(fds: bad).count == 0, "\(bad)")
        }
        #expect(read(fds: "0").count == 0 && read(fds: "0").problems.isEmpty)
        #expect(read(fds: nil).count == 0 && read(fds: nil).problems.isEmpty)
        let huge = read(fds: "99999999999999999999999", names: nil, limit: 64)
        #expect(huge.count == 61 && huge.descriptors == 3..<64)
        #expect(huge.problems == [.tooMany("99999999999999999999999", kept: 61)])
    }

    @Test("LISTEN_FDNAMES missing, short or long: names in order, 'unknown' for the rest")
    func names() {
        #expect(read(names: nil).names == ["unknown", "unknown"] && read(names: nil).problems.isEmpty)
        let short = read(fds: "3", names: "a")
        #expect(short.names == ["a", "unknown", "unknown"] && short.problems == [.nameCount(names: 1, descriptors: 3)])
        let long = read(names: "a:b:c")
        #expect(long.names == ["a", "b"] && long.problems == [.nameCount(names: 3, descriptors: 2)])
        #expect(read(fds: "1", names: "").names == [""] && read(fds: "1", names: "").problems.isEmpty)
        #expect(read(names: "a:").names == ["a", ""])
        let colons = read(names: String(repeating: ":", count: 100_000))
        #expect(colons.names == ["", ""] && colons.problems == [.nameCount(names: 100_001, descriptors: 2)])
        #expect(read(fds: "1", names: String(repeating: "n", count: 1000)).names == [String(repeating: "n", count: 255)])
    }

    @Test("a hostile value is cut short in the log")
    func shown() {
        let long = String(repeating: "9", count: 5000)
        #expect(read(pid: long).problems.first!.description.count < 200)
    }
}
