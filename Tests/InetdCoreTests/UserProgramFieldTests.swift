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
