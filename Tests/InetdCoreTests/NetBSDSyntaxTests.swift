@testable import InetdCore
import Testing

// NetBSD's inetd.conf: its key-values blocks (inetd.conf(5) since 2021,
// usr.sbin/inetd/parse_v2.c) mapped onto this project's lines and options,
// and its positional `stream,N` and `wait:N` (parse.c).

/// `FILE:LINE: message` for every diagnostic, in order.
private func messages(_ text: String) -> [String] {
    parse(text).diagnostics.map(\.description)
}

/// The one entry a block gives; records an issue otherwise.
private func block(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> ServiceEntry? {
    let result = parse(text)
    #expect(result.diagnostics.isEmpty, "\(text): \(result.diagnostics)", sourceLocation: sourceLocation)
    #expect(result.entries.count == 1, "\(text)", sourceLocation: sourceLocation)
    return result.entries.first
}

@Suite("NetBSD syntax: key-values blocks and positional accept_max")
struct NetBSDSyntaxTests {
    // origin: NetBSD src/tests/usr.sbin/inetd/inetd_ratelimit.conf 1.1
    // (2021), the file NetBSD's own tests give its inetd. Tabs kept.
    static let ratelimitConf = """
        # $NetBSD: inetd_ratelimit.conf,v 1.1 2021/08/29 09:54:18 christos Exp $

        127.0.0.1:

        #DGRAM WAIT SERVICE

        #Test ip_max of 3
        5432 on
        \tprotocol = udp,
        \twait = yes,
        \tuser = root,
        \tservice_max = 5,
        \tip_max = 3,
        \texec = test_server,
        \targs = test_server dgram wait;

        #Test ip_max of 0
        5433 on
        \tprotocol = udp,
        \twait = yes,
        \tuser = root,
        \tip_max = 0,
        \texec = test_server,
        \targs = test_server dgram wait;

        #Test service_max of 2
        5434 on
        \tprotocol = udp,
        \twait = yes,
        \tuser = root,
        \tservice_max = 2,
        \texec = test_server,
        \targs = test_server dgram wait;

        #Test service_max of 0
        5435 on
        \tprotocol = udp,
        \twait = yes,
        \tuser = root,
        \tservice_max = 0,
        \texec = test_server,
        \targs = test_server dgram wait;

        #STREAM WAIT SERVICE

        #Test service_max of 2
        5434 on
        \tprotocol = tcp,
        \twait = yes,
        \tuser = root,
        \tservice_max = 2,
        \texec = test_server,
        \targs = test_server stream wait;

        #Test service_max of 0
        5435 on
        \tprotocol = tcp,
        \twait = yes,
        \tuser = root,
        \tservice_max = 0,
        \texec = test_server,
        \targs = test_server stream wait;

        #STREAM NOWAIT SERVICE

        #Test ip_max of 3
        5436 on
        \tprotocol = tcp,
        \twait = no,
        \tuser = root,
        \tservice_max = 5,
        \tip_max = 3,
        \texec = test_server,
        \targs = test_server stream nowait;

        #Test ip_max of 0
        5437 on
        \tprotocol = tcp,
        \twait = no,
        \tuser = root,
        \tip_max = 0,
        \texec = test_server,
        \targs = test_server stream nowait;

        #Test service_max of 2
        5438 on
        \tprotocol = tcp,
        \twait = no,
        \tuser = root,
        \tservice_max = 2,
        \texec = test_server,
        \targs = test_server stream nowait;

        #Test service_max of 0
        5439 on
        \tprotocol = tcp,
        \twait = no,
        \tuser = root,
        \tservice_max = 0,
        \texec = test_server,
        \targs = test_server stream nowait;

        """

    static let neverServes = "never serves"

    @Test("NetBSD's own test file: every block read; a relative exec and each 0 limit refused on its line")
    func netBSDTestFileAsShipped() {
        let result = parse(Self.ratelimitConf)
        #expect(result.entries.isEmpty)
        #expect(result.entryLineCount == 10)
        let relative = "server program 'test_server' is not an absolute path or 'internal'"
        let expected = [
            (14, relative), (22, "ip_max = 0 never serves"), (32, relative), (40, "service_max = 0 never serves"),
            (52, relative), (60, "service_max = 0 never serves"), (73, relative), (81, "ip_max = 0 never serves"),
            (91, relative), (99, "service_max = 0 never serves"),
        ]
        #expect(result.diagnostics.map(\.line) == expected.map(\.0))
        for (diagnostic, (line, text)) in zip(result.diagnostics, expected) {
            #expect(diagnostic.message.hasPrefix(text), "line \(line): \(diagnostic)")
        }
    }

    @Test("NetBSD's own test file with an absolute exec: service_max is rate=, ip_max is per-ip-rate=")
    func netBSDTestFileMapped() throws {
        let text = Self.ratelimitConf.replacing("exec = test_server", with: "exec = /usr/libexec/test_server")
        let result = parse(text)
        #expect(result.diagnostics.map(\.line) == [22, 40, 60, 81, 99], "the 0 limits alone: \(result.diagnostics)")
        let e = result.entries
        try #require(e.count == 5)
        #expect(e.map(\.line) == [8, 27, 47, 67, 86])
        #expect(e.map(\.service) == ["5432", "5434", "5434", "5436", "5438"])
        #expect(e.allSatisfy { $0.hosts == ["127.0.0.1"] }, "the 127.0.0.1: line applies to blocks")
        #expect(e.map(\.socketType) == [.dgram, .dgram, .stream, .stream, .stream], "inferred from the protocol")
        #expect(e.map(\.transport.kind) == [.udp, .udp, .tcp, .tcp, .tcp])
        #expect(e.map(\.wait) == [true, true, true, false, false])
        #expect(e.map(\.limits.rate) == [5, 2, 2, 5, 2])
        #expect(e.map(\.limits.perSourceRate) == [3, nil, nil, 3, nil])
        #expect(e.allSatisfy { $0.limits.maxConcurrent == nil && $0.limits.perSourceConcurrent == nil })
        #expect(e.allSatisfy { $0.user == "root" && $0.group == nil })
        #expect(e[0].program == .path("/usr/libexec/test_server"))
        #expect(e[0].arguments == ["test_server", "dgram", "wait"])
        #expect(e[4].arguments == ["test_server", "stream", "nowait"])
    }

    // origin: NetBSD src/tests/usr.sbin/inetd/t_accept_max.sh (2026), its
    // two inetd.conf files, with $(pwd) and $(whoami) filled in.
    @Test("accept_max and positional stream,N: handlers at once, the same as max=")
    func acceptMax() throws {
        let positional = try #require(entry("/tmp/t/sock stream,2 unix nowait alice /tmp/t/run run"))
        let keyValues = try #require(block("""
            /tmp/t/sock on
            \tsocktype = stream,
            \tprotocol = unix,
            \taccept_max = 2,
            \twait = no,
            \tuser = alice,
            \texec = /tmp/t/run,
            \targs = run;

            """))
        for e in [positional, keyValues] {
            #expect(e.limits.maxConcurrent == 2)
            #expect(e.socketType == .stream && e.transport.kind == .unix && !e.wait)
            #expect(e.service == "/tmp/t/sock" && e.program == .path("/tmp/t/run") && e.arguments == ["run"])
        }
        #expect(positional == ServiceEntry(line: 1, hosts: [], service: "/tmp/t/sock", socketType: .stream,
                                           transport: keyValues.transport, wait: false, limits: keyValues.limits,
                                           user: "alice", program: keyValues.program, arguments: ["run"]))
        #expect(entry("7007 stream,10 tcp nowait root /bin/cat cat")?.limits.maxConcurrent == 10)
        #expect(entry("7007 stream,10 tcp nowait,max=3 root /bin/cat cat")?.limits.maxConcurrent == 3,
                "the wait field comes later and replaces it")
    }

    // origin: NetBSD inetd.conf(5), "Key-Values Notation": the form
    //   [listen-addr:]service-spec {on|off} <option> = [value1],
    //   <option> = [value1] [value2] ..., <option> =, ...;
    // with several definitions on one line, a line that ends with a
    // positional definition, comments anywhere between on and ';', and
    // quoted values with its escapes.
    @Test("the man page's form: several definitions a line, a positional one last, comments anywhere")
    func manPageForm() throws {
        let result = parse("""
            127.0.0.1:echo on protocol = tcp, user = root, ipsec =, exec = internal; daytime on protocol = tcp,
            \tuser = root; 7007 stream tcp nowait root /bin/cat cat
            discard on# a comment right after on
            \t# a comment line inside the block
            \tprotocol = udp, # a comment after a comma
            \tuser = root # a comment before the ','
            \t, wait = yes;
            7008 on protocol = tcp, wait = no, user = root, exec = /bin/echo,
            \targs = echo "two words" 'single \\'quoted\\'' "tab\\there" "\\x41\\\\" a"b c"d "#not a comment";

            """)
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        let e = result.entries
        try #require(e.count == 5)
        #expect(e.map(\.service) == ["echo", "daytime", "7007", "discard", "7008"])
        #expect(e.map(\.line) == [1, 1, 2, 3, 8])
        #expect(e[0].hosts == ["127.0.0.1"] && e[1].hosts == ["*"])
        #expect(e[0].program == .builtin("echo") && !e[0].wait, "exec = internal; a stream built-in does not wait")
        #expect(e[1].program == .builtin("daytime"), "no exec: internal")
        #expect(e[3].program == .builtin("discard") && e[3].socketType == .dgram && e[3].wait)
        #expect(e[4].arguments == ["echo", "two words", "single 'quoted'", "tab\there", "A\\", "ab cd", "#not a comment"])
        #expect(parse("echo off protocol = tcp, user = root; 7007 stream tcp nowait root /bin/cat cat").entries.map(\.service)
                == ["7007"])
    }

    @Test("each key maps to a field or option of a line")
    func keys() throws {
        let all = try #require(block("""
            7007 on
                bind = 127.0.0.1,
                socktype = stream,
                protocol = tcp,
                sndbuf = 64k,
                recvbuf = 1m,
                wait = no,
                service_max = 100,
                ip_max = 10,
                accept_max = 5,
                user = alice,
                group = staff,
                exec = /usr/libexec/handler,
                args = handler -v;
            """))
        #expect(all.hosts == ["127.0.0.1"] && all.service == "7007")
        #expect(all.socketType == .stream && all.transport == Transport(kind: .tcp, families: .both))
        #expect(all.sendBuffer == 65536 && all.receiveBuffer == 1 << 20)
        #expect(!all.wait)
        #expect(all.limits.rate == 100 && all.limits.perSourceRate == 10 && all.limits.maxConcurrent == 5)
        #expect(all.limits.perSourceConcurrent == nil)
        #expect(all.user == "alice" && all.group == "staff")
        #expect(all.program == .path("/usr/libexec/handler") && all.arguments == ["handler", "-v"])
        #expect(all.options == Options())

        #expect(block("7007 on protocol = tcp6, wait = yes, user = root, exec = /bin/cat;")?.transport
                == Transport(kind: .tcp, families: .ipv6Only))
        #expect(block("7007 on protocol = udp4, wait = no, user = root, exec = /bin/cat;")?.socketType == .dgram)
        #expect(block("7007 on bind = ::1, protocol = tcp, wait = no, user = root, exec = /bin/cat;")?.hosts == ["::1"])
        #expect(block("7007 on bind = [::1], protocol = tcp, wait = no, user = root, exec = /bin/cat;")?.hosts == ["::1"])
        #expect(block("7007 on bind = localhost, protocol = tcp, wait = no, user = root, exec = /bin/cat;")?.hosts
                == ["localhost"])
        let unix = try #require(block("/run/x.sock on socktype = seqpacket, protocol = unix, wait = no, user = -, exec = /bin/cat;"))
        #expect(unix.socketType == .seqpacket && unix.transport.kind == .unix && unix.user == "-")
        #expect(block("7007 on protocol = tcp, wait = yes, user = root, exec = /bin/cat;")?.arguments == ["cat"],
                "no args: argv[0] from the path, as on a line")
        #expect(block("7007 on protocol = tcp, wait = no, user = root, exec = internal, args = echo;")?.program
                == .builtin("echo"))
        #expect(block("echo on protocol = udp, wait = no, user = root;")?.wait == false, "a wait given is kept")
        #expect(block("7007 on protocol = tcp, wait = no, user = root, exec = /bin/cat, args =;")?.arguments == ["cat"])
    }

    @Test("an error names the line of its key; a block with one is skipped, the rest still run")
    func errorsOnTheirLines() {
        #expect(messages("""
            7007 on
                protocol = tcp,
                wait = maybe,
                user = root,
                frob = 1,
                rcvbuf = 4k,
                user = bob,
                exec = /bin/cat;
            7008 stream tcp nowait root /bin/cat cat
            """) == [
                "/etc/inetd.conf:3: wait takes yes or no, not 'maybe'",
                "/etc/inetd.conf:5: unknown key 'frob' (bind, socktype, protocol, sndbuf, recvbuf, wait, service_max, ip_max, accept_max, user, group, exec, args)",
                "/etc/inetd.conf:6: unknown key 'rcvbuf': NetBSD's key is recvbuf",
                "/etc/inetd.conf:7: 'user' is given twice (first on line 4)",
            ])
        #expect(parse("7007 on protocol = tcp, user = root, wait = maybe;\n7008 stream tcp nowait root /bin/cat cat")
            .entries.map(\.service) == ["7008"])
        #expect(messages("7007 on\n  protocol = tcp\n  user = root,\n  wait = no;") == [
            "/etc/inetd.conf:2: 'protocol' takes one value, not 4: tcp user = root (is a ',' missing before 'user'?)",
        ])
        #expect(messages("7007 on\n  user = root,\n  exec = /bin/cat;") == [
            "/etc/inetd.conf:1: '7007 on' has no protocol, wait: NetBSD requires them (wait unless exec is internal)",
        ])
        #expect(messages("7007 on protocol = unix, user = root, wait = no, exec = /bin/cat;")
            == ["/etc/inetd.conf:1: '7007 on' has no socktype: protocol unix needs one"])
        #expect(messages("7007 on\n protocol = tcp,\n socktype = dgram,\n wait = no, user = root, exec = /bin/cat;")
            == ["/etc/inetd.conf:3: socket type dgram does not go with protocol tcp"])
        #expect(messages("7007 on\n protocol = tcp, wait = no, user = root,\n exec = bin/cat;")
            == ["/etc/inetd.conf:3: server program 'bin/cat' is not an absolute path or 'internal'"])
        #expect(messages("7007 on\n protocol = tcp,\n user = root;")
            == ["/etc/inetd.conf:1: internal service on port 7007: name the built-in after 'internal' (echo, discard, chargen, daytime, time)"])
        #expect(messages("127.0.0.1:7007 on\n bind = ::1,\n protocol = tcp, wait = no, user = root, exec = /bin/cat;")
            == ["/etc/inetd.conf:2: bind repeats the address that '127.0.0.1:7007' gives"])
        #expect(messages("/run/s on bind = ::1, socktype = stream, protocol = unix, wait = no, user = root, exec = /bin/cat;")
            == ["/etc/inetd.conf:1: bind does not apply to a unix socket"])
        #expect(messages("7007 on protocol = tcp, wait = no, user = root:wheel, exec = /bin/cat;")
            == ["/etc/inetd.conf:1: user takes a name alone: give the group as group = NAME"])
        #expect(messages("7007 on protocol = tcp, wait = no, user = -,\n group = wheel, exec = /bin/cat;")
            == ["/etc/inetd.conf:2: '-' (inetd's own identity) takes no group"])
        #expect(block("7007 on protocol = tcp,sndbuf=1, wait = no, user = root, exec = /bin/cat;")?.sendBuffer == 1,
                "a comma ends the protocol: sndbuf is the next key")
        #expect(messages("7007 on protocol = \"tcp,sndbuf=1\", wait = no, user = root, exec = /bin/cat;")
            == ["/etc/inetd.conf:1: protocol takes a name alone: sndbuf and recvbuf are keys of their own"])
        #expect(messages("7007 on protocol = rpc/tcp, wait = no, user = root, exec = /bin/cat;")
            == ["/etc/inetd.conf:1: RPC services (rpc/tcp) are not supported"])
        #expect(messages("7007 on protocol = tcp, socktype = raw, wait = no, user = root, exec = /bin/cat;")
            == ["/etc/inetd.conf:1: unsupported socket type 'raw' (stream, dgram, or seqpacket for unix)"])
        #expect(messages("7007 on protocol = tcp, sndbuf = 2g, wait = no, user = root, exec = /bin/cat;")
            == ["/etc/inetd.conf:1: sndbuf must be a whole number from 1 to 1073741824, not '2g'"])
        #expect(messages("7007 on protocol = tcp, wait = no, user = root, exec = /bin/cat, args = a\0b;")
            == ["/etc/inetd.conf:1: a value of 'args' has a NUL byte"])
        #expect(messages("7007 on protocol = tcp, wait = no, user = root, exec = /bin/cat, args = \"\\xff\";")
            == ["/etc/inetd.conf:1: a value of 'args' is not valid UTF-8"])
    }

    @Test("keys with no meaning here are errors, never dropped")
    func refusedKeys() {
        #expect(messages("7007 on protocol = tcp, wait = no, user = root, exec = /bin/cat,\n acceptfilter = dataready;")
            == ["/etc/inetd.conf:2: acceptfilter: accept filters are a BSD kernel feature (SO_ACCEPTFILTER), not supported"])
        #expect(messages("7007 on protocol = tcp, wait = no, user = root, exec = /bin/cat,\n ipsec = \"in ipsec esp/require\";")
            == ["/etc/inetd.conf:2: ipsec: IPsec policies are not supported (only 'ipsec =', no policy, is)"])
        #expect(messages("7007 on protocol = tcp, wait = no, user = root, exec = /bin/cat, max = 3;").first?
            .hasPrefix("/etc/inetd.conf:1: unknown key 'max' (") == true)
        #expect(messages("7007 on protocol = tcp, wait = no, user = root, exec = /bin/cat, per-ip = 3;").first?
            .hasPrefix("/etc/inetd.conf:1: unknown key 'per-ip' (") == true)
    }

    @Test("a NetBSD 0 is refused, not read as this project's 'no limit'")
    func zeroLimits() {
        let base = "7007 on protocol = tcp, wait = no, user = root, exec = /bin/cat, "
        #expect(messages(base + "service_max = 0;") == ["/etc/inetd.conf:1: service_max = 0 never serves: NetBSD closes "
            + "the service at its first request; disable a service with 'off', or give a number from 1"])
        #expect(messages(base + "ip_max = 0;") == ["/etc/inetd.conf:1: ip_max = 0 never serves: NetBSD refuses every "
            + "source; disable a service with 'off', or give a number from 1"])
        #expect(messages(base + "accept_max = 0;") == ["/etc/inetd.conf:1: accept_max = 0 has no one meaning (NetBSD's "
            + "manual: never serve; its inetd: no cap): give a number from 1, or leave it out for the default cap (max=64)"])
        #expect(messages(base + "accept_max = -1;")
            == ["/etc/inetd.conf:1: accept_max must be a whole number from 1 to 2147483647, not '-1'"])
        #expect(messages(base + "service_max = 2147483648;")
            == ["/etc/inetd.conf:1: service_max must be a whole number from 1 to 2147483647, not '2147483648'"])
        #expect(block(base + "service_max = 1, ip_max = 1, accept_max = 1;")?.limits.rate == 1)
    }

    @Test("the structure: a missing '=', a missing ';', quotes and escapes")
    func structure() {
        // A key without '=': the block is skipped up to its ';', and what
        // follows is read again.
        let result = parse("""
            7007 on
                protocol tcp,
                user = root;
            7008 stream tcp nowait root /bin/cat cat
            """)
        #expect(result.diagnostics.map(\.description) == ["/etc/inetd.conf:2: expected '=' after 'protocol'"])
        #expect(result.entries.map(\.service) == ["7008"])
        #expect(messages("7007 on ;") == ["/etc/inetd.conf:1: expected a key, found ';'"])
        #expect(messages("7007 on protocol = tcp, , user = root;") == ["/etc/inetd.conf:1: expected a key, found ','"])
        #expect(messages("7007 on protocol = tcp,\n user = root\n# no ';'\n") == [
            "/etc/inetd.conf:1: '7007 on' is not ended by ';' before the end of the file",
        ])
        #expect(messages("7007 on\n protocol tcp,\n user = root\n") == [
            "/etc/inetd.conf:2: expected '=' after 'protocol'",
            "/etc/inetd.conf:1: '7007 on' is not ended by ';' before the end of the file",
        ])
        let unclosed = parse("7007 on protocol = tcp, wait = no, user = root, exec = /bin/cat,\n args = cat \"open;\n ;\n7008 stream tcp nowait root /bin/cat cat")
        #expect(unclosed.diagnostics.map(\.description) == ["/etc/inetd.conf:2: a quote (\") is not closed on its line"])
        #expect(unclosed.entries.map(\.service) == ["7008"], "a quote ends with its line, and the ';' after it the block")
        #expect(messages("7007 on protocol = tcp, wait = no, user = root, exec = /bin/cat,\n\n args = \"\\q\";")
            == ["/etc/inetd.conf:3: unknown escape '\\q' (\\\\ \\n \\t \\r \\' \\\" \\xHH)"])
        #expect(messages("7007 on protocol = tcp, wait = no, user = root, exec = /bin/cat, args = \"\\x4\";")
            == ["/etc/inetd.conf:1: '\\x' takes two hexadecimal digits"])
        #expect(parse("7007 on protocol = tcp, wait = no, user = root, exec = /bin/cat, args = \"a;b\" 'c,d' \"#\";")
            .entries.first?.arguments == ["a;b", "c,d", "#"])
        #expect(parse("7007 on protocol = tcp,\r\n wait = no,\r\n user = root,\r\n exec = /bin/cat;\r\n").entries.count == 1, "CRLF")
    }

    @Test("both syntaxes in one file: addr: lines, continuations, comments and entry counts")
    func mixedFile() throws {
        let result = parse("""
            ftp stream tcp nowait root /usr/libexec/ftpd
            \tftpd -l
            192.0.2.1:
            7007 on
            \tprotocol = tcp, wait = no, user = root,
            \texec = /bin/cat;
            telnet stream tcp nowait root /usr/libexec/telnetd
            \ttelnetd -a off
            *:
            7008 off protocol = tcp, wait = no, user = root, exec = /bin/cat;
            \tcontinues nothing
            7009 on protocol = tcp,
            \twait = no, user = root, exec = /bin/cat; 7010 stream tcp nowait root /bin/cat cat
            \t-u
            """)
        #expect(result.diagnostics.map(\.description) == ["/etc/inetd.conf:11: continuation line with no entry before it"])
        let e = result.entries
        try #require(e.count == 5)
        #expect(e.map(\.service) == ["ftp", "7007", "telnet", "7009", "7010"])
        #expect(e.map(\.line) == [1, 4, 7, 12, 13])
        #expect(e[0].arguments == ["ftpd", "-l"])
        #expect(e[1].hosts == ["192.0.2.1"] && e[2].hosts == ["192.0.2.1"])
        #expect(e[2].arguments == ["telnetd", "-a", "off"], "'off' as an argument is an argument")
        #expect(e[3].hosts == ["*"])
        #expect(e[4].arguments == ["cat", "-u"], "a line after a block's ';' takes continuations")
        #expect(result.entryLineCount == 5, "the off block is no entry")
    }

    @Test("an off block is read and checked like an on block, and opens nothing")
    func offBlocks() {
        let off = parse("7007 off protocol = tcp, wait = no, user = root, exec = /bin/cat;")
        #expect(off.entries.isEmpty && off.diagnostics.isEmpty && off.entryLineCount == 0)
        #expect(parse("7007 off# disabled\n protocol = tcp, wait = no, user = root, exec = /bin/cat;").entries.isEmpty)
        #expect(messages("7007 off\n protocol = tcp,\n wait = no, user = root, service_max = 0, exec = /bin/cat;")
            .first?.hasPrefix("/etc/inetd.conf:3: service_max = 0 never serves") == true)
        let resolved = resolve("7007 off protocol = tcp, wait = no, user = root, exec = /bin/cat;\n7007 stream tcp nowait root /bin/cat cat")
        #expect(resolved.messages.isEmpty, "an off block claims no port")
        #expect(resolved.services.count == 1)
    }

    @Test("positional NetBSD forms: stream,N, wait:N, k and m buffer sizes; 0 and accept filters refused")
    func positional() throws {
        let e = try #require(entry("ftp stream,4 tcp,rcvbuf=64k,sndbuf=1m nowait:40 root /usr/libexec/ftpd ftpd -ll"))
        #expect(e.limits.maxConcurrent == 4 && e.limits.rate == 40)
        #expect(e.receiveBuffer == 65536 && e.sendBuffer == 1 << 20)
        // origin: NetBSD inetd.conf(5): tcp,rcvbuf=16384 tcp,sndbuf=64k tcp,rcvbuf=64k,sndbuf=1m
        #expect(entry("x stream tcp,rcvbuf=16384 nowait root /bin/cat cat")?.receiveBuffer == 16384)
        #expect(entry("x stream tcp,sndbuf=64k nowait root /bin/cat cat")?.sendBuffer == 65536)
        #expect(entry("x dgram udp wait:10 root /bin/cat cat")?.limits.rate == 10)
        #expect(entry("x dgram udp wait.10 root /bin/cat cat")?.limits.rate == 10, "the dot too, as OpenBSD")
        #expect(entry("x stream tcp nowait:10,max=3 root /bin/cat cat")?.limits.maxConcurrent == 3)
        #expect(failure("x stream tcp nowait:0 root /bin/cat cat") == "/etc/inetd.conf:1: 'nowait:0' (NetBSD's service_max) "
            + "never serves: NetBSD closes the service at its first request; disable a service with 'off', or give a number from 1")
        #expect(failure("x stream tcp nowait:x root /bin/cat cat")
            == "/etc/inetd.conf:1: 'nowait:x' (NetBSD's service_max) must be a whole number from 1 to 2147483647, not 'x'")
        #expect(failure("x stream,0 tcp nowait root /bin/cat cat").hasPrefix(
            "/etc/inetd.conf:1: 'stream,0' (NetBSD's accept_max) has no one meaning"))
        #expect(failure("x stream, tcp nowait root /bin/cat cat")
            == "/etc/inetd.conf:1: 'stream,' (NetBSD's accept_max) must be a whole number from 1 to 2147483647, not ''")
        #expect(failure("x stream:dataready tcp nowait root /bin/cat cat")
            == "/etc/inetd.conf:1: 'stream:dataready': accept filters (NetBSD's socket-type:filter) are a BSD kernel feature, not supported")
        #expect(failure("x stream,5:httpready tcp nowait root /bin/cat cat").contains("accept filters"))
        #expect(failure("x dgram,5 udp wait root /bin/cat cat")
            == "/etc/inetd.conf:1: 'dgram,5': an accept limit (NetBSD's socket-type,N) goes with stream only")
        #expect(failure("x stream tcp,sndbuf=2m0 nowait root /bin/cat cat")
            == "/etc/inetd.conf:1: sndbuf must be a whole number from 1 to 1073741824, not '2m0'")
        #expect(failure("x stream tcp,sndbuf=2048m nowait root /bin/cat cat")
            == "/etc/inetd.conf:1: sndbuf must be a whole number from 1 to 1073741824, not '2048m'")
    }

    @Test("--check lists a block as the line it maps to, or as a block where a field could not hold a value")
    func listing() throws {
        let text = """
            127.0.0.1:
            7007 on protocol = tcp, wait = no, user = alice, group = staff, accept_max = 4, service_max = 30,
                ip_max = 5, sndbuf = 8k, exec = /bin/cat, args = cat -u;
            7008 on bind = ::1, protocol = udp6, wait = yes, user = root, exec = /bin/sh,
                args = sh -c "printf 'a b\\n'" "" "x#y";
            """
        let first = resolve(text)
        #expect(first.messages.isEmpty, "\(first.messages)")
        let listing = NormalizedTable.render(first.services, file: file)
        let lines = listing.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(lines == [
            "127.0.0.1:7007 stream tcp4,sndbuf=8192 nowait,max=4,rate=30,per-ip-rate=5,ip-prefix=32/64 alice:staff /bin/cat cat -u",
            "[::1]:7008 on socktype = dgram, protocol = udp6, wait = yes, user = root, exec = /bin/sh, "
                + "args = sh -c \"printf 'a b\\n'\" \"\" \"x#y\";",
        ])
        #expect(listing.contains("# /etc/inetd.conf:2 uid=1000 gid=50 groups="))
        let second = resolve(listing)
        #expect(second.messages.isEmpty, "\(listing)\n\(second.messages)")
        try #require(second.services.count == 2)
        for (a, b) in zip(first.services, second.services) {
            #expect(a.endpoints.map(\.description) == b.endpoints.map(\.description))
            #expect(a.entry.arguments == b.entry.arguments && a.entry.program == b.entry.program)
            #expect(a.entry.wait == b.entry.wait && a.entry.socketType == b.entry.socketType)
            #expect(a.entry.sendBuffer == b.entry.sendBuffer && a.identity == b.identity)
        }
        #expect(second.services[1].entry.arguments == ["sh", "-c", "printf 'a b\n'", "", "x#y"])
        #expect(NormalizedTable.quoted("plain") == "plain")
        #expect(NormalizedTable.quoted("a\u{1}\t\"\\") == "\"a\\x01\\t\\\"\\\\\"")
    }
}
