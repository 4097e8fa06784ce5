@testable import InetdCore
import Testing

// From entries to endpoints (ServiceResolver): which sockets each protocol
// opens, ports and host names looked up, and which lines may not share an
// address, port and protocol.

@Suite("resolver: endpoints")
struct EndpointResolutionTests {
    @Test("tcp: an IPv4 socket and an IPv6-only socket")
    func tcpBoth() throws {
        let s = try #require(service("echo stream tcp nowait root internal"))
        #expect(s.endpoints.map(\.description) == ["0.0.0.0:7/tcp4", "[::]:7/tcp6"])
        #expect(s.endpoints.map(\.address.family) == [.inet, .inet6])
        #expect(s.endpoints.map(\.ipv6Only) == [true, true])
        #expect(s.endpoints.allSatisfy { $0.kind == .tcp && $0.socketType == .stream && $0.address.isWildcard })
    }

    @Test("tcp4, tcp6, tcp46, udp, udp4, udp6, udp46, unix", arguments: [
        ("7007 stream tcp4 nowait root /bin/cat cat", ["0.0.0.0:7007/tcp4"], [true]),
        ("7007 stream tcp6 nowait root /bin/cat cat", ["[::]:7007/tcp6"], [true]),
        ("7007 stream tcp46 nowait root /bin/cat cat", ["[::]:7007/tcp46"], [false]),
        ("7007 dgram udp wait root /bin/cat cat", ["0.0.0.0:7007/udp4", "[::]:7007/udp6"], [true, true]),
        ("7007 dgram udp4 wait root /bin/cat cat", ["0.0.0.0:7007/udp4"], [true]),
        ("7007 dgram udp6 wait root /bin/cat cat", ["[::]:7007/udp6"], [true]),
        ("7007 dgram udp46 wait root /bin/cat cat", ["[::]:7007/udp46"], [false]),
        ("/run/x.sock stream unix nowait root /bin/cat cat", ["/run/x.sock/unix"], [false]),
        ("127.0.0.1,::1:7007 stream tcp nowait root /bin/cat cat", ["127.0.0.1:7007/tcp4", "[::1]:7007/tcp6"], [true, true]),
        ("localhost:echo stream tcp nowait root internal", ["127.0.0.1:7/tcp4", "[::1]:7/tcp6"], [true, true]),
        ("localhost:echo stream tcp4 nowait root internal", ["127.0.0.1:7/tcp4"], [true]),
        ("localhost:echo stream tcp6 nowait root internal", ["[::1]:7/tcp6"], [true]),
        ("v4only.example:7007 stream tcp nowait root /bin/cat cat", ["192.0.2.10:7007/tcp4"], [true]),
        ("127.0.0.1,127.0.0.1:7007 stream tcp nowait root /bin/cat cat", ["127.0.0.1:7007/tcp4"], [true]),
    ])
    func endpoints(line: String, expected: [String], ipv6Only: [Bool]) throws {
        let s = try #require(service(line))
        #expect(s.endpoints.map(\.description) == expected)
        #expect(s.endpoints.map(\.ipv6Only) == ipv6Only)
    }

    @Test("a wait,listen-fds line gives its handler at most 61 sockets (fds 3 to 63)")
    func listenFDsSocketCap() {
        let hosts = { (n: Int) in (1...n).map { "127.0.0.\($0)" }.joined(separator: ",") }
        #expect(resolve("\(hosts(61)):7007 stream tcp4 wait,listen-fds root /bin/cat cat").messages.isEmpty)
        #expect(resolve("\(hosts(62)):7007 stream tcp4 wait,listen-fds root /bin/cat cat").messages
            == ["/etc/inetd.conf:1: listen-fds hands a handler at most 61 sockets; this line has 62: split it"])
        #expect(resolve("\(hosts(62)):7007 stream tcp4 nowait,listen-fds root /bin/cat cat").messages.isEmpty,
                "nowait hands one connection")
    }

    @Test("port and address errors")
    func portErrors() {
        #expect(resolve("nosuch stream tcp nowait root /bin/cat cat").messages
            == ["/etc/inetd.conf:1: unknown service 'nosuch' for tcp (not in /etc/services)"])
        #expect(resolve("tftp stream tcp nowait root /bin/cat cat").messages
            == ["/etc/inetd.conf:1: unknown service 'tftp' for tcp (not in /etc/services)"])
        #expect(resolve("0 stream tcp nowait root /bin/cat cat").messages
            == ["/etc/inetd.conf:1: port 0 is out of range (1-65535)"])
        #expect(resolve("65536 stream tcp nowait root /bin/cat cat").messages
            == ["/etc/inetd.conf:1: port 65536 is out of range (1-65535)"])
        #expect(resolve("99999999999999999999999 stream tcp nowait root /bin/cat cat").messages
            == ["/etc/inetd.conf:1: port 99999999999999999999999 is out of range (1-65535)"])
        #expect(resolve("127.0.0.1:7007 stream tcp6 nowait root /bin/cat cat").messages
            == ["/etc/inetd.conf:1: IPv4 address 127.0.0.1 with protocol tcp6, which is IPv6"])
        #expect(resolve("127.0.0.1:7007 stream tcp46 nowait root /bin/cat cat").messages
            == ["/etc/inetd.conf:1: IPv4 address 127.0.0.1 with protocol tcp46, which is IPv6"])
        #expect(resolve("::1:7007 stream tcp4 nowait root /bin/cat cat").messages
            == ["/etc/inetd.conf:1: IPv6 address ::1 with protocol tcp4, which is IPv4"])
        #expect(resolve("nowhere.example:7007 stream tcp nowait root /bin/cat cat").messages
            == ["/etc/inetd.conf:1: host 'nowhere.example' has no tcp address"])
        #expect(resolve("v6only.example:7007 stream tcp4 nowait root /bin/cat cat").messages
            == ["/etc/inetd.conf:1: host 'v6only.example' has no tcp4 address"])
        let long = "/" + String(repeating: "x", count: 120)
        #expect(resolve("\(long) stream unix nowait root /bin/cat cat").messages
            == ["/etc/inetd.conf:1: unix socket path '\(long)' is longer than 107 bytes"])
        // owner= binds PATH.inetd-PID-N first: that name must fit too.
        let near = "/" + String(repeating: "x", count: 95)
        #expect(resolve("\(near) stream unix nowait root /bin/cat cat").messages.isEmpty)
        #expect(resolve("\(near) stream unix nowait,owner=root root /bin/cat cat").messages
            == ["/etc/inetd.conf:1: unix socket path '\(near)' is longer than 90 bytes: with owner=, inetd binds PATH.inetd-PID-N first, and that name must fit in 107"])
    }

    @Test("on one TCP port, an address and the wildcard of its family cannot both listen; UDP can")
    func wildcardBesideAddress() {
        let result = resolve("""
            127.0.0.1:7007 stream tcp nowait root /bin/cat cat
            [::]:7007 stream tcp6 nowait root /bin/cat cat
            [::]:7008 stream tcp46 nowait root /bin/cat cat
            127.0.0.1:7008 stream tcp4 nowait root /bin/cat cat
            [::1]:7009 stream tcp6 nowait root /bin/cat cat
            *:7009 stream tcp nowait root /bin/cat cat
            127.0.0.1:7010 dgram udp wait root /bin/cat cat
            *:7010 dgram udp wait root /bin/cat cat
            """)
        #expect(result.messages == [
            "/etc/inetd.conf:4: 127.0.0.1:7008/tcp4 cannot listen beside [::]:7008 of line 3: on one TCP port, a wildcard and an address exclude each other",
            "/etc/inetd.conf:6: [::]:7009/tcp6 cannot listen beside [::1]:7009 of line 5: on one TCP port, a wildcard and an address exclude each other",
        ])
        #expect(result.services.map(\.entry.line) == [1, 2, 3, 5, 7, 8], "IPv4 and IPv6 apart, and UDP, are fine")
    }

    @Test("the same address, port and protocol twice: the second line is the error")
    func duplicates() {
        let result = resolve("""
            echo stream tcp nowait root internal
            7 stream tcp4 nowait root /bin/cat cat
            7 dgram udp wait root /bin/cat cat
            127.0.0.1:7 stream tcp nowait root /bin/cat cat
            """)
        #expect(result.messages == [
            "/etc/inetd.conf:2: 0.0.0.0:7/tcp4 is already claimed by line 1",
            "/etc/inetd.conf:4: 127.0.0.1:7/tcp4 cannot listen beside 0.0.0.0:7 of line 1: on one TCP port, a wildcard and an address exclude each other",
        ])
        #expect(result.services.map(\.entry.line) == [1, 3])

        let unix = resolve("""
            /run/x.sock stream unix nowait root /bin/cat cat
            /run/x.sock dgram unix wait root /bin/cat cat
            """)
        #expect(unix.messages == ["/etc/inetd.conf:2: /run/x.sock/unix is already claimed by line 1"])

        // Two lines binding [::]:7007 are a conflict whatever IPV6_V6ONLY says.
        let v6 = resolve("""
            7007 stream tcp6 nowait root /bin/cat cat
            7007 stream tcp46 nowait root /bin/cat cat
            """)
        #expect(v6.messages == ["/etc/inetd.conf:2: [::]:7007/tcp46 is already claimed by line 1"])

        // A line whose own resolution fails claims nothing.
        let failed = resolve("""
            7007 stream tcp nowait nosuchuser /bin/cat cat
            7007 stream tcp nowait root /bin/cat cat
            """)
        #expect(failed.messages == ["/etc/inetd.conf:1: unknown user 'nosuchuser'"])
        #expect(failed.services.map(\.entry.line) == [2])
    }

    @Test("a tcp line's IPv6 wildcard yields to an explicit tcp6 line, in either order")
    func pairs() {
        let after = resolve("""
            daytime stream tcp6 nowait root internal
            daytime stream tcp nowait root internal
            tftp dgram udp wait root /usr/libexec/tftpd tftpd -l -s /tftpboot
            tftp dgram udp6 wait root /usr/libexec/tftpd tftpd -l -s /tftpboot
            """)
        #expect(after.messages == [])
        #expect(after.services.map { $0.endpoints.map(\.description) }
            == [["[::]:13/tcp6"], ["0.0.0.0:13/tcp4"], ["0.0.0.0:69/udp4"], ["[::]:69/udp6"]])
        // An IPv6 address written out is asked for, not implied: no yielding.
        let literal = resolve("""
            [::1]:7007 stream tcp nowait root /bin/cat cat
            [::1]:7007 stream tcp6 nowait root /bin/cat cat
            """)
        #expect(literal.messages == ["/etc/inetd.conf:2: [::1]:7007/tcp6 is already claimed by line 1"])
        // A tcp6 line that fails keeps nothing from the tcp line.
        let failed = resolve("""
            7007 stream tcp nowait root /bin/cat cat
            7007 stream tcp6 nowait carol /bin/cat cat
            """)
        #expect(failed.messages == ["/etc/inetd.conf:2: unknown user 'carol'"])
        #expect(failed.endpoints == ["0.0.0.0:7007/tcp4", "[::]:7007/tcp6"])
        // udp and tcp on one port are different sockets.
        let both = resolve("""
            echo stream tcp nowait root internal
            echo dgram udp wait root internal
            """)
        #expect(both.messages == [])
        #expect(both.endpoints.count == 4)
    }

    @Test("a tcp46 socket on [::] takes IPv4 too")
    func dualStackOverlap() {
        let result = resolve("""
            shell stream tcp46 nowait root /usr/libexec/rshd rshd
            shell stream tcp4 nowait root /usr/libexec/rshd rshd
            """)
        #expect(result.messages == ["/etc/inetd.conf:2: 0.0.0.0:514/tcp4 is already claimed by line 1"])
        #expect(result.services.count == 1)
        let reverse = resolve("""
            shell stream tcp4 nowait root /usr/libexec/rshd rshd
            shell stream tcp46 nowait root /usr/libexec/rshd rshd
            """)
        #expect(reverse.messages
            == ["/etc/inetd.conf:2: [::]:514/tcp46 takes IPv4 too, and 0.0.0.0:514 is already claimed by line 1"])
        // `tcp` and `tcp46`: the IPv6 half yields, the IPv4 half overlaps.
        let mixed = resolve("""
            shell stream tcp nowait root /usr/libexec/rshd rshd
            shell stream tcp46 nowait root /usr/libexec/rshd rshd
            """)
        #expect(mixed.messages
            == ["/etc/inetd.conf:2: [::]:514/tcp46 takes IPv4 too, and 0.0.0.0:514 is already claimed by line 1"])
        // A tcp46 socket on a specific IPv6 address does not take IPv4.
        let specific = resolve("""
            ::1:514 stream tcp46 nowait root /usr/libexec/rshd rshd
            shell stream tcp4 nowait root /usr/libexec/rshd rshd
            """)
        #expect(specific.messages == [])
    }
}
