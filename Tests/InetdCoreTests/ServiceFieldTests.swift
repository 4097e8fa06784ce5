@testable import InetdCore
import Testing

// The service field (ConfigParser): `addr:service`, the `addr:` default
// address line, unix socket paths with FreeBSD's owner prefix.

@Suite("service field: addresses and ports")
struct ServiceFieldTests {
    @Test("addr:service forms", arguments: [
        ("127.0.0.1:echo", ["127.0.0.1"], "echo"),
        ("[::1]:echo", ["::1"], "echo"),
        ("::1:7007", ["::1"], "7007"),
        ("[::]:7007", ["::"], "7007"),
        (":::7007", ["::"], "7007"),
        ("*:echo", ["*"], "echo"),
        ("localhost:echo", ["localhost"], "echo"),
        ("127.0.0.1,::1:7007", ["127.0.0.1", "::1"], "7007"),
        ("127.0.0.1,[::1],localhost:echo", ["127.0.0.1", "::1", "localhost"], "echo"),
        ("fe80::1:echo", ["fe80::1"], "echo"),
    ])
    func addressForms(field: String, hosts: [String], service: String) throws {
        let e = try #require(entry("\(field) stream tcp nowait root /bin/cat cat"))
        #expect(e.hosts == hosts)
        #expect(e.service == service)
    }

    @Test("bad addresses")
    func badAddresses() {
        #expect(failure("127.0.0.1: stream tcp nowait root internal")
            == "/etc/inetd.conf:1: service field '127.0.0.1:' names no service after the address")
        #expect(failure("[::1:echo stream tcp nowait root internal")
            == "/etc/inetd.conf:1: address '[::1' has no closing ']'")
        #expect(failure("[127.0.0.1]:echo stream tcp nowait root internal")
            == "/etc/inetd.conf:1: '[127.0.0.1]' is not an IPv6 address")
        #expect(failure("127.0.0.1,,::1:echo stream tcp nowait root internal")
            == "/etc/inetd.conf:1: empty address in '127.0.0.1,,::1'")
        #expect(failure("bad_host!:echo stream tcp nowait root internal")
            == "/etc/inetd.conf:1: 'bad_host!' is not an address or host name")
    }

    @Test("an addr: line sets the default address for the lines after it")
    func defaultAddress() throws {
        let result = parse("""
            echo stream tcp nowait root internal
            127.0.0.1:
            discard stream tcp nowait root internal
            [::1]:daytime stream tcp6 nowait root internal
            ::1:
            chargen stream tcp6 nowait root internal
            127.0.0.1,::1:
            time stream tcp nowait root internal
            *:
            7007 stream tcp nowait root /bin/cat cat
            """)
        #expect(result.diagnostics.isEmpty)
        #expect(result.entryLineCount == 6)
        #expect(result.entries.map(\.hosts) == [["*"], ["127.0.0.1"], ["::1"], ["::1"], ["127.0.0.1", "::1"], ["*"]])
        #expect(result.entries.map(\.line) == [1, 3, 4, 6, 8, 10])
        #expect(failure("bad!:") == "/etc/inetd.conf:1: 'bad!' is not an address or host name")
    }

    @Test("unix sockets: absolute paths, FreeBSD owner prefix")
    func unixPaths() throws {
        let e = try #require(entry("/run/inetd/echo.sock stream unix nowait - /bin/cat cat"))
        #expect(e.service == "/run/inetd/echo.sock")
        #expect(e.hosts == [])
        #expect(e.transport.kind == .unix)
        let partial = try #require(entry("::root:0600:/run/x.sock stream unix nowait - /bin/cat cat"))
        #expect(partial.options.ownerUser == nil)
        #expect(partial.options.ownerGroup == "root")
        #expect(partial.options.mode == 0o600)
        #expect(failure("run/x.sock stream unix nowait - /bin/cat cat")
            == "/etc/inetd.conf:1: unix socket path 'run/x.sock' is not absolute")
        #expect(failure(":news:daemon:/run/x.sock stream unix nowait - /bin/cat cat")
            == "/etc/inetd.conf:1: unix socket ':news:daemon:/run/x.sock': expected :user:group:mode:/path")
        #expect(failure(":news:daemon:999:/run/x.sock stream unix nowait - /bin/cat cat")
            == "/etc/inetd.conf:1: mode must be octal permission bits such as 0660, not '999'")
    }
}
