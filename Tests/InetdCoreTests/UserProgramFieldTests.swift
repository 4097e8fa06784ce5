@testable import InetdCore
import Testing

// The user and program fields (ConfigParser): user[:group] forms, built-ins,
// and arguments exec can take.

@Suite("user and program fields")
struct UserProgramFieldTests {
    @Test("user, user:group, user.group, -")
    func userForms() throws {
        let plain = try #require(entry("x stream tcp nowait nobody /bin/cat cat"))
        #expect(plain.user == "nobody")
        #expect(plain.group == nil)
        let colon = try #require(entry("x stream tcp nowait nobody:nogroup /bin/cat cat"))
        #expect(colon.user == "nobody")
        #expect(colon.group == "nogroup")
        // The dot is told apart by the resolver, which can look names up.
        let dot = try #require(entry("x stream tcp nowait nobody.tty /bin/cat cat"))
        #expect(dot.user == "nobody.tty")
        #expect(dot.group == nil)
        let own = try #require(entry("x stream tcp nowait - /bin/cat cat"))
        #expect(own.user == "-")
        #expect(failure("x stream tcp nowait -:tty /bin/cat cat")
            == "/etc/inetd.conf:1: '-' (inetd's own identity) takes no group")
        #expect(failure("x stream tcp nowait :tty /bin/cat cat")
            == "/etc/inetd.conf:1: user field ':tty': expected user[:group]")
        #expect(failure("x stream tcp nowait nobody: /bin/cat cat")
            == "/etc/inetd.conf:1: user field 'nobody:': expected user[:group]")
    }

    @Test("internal: the service field names the built-in")
    func internalByName() throws {
        for name in ["echo", "discard", "chargen", "daytime", "time"] {
            let e = try #require(entry("\(name) stream tcp nowait root internal"))
            #expect(e.program == .builtin(name))
            #expect(e.arguments == [name])
            #expect(entry("127.0.0.1:\(name) dgram udp wait root internal")?.program == .builtin(name))
        }
    }

    @Test("internal on a port number: the word after internal names it")
    func internalByPort() throws {
        // SPEC §2 example
        let e = try #require(entry("127.0.0.1:7007 stream tcp nowait nobody internal echo"))
        #expect(e.program == .builtin("echo"))
        #expect(e.arguments == ["echo"])
        #expect(e.service == "7007")
        #expect(entry("7019 dgram udp wait nobody internal chargen")?.program == .builtin("chargen"))
        #expect(failure("127.0.0.1:7007 stream tcp nowait nobody internal")
            == "/etc/inetd.conf:1: internal service on port 7007: name the built-in after 'internal' (echo, discard, chargen, daytime, time)")
        #expect(failure("7007 stream tcp nowait nobody internal qotd")
            == "/etc/inetd.conf:1: unknown built-in 'qotd' (echo, discard, chargen, daytime, time)")
        #expect(failure("/run/echo.sock stream unix nowait - internal echo")
            == "/etc/inetd.conf:1: built-in services run over tcp or udp, not unix")
    }

    @Test("an argument exec cannot take is an error on its line")
    func argumentTooLong() {
        let long = String(repeating: "a", count: 131_072)
        #expect(failure("7007 stream tcp nowait root /bin/cat cat \(long)")
            == "/etc/inetd.conf:1: argv[1] is 131072 bytes: exec takes at most 131071 per string")
        #expect(entry("7007 stream tcp nowait root /bin/cat cat \(long.dropLast())") != nil)
    }
}

/// argv and the handler environment against exec's argument space
/// (`ExecLimits`), with a small space so the edges are cheap to reach.
extension UserProgramFieldTests {
    func resolve(_ text: String, _ limits: ExecLimits) -> Resolved {
        let parsed = parse(text)
        let resolved = ServiceResolver(file: file, lookup: FakeLookup.root, execLimits: limits).resolve(parsed.entries)
        return Resolved(services: resolved.services, diagnostics: parsed.diagnostics + resolved.diagnostics)
    }

    @Test("argv that does not fit beside the handler environment is an error on its line")
    func argumentSpace() {
        let limits = ExecLimits(argumentSpace: 4096, environmentBytes: 1000)
        // The rest: the environment, 1,120 for the per-connection variables,
        // argv's and envp's NULLs (16) and "/bin/cat" with its NUL (9): 2,145.
        // argv: "cat" (4 + a pointer) and the argument (n + 1 + a pointer).
        let fits = String(repeating: "a", count: 4096 - 2145 - 12 - 9)
        #expect(resolve("7007 stream tcp nowait root /bin/cat cat \(fits)", limits).diagnostics.isEmpty)
        let over = resolve("7007 stream tcp nowait root /bin/cat cat \(fits)a", limits)
        #expect(over.services.isEmpty)
        #expect(over.messages == ["/etc/inetd.conf:1: argv takes 1952 bytes and the handler's environment 2145: "
                                  + "more than the 4096 exec takes (a quarter of the stack limit); every spawn would fail with E2BIG"])
        // The other lines still run.
        let mixed = resolve("""
            7007 stream tcp nowait root /bin/cat cat \(fits)a
            7008 stream tcp nowait root /bin/cat cat \(fits)
            7009 stream tcp nowait root internal echo
            """, limits)
        #expect(mixed.services.map(\.entry.line) == [2, 3])
        #expect(mixed.diagnostics.map(\.line) == [1])
        // Nothing is checked without limits.
        #expect(resolve("7007 stream tcp nowait root /bin/cat cat \(fits)a", .unlimited).diagnostics.isEmpty)
    }

    @Test("LISTEN_FDNAMES counts once per socket of a wait,listen-fds line")
    func argumentSpaceWithSocketNames() {
        let limits = ExecLimits(argumentSpace: 4096, environmentBytes: 1000)
        let name = String(repeating: "n", count: 200)
        // Two sockets (IPv4 and IPv6): "LISTEN_FDNAMES=" and 2 x 201 bytes.
        let fits = String(repeating: "a", count: 4096 - 2145 - 12 - 9 - 15 - 402)
        let line = "7007 stream tcp wait,listen-fds,name=\(name) root /bin/cat cat "
        #expect(resolve(line + fits, limits).diagnostics.isEmpty)
        #expect(resolve(line + fits + "a", limits).diagnostics.count == 1)
        #expect(resolve("127.0.0.1:" + line + fits + "a", limits).diagnostics.isEmpty, "one socket: one name")
    }

    @Test("the argument space is a quarter of the stack limit, within the kernel's bounds")
    func argumentSpaceBounds() {
        #expect(ExecLimits.argumentSpace(quarterOfStackLimit: 2 << 20) == 2 << 20)
        #expect(ExecLimits.argumentSpace(quarterOfStackLimit: Int.max / 4) == 6 << 20, "unlimited stack: 6 MiB")
        #expect(ExecLimits.argumentSpace(quarterOfStackLimit: 4096) == 128 << 10, "never below ARG_MAX")
        #expect(ExecLimits.environmentBytes(["A=1", "PATH=/bin"]) == 4 + 8 + 10 + 8)
    }
}
