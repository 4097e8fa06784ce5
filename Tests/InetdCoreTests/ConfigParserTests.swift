import Glibc
@testable import InetdCore
import Testing

// Tests of the inetd.conf grammar (ConfigParser), the resolver with a fake
// name service (ServiceResolver), the reload decision (ReloadPlan), the
// command line (Invocation) and the --check listing (NormalizedTable).
//
// Lines marked "origin:" are copied unchanged (tabs included) from the file
// named; a few are uncommented copies of lines shipped commented out.

// `@testable`: UserRecord and Identity have no public initializer.

// MARK: - Fixtures

/// A name service from a table: no NSS, no /etc/services, no DNS.
struct FakeLookup: NameLookup {
    var ports: [String: UInt16] = [
        "echo/tcp": 7, "echo/udp": 7, "discard/tcp": 9, "discard/udp": 9,
        "daytime/tcp": 13, "daytime/udp": 13, "chargen/tcp": 19, "chargen/udp": 19,
        "ftp/tcp": 21, "ssh/tcp": 22, "telnet/tcp": 23, "smtp/tcp": 25,
        "time/tcp": 37, "time/udp": 37, "bootps/udp": 67, "tftp/udp": 69, "finger/tcp": 79,
        "pop3/tcp": 110, "ident/tcp": 113, "auth/tcp": 113, "netbios-ns/udp": 137,
        "netbios-ssn/tcp": 139, "imap2/tcp": 143, "comsat/udp": 512, "biff/udp": 512,
        "login/tcp": 513, "shell/tcp": 514, "ntalk/udp": 518, "uucp/tcp": 540,
        "swat/tcp": 901, "tcpmux/tcp": 1,
    ]
    var hosts: [String: [String]] = [
        "localhost": ["127.0.0.1", "::1"],
        "v4only.example": ["192.0.2.10"],
        "v6only.example": ["2001:db8::10"],
    ]
    var users: [String: UserRecord] = [:]
    var groupIDs: [String: gid_t] = [
        "root": 0, "wheel": 0, "daemon": 1, "tty": 5, "kmem": 15, "news": 9, "staff": 50,
        "telnetd": 104, "alice": 1000, "nogroup": 65534,
    ]
    /// Supplementary groups by user, as the group database lists them.
    var memberships: [String: [gid_t]] = ["alice": [50], "root": [0, 1, 15]]
    var effectiveUID: uid_t = 0
    var effectiveGID: gid_t = 0

    init(uid: uid_t = 0, gid: gid_t = 0) {
        effectiveUID = uid
        effectiveGID = gid
        for (name, uid, gid) in [("root", 0, 0), ("daemon", 1, 1), ("news", 9, 9), ("nobody", 65534, 65534),
                                 ("_fingerd", 101, 101), ("_identd", 102, 102), ("identd", 103, 65534),
                                 ("telnetd", 104, 104), ("tty", 105, 5), ("qmaild", 106, 106),
                                 ("alice", 1000, 1000), ("bob", 1001, 1001), ("odd.name", 1500, 1500)]
            as [(String, uid_t, gid_t)] {
            users[name] = UserRecord(name: name, uid: uid, gid: gid)
        }
    }

    static let root = FakeLookup()
    /// inetd started by alice, not root.
    static let alice = FakeLookup(uid: 1000, gid: 1000)

    func port(service name: String, proto: String) -> UInt16? { ports["\(name)/\(proto)"] }

    func addresses(host: String, family: IPAddress.Family) -> [IPAddress] {
        (hosts[host] ?? []).compactMap { IPAddress(literal: $0) }.filter { $0.family == family }
    }

    func user(named name: String) -> UserRecord? { users[name] }
    func group(named name: String) -> gid_t? { groupIDs[name] }

    func groups(user: String, gid: gid_t) -> [gid_t] {
        var list = memberships[user] ?? []
        if !list.contains(gid) { list.append(gid) }
        return list
    }
}

let file = "/etc/inetd.conf"

func parse(_ text: String) -> ConfigParser.Result {
    ConfigParser(file: file).parse(text)
}

/// The one entry a valid line gives; records an issue otherwise.
func entry(_ line: String, sourceLocation: SourceLocation = #_sourceLocation) -> ServiceEntry? {
    let result = parse(line)
    #expect(result.diagnostics.isEmpty, "\(line): \(result.diagnostics)", sourceLocation: sourceLocation)
    #expect(result.entries.count == 1, "\(line)", sourceLocation: sourceLocation)
    return result.entries.first
}

/// The diagnostic an invalid line gives, as printed: `FILE:LINE: message`.
func failure(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> String {
    let result = parse(text)
    #expect(result.entries.isEmpty, "\(text) should not parse", sourceLocation: sourceLocation)
    #expect(result.diagnostics.count == 1, "\(text): \(result.diagnostics)", sourceLocation: sourceLocation)
    return result.diagnostics.first.map { "\($0)" } ?? ""
}

struct Resolved {
    var services: [Service]
    var diagnostics: [Diagnostic]
    var messages: [String] { diagnostics.map(\.description) }
    var endpoints: [String] { services.flatMap(\.endpoints).map(\.description) }
}

func resolve(_ text: String, lookup: FakeLookup = .root) -> Resolved {
    let parsed = parse(text)
    let resolved = ServiceResolver(file: file, lookup: lookup).resolve(parsed.entries)
    return Resolved(services: resolved.services,
                    diagnostics: (parsed.diagnostics + resolved.diagnostics).sorted { $0.line < $1.line })
}

/// The one service a line gives with a root inetd; records an issue otherwise.
func service(_ line: String, lookup: FakeLookup = .root,
             sourceLocation: SourceLocation = #_sourceLocation) -> Service? {
    let result = resolve(line, lookup: lookup)
    #expect(result.diagnostics.isEmpty, "\(line): \(result.messages)", sourceLocation: sourceLocation)
    #expect(result.services.count == 1, "\(line)", sourceLocation: sourceLocation)
    return result.services.first
}

func range(_ text: String) -> AddressRange {
    let parts = text.split(separator: "/").map(String.init)
    let address = IPAddress(literal: parts[0])!
    return AddressRange(bytes: address.bytes, prefix: Int(parts[1])!)
}

// MARK: - Real files

@Suite("Lines from real inetd.conf files")
struct RealLineTests {
    // origin: OpenBSD src/etc/inetd.conf 1.65 (2014), active lines and the
    // commented-out ones with their '#' removed.
    static let openBSD = """
        ftp\t\tstream\ttcp\tnowait\troot\t/usr/libexec/ftpd\tftpd -US
        ftp\t\tstream\ttcp6\tnowait\troot\t/usr/libexec/ftpd\tftpd -US
        shell\t\tstream\ttcp\tnowait\troot\t/usr/libexec/rshd\trshd -L
        shell\t\tstream\ttcp6\tnowait\troot\t/usr/libexec/rshd\trshd -L
        finger\t\tstream\ttcp\tnowait\t_fingerd /usr/libexec/fingerd\tfingerd -lsm
        finger\t\tstream\ttcp6\tnowait\t_fingerd /usr/libexec/fingerd\tfingerd -lsm
        127.0.0.1:comsat dgram\tudp\twait\troot\t/usr/libexec/comsat\tcomsat
        [::1]:comsat\tdgram\tudp6\twait\troot\t/usr/libexec/comsat\tcomsat
        ntalk\t\tdgram\tudp\twait\troot\t/usr/libexec/ntalkd\tntalkd
        # Internal services
        echo\t\tstream\ttcp\tnowait\troot\tinternal
        echo\t\tstream\ttcp6\tnowait\troot\tinternal
        discard\tstream\ttcp\tnowait\troot\tinternal
        chargen\tstream\ttcp\tnowait\troot\tinternal
        daytime\t\tstream\ttcp\tnowait\troot\tinternal
        daytime\t\tstream\ttcp6\tnowait\troot\tinternal
        time\t\tstream\ttcp\tnowait\troot\tinternal
        echo\t\tdgram\tudp\twait\troot\tinternal
        echo\t\tdgram\tudp6\twait\troot\tinternal
        daytime\tdgram\tudp6\twait\troot\tinternal
        time\t\tdgram\tudp\twait\troot\tinternal
        """

    @Test("OpenBSD's shipped file parses and resolves, tcp/tcp6 pairs included")
    func openBSDFile() throws {
        let parsed = parse(Self.openBSD)
        #expect(parsed.diagnostics.isEmpty)
        #expect(parsed.entries.count == 20)
        #expect(parsed.entryLineCount == 20)
        let result = resolve(Self.openBSD)
        #expect(result.messages == [])
        #expect(result.services.count == 20)

        let finger = try #require(parsed.entries.first { $0.service == "finger" })
        #expect(finger.user == "_fingerd")
        #expect(finger.program == .path("/usr/libexec/fingerd"))
        #expect(finger.arguments == ["fingerd", "-lsm"])

        let comsat = try #require(result.services.first { $0.entry.service == "comsat" })
        #expect(comsat.entry.hosts == ["127.0.0.1"])
        #expect(comsat.endpoints.map(\.description) == ["127.0.0.1:512/udp4"])
        #expect(comsat.entry.wait)
        let comsat6 = try #require(result.services.last { $0.entry.service == "comsat" })
        #expect(comsat6.entry.hosts == ["::1"])
        #expect(comsat6.endpoints.map(\.description) == ["[::1]:512/udp6"])

        // `daytime tcp` + `daytime tcp6`: the tcp line keeps IPv4 and the
        // explicit tcp6 line takes the IPv6 socket, no duplicate reported.
        let daytime = result.services.filter { $0.entry.service == "daytime" && $0.entry.transport.kind == .tcp }
        #expect(daytime.map { $0.endpoints.map(\.description) } == [["0.0.0.0:13/tcp4"], ["[::]:13/tcp6"]])
        #expect(daytime.allSatisfy { $0.entry.program == .builtin("daytime") })
    }

    @Test("OpenBSD 1.12 (1996): user.group, rpc lines refused")
    func openBSD1996() throws {
        // origin: OpenBSD src/etc/inetd.conf 1.12 (1996)
        let ident = try #require(entry("ident\t\tstream\ttcp\twait nobody.kmem /usr/libexec/identd\tidentd -w -t60 -l -o -e -N -unobody -gkmem"))
        #expect(ident.wait)
        #expect(ident.user == "nobody.kmem")
        #expect(ident.arguments == ["identd", "-w", "-t60", "-l", "-o", "-e", "-N", "-unobody", "-gkmem"])
        let resolved = try #require(service("ident\t\tstream\ttcp\twait nobody.kmem /usr/libexec/identd\tidentd -w -t60"))
        #expect(resolved.identity?.uid == 65534)
        #expect(resolved.identity?.gid == 15)
        // origin: same file
        #expect(failure("rstatd/1-3\tdgram\trpc/udp\twait\troot\t/usr/libexec/rpc.rstatd\trpc.rstatd")
            == "/etc/inetd.conf:1: RPC services (rpc/udp) are not supported")
        // origin: same file (note the blank before the tab)
        let kshell = try #require(entry("kshell\t\tstream\ttcp\tnowait\troot\t/usr/libexec/rshd \trshd -k"))
        #expect(kshell.arguments == ["rshd", "-k"])
    }

    @Test("an OpenBSD install's ident lines (_identd, -el)")
    func openBSDIdent() throws {
        // origin: OpenBSD /etc/inetd.conf of a default install, as quoted in
        // an OpenBSD hardening guide
        let text = """
            ident           stream  tcp     nowait  _identd /usr/libexec/identd     identd -el
            ident           stream  tcp6    nowait  _identd /usr/libexec/identd     identd -el
            """
        let result = resolve(text)
        #expect(result.messages == [])
        #expect(result.endpoints == ["0.0.0.0:113/tcp4", "[::]:113/tcp6"])
        #expect(result.services.first?.identity?.uid == 102)
    }

    // origin: FreeBSD src/usr.sbin/inetd/inetd.conf, commented lines with '#' removed
    static let freeBSD = """
        ftp\tstream\ttcp\tnowait\troot\t/usr/libexec/ftpd\tftpd -l
        ftp\tstream\ttcp6\tnowait\troot\t/usr/libexec/ftpd\tftpd -l
        ssh\tstream\ttcp\tnowait\troot\t/usr/sbin/sshd\t\tsshd -i -4
        ssh\tstream\ttcp6\tnowait\troot\t/usr/sbin/sshd\t\tsshd -i -6
        finger\tstream\ttcp\tnowait/3/10 nobody /usr/libexec/fingerd\tfingerd -k -s
        finger\tstream\ttcp6\tnowait/3/10 nobody /usr/libexec/fingerd\tfingerd -k -s
        comsat\tdgram\tudp\twait\ttty:tty\t/usr/libexec/comsat\tcomsat
        ntalk\tdgram\tudp\twait\ttty:tty\t/usr/libexec/ntalkd\tntalkd
        tftp\tdgram\tudp\twait\troot\t/usr/libexec/tftpd\ttftpd -l -s /tftpboot
        tftp\tdgram\tudp6\twait\troot\t/usr/libexec/tftpd\ttftpd -l -s /tftpboot
        bootps\tdgram\tudp\twait\troot\t/usr/libexec/bootpd\tbootpd
        daytime stream\ttcp\tnowait\troot\tinternal
        daytime stream\ttcp6\tnowait\troot\tinternal
        time\t dgram\tudp\twait\troot\tinternal
        time\t dgram\tudp6\twait\troot\tinternal
        chargen dgram\tudp\twait\troot\tinternal
        smtp\tstream\ttcp\tnowait\tqmaild\t/var/qmail/bin/tcp-env\ttcp-env /var/qmail/bin/qmail-smtpd
        netbios-ssn stream tcp\tnowait\t\troot\t/usr/local/sbin/smbd\tsmbd
        netbios-ns dgram udp\twait\t\troot\t/usr/local/sbin/nmbd\tnmbd
        swat\tstream\ttcp\tnowait/400\troot\t/usr/local/sbin/swat\tswat
        """

    @Test("FreeBSD's shipped file parses and resolves")
    func freeBSDFile() throws {
        let parsed = parse(Self.freeBSD)
        #expect(parsed.diagnostics.isEmpty)
        #expect(parsed.entries.count == 20)
        let result = resolve(Self.freeBSD)
        #expect(result.messages == [])

        let finger = try #require(parsed.entries.first { $0.service == "finger" })
        #expect(finger.limits.maxConcurrent == 3)
        #expect(finger.limits.perSourceRate == 10)
        #expect(finger.limits.perSourceConcurrent == nil)
        let swat = try #require(parsed.entries.first { $0.service == "swat" })
        #expect(swat.limits.maxConcurrent == 400)
        let comsat = try #require(result.services.first { $0.entry.service == "comsat" })
        #expect(comsat.entry.user == "tty")
        #expect(comsat.entry.group == "tty")
        #expect(comsat.identity == Identity(user: "tty", uid: 105, gid: 5, groups: [5]))
        let ssh = try #require(parsed.entries.first { $0.service == "ssh" })
        #expect(ssh.arguments == ["sshd", "-i", "-4"])
    }

    @Test("FreeBSD lines naming unsupported things give one clear error each")
    func freeBSDUnsupported() {
        // origin: FreeBSD src/usr.sbin/inetd/inetd.conf
        #expect(failure("rstatd/1-3\tdgram rpc/udp wait root\t/usr/libexec/rpc.rstatd\t rpc.rstatd")
            == "/etc/inetd.conf:1: RPC services (rpc/udp) are not supported")
        #expect(failure("rquotad/1\tdgram rpc/udp6 wait root\t/usr/libexec/rpc.rquotad rpc.rquotad")
            == "/etc/inetd.conf:1: RPC services (rpc/udp6) are not supported")
        // origin: FreeBSD inetd.conf: the `auth` built-in (ident) is FreeBSD's own
        #expect(failure("auth\tstream\ttcp\tnowait\troot\tinternal\tauth -r -f -n -o UNKNOWN -t 30")
            == "/etc/inetd.conf:1: unknown built-in 'auth' (echo, discard, chargen, daytime, time)")
        #expect(failure("auth\tstream\ttcp6\tnowait\troot\tinternal")
            == "/etc/inetd.conf:1: unknown built-in 'auth' (echo, discard, chargen, daytime, time)")
        // origin: FreeBSD inetd(8), EXAMPLES
        #expect(failure("tcpmux/+date stream  tcp   nowait guest /bin/date                date")
            == "/etc/inetd.conf:1: tcpmux services are not supported")
        #expect(failure("tcpmux/phonebook stream tcp nowait guest /usr/local/bin/phonebook phonebook")
            == "/etc/inetd.conf:1: tcpmux services are not supported")
        // origin: FreeBSD inetd(8), TCPMUX
        #expect(failure("tcpmux\tstream\ttcp\tnowait\troot\tinternal")
            == "/etc/inetd.conf:1: unknown built-in 'tcpmux' (echo, discard, chargen, daytime, time)")
        // origin: FreeBSD inetd(8), EXAMPLES: a built-in on a unix socket
        #expect(failure("/var/run/echo stream unix  nowait root\tinternal")
            == "/etc/inetd.conf:1: built-in services run over tcp or udp, not unix")
        // FreeBSD user:group/login-class
        #expect(failure("ftp stream tcp nowait root:wheel/daemon /usr/libexec/ftpd ftpd -l")
            == "/etc/inetd.conf:1: login classes ('root:wheel/daemon') are not supported: use user[:group]")
        // FreeBSD socket types other than stream/dgram/seqpacket; T/TCP
        #expect(failure("echo raw tcp nowait root internal")
            == "/etc/inetd.conf:1: unsupported socket type 'raw' (stream, dgram, or seqpacket for unix)")
        #expect(failure("echo rdm udp wait root internal")
            == "/etc/inetd.conf:1: unsupported socket type 'rdm' (stream, dgram, or seqpacket for unix)")
        #expect(failure("ftp stream tcp/ttcp nowait root /usr/libexec/ftpd ftpd -l").hasPrefix(
            "/etc/inetd.conf:1: unknown protocol 'tcp/ttcp'"))
    }

    @Test("FreeBSD inetd(8) examples: tcp6, tcp46, unix with :user:group:mode:")
    func freeBSDManPage() throws {
        // origin: FreeBSD inetd(8), EXAMPLES
        let text = """
            ftp          stream  tcp   nowait root  /usr/libexec/ftpd        ftpd -l
            ntalk        dgram   udp   wait   root  /usr/libexec/ntalkd      ntalkd
            telnet       stream  tcp6  nowait root  /usr/libexec/telnetd  telnetd
            shell        stream  tcp46  nowait root  /usr/libexec/rshd rshd
            #@ ipsec ah/require
            chargen      stream  tcp   nowait root  internal
            #@
            """
        let result = resolve(text)
        #expect(result.messages == [])
        #expect(result.endpoints == [
            "0.0.0.0:21/tcp4", "[::]:21/tcp6",
            "0.0.0.0:518/udp4", "[::]:518/udp6",
            "[::]:23/tcp6",
            "[::]:514/tcp46",
            "0.0.0.0:19/tcp4", "[::]:19/tcp6",
        ])
        let shell = try #require(result.services.first { $0.entry.service == "shell" })
        #expect(shell.endpoints.map(\.ipv6Only) == [false])
        let telnet = try #require(result.services.first { $0.entry.service == "telnet" })
        #expect(telnet.endpoints.map(\.ipv6Only) == [true])

        // origin: FreeBSD inetd(8), "Unix Domain Sockets": ":news:daemon:220:/var/run/sock"
        let sock = try #require(service(":news:daemon:220:/var/run/sock stream unix nowait news /usr/libexec/nntpd nntpd"))
        #expect(sock.entry.service == "/var/run/sock")
        #expect(sock.entry.hosts == [])
        #expect(sock.entry.options.ownerUser == "news")
        #expect(sock.entry.options.ownerGroup == "daemon")
        #expect(sock.entry.options.mode == 0o220)
        #expect(sock.socketOwner?.uid == 9)
        #expect(sock.socketOwner?.gid == 1)
        #expect(sock.endpoints.map(\.description) == ["/var/run/sock/unix"])
        #expect(sock.endpoints.first?.kind == .unix)
        #expect(sock.endpoints.first?.address.family == .unix)
    }

    @Test("Debian: #<off># lines are comments, the rest runs")
    func debianFile() throws {
        // origin: Debian update-inetd test suite (t/update-inetd.t), the
        // inetd.conf it works on; `#<off># ` is update-inetd's disabled prefix
        let text = """
            # /etc/inetd.conf:  see inetd(8) for further informations.
            #
            # Internet superserver configuration database
            #
            #
            # Lines starting with "#:LABEL:" or "#<off>#" should not
            # be changed unless you know what you are doing!
            #
            # <service_name> <sock_type> <proto> <flags> <user> <server_path> <args>
            #
            #:INTERNAL: Internal services
            #discard\t\tstream\ttcp\tnowait\troot\tinternal
            #discard\t\tdgram\tudp\twait\troot\tinternal
            #<off># daytime\t\tstream\ttcp\tnowait\troot\tinternal
            time\t\tstream\ttcp\tnowait\troot\tinternal
            #time2\t\tstream\ttcp\tnowait\troot\tinternal

            #:STANDARD: These are standard services.

            #:BOOT: TFTP service is provided primarily for booting.  Most sites
            #       run this only on machines acting as "boot servers."
            """
        let parsed = parse(text)
        #expect(parsed.diagnostics.isEmpty)
        #expect(parsed.entryLineCount == 1)
        let time = try #require(parsed.entries.first)
        #expect(time.line == 15)
        #expect(time.service == "time")
        #expect(time.program == .builtin("time"))
    }

    @Test("Debian package lines: tftpd-hpa, identd, tcpd wrappers, user.group")
    func debianPackages() throws {
        // origin: tftpd-hpa's line as update-inetd adds it on Debian
        let tftp = try #require(service("tftp dgram udp wait root /usr/sbin/in.tftpd /usr/sbin/in.tftpd -s /srv/tftp"))
        #expect(tftp.entry.program == .path("/usr/sbin/in.tftpd"))
        #expect(tftp.entry.arguments == ["/usr/sbin/in.tftpd", "-s", "/srv/tftp"])
        #expect(tftp.endpoints.map(\.description) == ["0.0.0.0:69/udp4", "[::]:69/udp6"])
        #expect(tftp.identity?.uid == 0)
        // origin: Debian Reference, /etc/inetd.conf example (#:INFO:)
        let ident = try #require(service("ident stream tcp wait identd /usr/sbin/identd identd"))
        #expect(ident.entry.wait)
        #expect(ident.identity == Identity(user: "identd", uid: 103, gid: 65534, groups: [65534]))
        // origin: Debian Administrator's Handbook, inetd.conf example
        let talk = try #require(service("talk   dgram  udp wait   nobody.tty  /usr/sbin/in.talkd in.talkd",
                                        lookup: { var l = FakeLookup.root; l.ports["talk/udp"] = 517; return l }()))
        #expect(talk.identity?.user == "nobody")
        #expect(talk.identity?.gid == 5)
        // origin: Debian samba's postinst, as update-inetd writes it (disabled)
        #expect(parse("#<off># netbios-ssn     stream  tcp     nowait  root    /usr/sbin/tcpd  /usr/sbin/smbd").entryLineCount == 0)
        // origin: a Debian system's /etc/inetd.conf (tcpd wrapper)
        let telnet = try #require(entry("telnet          stream  tcp     nowait  telnetd /usr/sbin/tcpd  /usr/sbin/in.telnetd"))
        #expect(telnet.program == .path("/usr/sbin/tcpd"))
        #expect(telnet.arguments == ["/usr/sbin/in.telnetd"])
        // origin: a Debian LTSP server's inetd.conf: port numbers as service
        let ldm = try #require(service("9571           stream  tcp     nowait  nobody /usr/sbin/tcpd /usr/sbin/ldminfod"))
        #expect(ldm.endpoints.map(\.address.port) == [9571, 9571])
    }

    @Test("an entry broken over two lines, as the Debian Reference prints it")
    func debianWrapped() throws {
        // origin: Debian Reference, /etc/inetd.conf example: the entry runs
        // on in a line that starts with blanks, which OpenBSD reads as a
        // continuation
        let text = """
            ftp stream tcp nowait root /usr/sbin/tcpd /usr/sbin/in.ftpd
            telnet stream tcp nowait telnetd.telnetd /usr/sbin/tcpd
                                                     /usr/sbin/in.telnetd
            """
        let result = resolve(text)
        #expect(result.messages == [])
        let telnet = try #require(result.services.last)
        #expect(telnet.entry.line == 2)
        #expect(telnet.entry.arguments == ["/usr/sbin/in.telnetd"])
        #expect(telnet.identity == Identity(user: "telnetd", uid: 104, gid: 104, groups: [104]))
        #expect(result.services.first?.entry.arguments == ["/usr/sbin/in.ftpd"])
    }
}

// MARK: - Grammar

@Suite("inetd.conf grammar")
struct GrammarTests {
    @Test("comments, blank lines, CRLF and line numbers")
    func commentsAndLines() throws {
        let result = parse("# comment\n\n   \necho stream tcp nowait root internal\r\n#x\ndiscard stream tcp nowait root internal\n")
        #expect(result.diagnostics.isEmpty)
        #expect(result.entries.map(\.line) == [4, 6])
        #expect(result.entries.map(\.service) == ["echo", "discard"])
        #expect(parse("").entries.isEmpty)
        #expect(parse("").entryLineCount == 0)
    }

    @Test("a line that starts with a blank continues the entry")
    func continuation() throws {
        let result = parse("""
            ftp stream tcp nowait root
            \t/usr/libexec/ftpd ftpd
              -US -l
            echo stream tcp nowait root internal
            """)
        #expect(result.diagnostics.isEmpty)
        let ftp = try #require(result.entries.first)
        #expect(ftp.line == 1)
        #expect(ftp.program == .path("/usr/libexec/ftpd"))
        #expect(ftp.arguments == ["ftpd", "-US", "-l"])
        #expect(result.entries.last?.line == 4)
    }

    @Test("a CRLF file reads as its lines")
    func crlf() throws {
        let result = parse("# edited on Windows\r\necho stream tcp nowait root internal\r\n\r\ntime dgram udp wait root internal\r\n")
        #expect(result.diagnostics.isEmpty)
        #expect(result.entries.map(\.line) == [2, 4])
        #expect(result.entries.map(\.program) == [.builtin("echo"), .builtin("time")])
        let args = try #require(entry("x stream tcp nowait root /bin/prog prog -a\r\n"))
        #expect(args.arguments == ["prog", "-a"])
    }

    @Test("a line of blanks inside an entry neither ends nor breaks it")
    func blankOnlyLine() throws {
        let result = parse("ftp stream tcp nowait root /usr/libexec/ftpd\n \t \n\tftpd -US\n")
        #expect(result.diagnostics.isEmpty)
        #expect(result.entries.first?.arguments == ["ftpd", "-US"])
    }

    @Test("a continuation line with no entry line right before it is an error")
    func orphanContinuation() throws {
        #expect(failure("  ftpd -US") == "/etc/inetd.conf:1: continuation line with no entry before it")
        // The entry it would continue is commented out (update-inetd's
        // `#<off>#` on a wrapped entry): its tail must not become arguments
        // of the entry above the comment.
        let result = parse("""
            ftp stream tcp nowait root /usr/sbin/tcpd /usr/sbin/in.ftpd
            #<off># telnet stream tcp nowait telnetd.telnetd /usr/sbin/tcpd
                                                     /usr/sbin/in.telnetd
            """)
        #expect(result.entries.count == 1)
        #expect(result.entries.first?.arguments == ["/usr/sbin/in.ftpd"])
        #expect(result.diagnostics.map(\.line) == [3])
        // A blank line ends an entry too.
        let blank = parse("ftp stream tcp nowait root /usr/libexec/ftpd ftpd\n\n\t-US\n")
        #expect(blank.entries.first?.arguments == ["ftpd"])
        #expect(blank.diagnostics.map(\.line) == [3])
    }

    @Test("too few fields")
    func tooFewFields() {
        #expect(failure("echo stream tcp nowait root")
            == "/etc/inetd.conf:1: expected at least 6 fields (service socket-type protocol wait user program), found 5")
        #expect(failure("echo") == "/etc/inetd.conf:1: expected at least 6 fields (service socket-type protocol wait user program), found 1")
    }

    @Test("more than 20 arguments are all kept")
    func manyArguments() throws {
        let args = (0..<40).map { "a\($0)" }
        let e = try #require(entry("x stream tcp nowait root /bin/prog prog " + args.joined(separator: " ")))
        #expect(e.arguments == ["prog"] + args)
        #expect(e.arguments.count == 41)
    }

    @Test("argv[0] defaults to the program's base name when no argument is given")
    func defaultArgv0() throws {
        #expect(entry("x stream tcp nowait root /usr/libexec/ftpd")?.arguments == ["ftpd"])
    }

    @Test("a program that is neither absolute nor internal")
    func relativeProgram() {
        #expect(failure("ftp stream tcp nowait root ftpd ftpd")
            == "/etc/inetd.conf:1: server program 'ftpd' is not an absolute path or 'internal'")
    }

    @Test("socket type and protocol must go together")
    func socketTypes() throws {
        #expect(failure("echo dgram tcp nowait root internal")
            == "/etc/inetd.conf:1: socket type dgram does not go with protocol tcp")
        #expect(failure("echo stream udp wait root internal")
            == "/etc/inetd.conf:1: socket type stream does not go with protocol udp")
        #expect(failure("echo seqpacket tcp nowait root internal")
            == "/etc/inetd.conf:1: socket type seqpacket needs protocol unix")
        let seq = try #require(entry("/run/seq.sock seqpacket unix nowait - /bin/cat cat"))
        #expect(seq.socketType == .seqpacket)
        let dgram = try #require(entry("/run/dg.sock dgram unix wait - /bin/cat cat"))
        #expect(dgram.socketType == .dgram)
        #expect(failure("echo stream sctp nowait root internal")
            == "/etc/inetd.conf:1: unknown protocol 'sctp' (tcp, tcp4, tcp6, tcp46, udp, udp4, udp6, udp46, unix)")
    }

    @Test("every protocol name", arguments: [
        ("tcp", Transport.Kind.tcp, "tcp"), ("tcp4", .tcp, "tcp4"), ("tcp6", .tcp, "tcp6"), ("tcp46", .tcp, "tcp46"),
        ("udp", .udp, "udp"), ("udp4", .udp, "udp4"), ("udp6", .udp, "udp6"), ("udp46", .udp, "udp46"),
    ])
    func protocols(name: String, kind: Transport.Kind, written: String) throws {
        let type = kind == .tcp ? "stream" : "dgram"
        let e = try #require(entry("7007 \(type) \(name) wait - /bin/cat cat"))
        #expect(e.transport.kind == kind)
        #expect(e.transport.name == written)
    }

    @Test("sndbuf and rcvbuf (NetBSD)")
    func buffers() throws {
        let e = try #require(entry("echo stream tcp,sndbuf=65536,rcvbuf=32768 nowait root internal"))
        #expect(e.sendBuffer == 65536)
        #expect(e.receiveBuffer == 32768)
        #expect(e.transport.name == "tcp")
        #expect(entry("echo dgram udp6,rcvbuf=4096 wait root internal")?.receiveBuffer == 4096)
        #expect(failure("echo stream tcp,sndbuf=0 nowait root internal")
            == "/etc/inetd.conf:1: sndbuf must be a whole number from 1 to 1073741824, not '0'")
        #expect(failure("echo stream tcp,rcvbuf=big nowait root internal")
            == "/etc/inetd.conf:1: rcvbuf must be a whole number from 1 to 1073741824, not 'big'")
        #expect(failure("echo stream tcp,nodelay nowait root internal")
            == "/etc/inetd.conf:1: unknown protocol option 'nodelay' (sndbuf=N, rcvbuf=N)")
    }
}

// MARK: - Service field

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

// MARK: - Wait field

@Suite("wait field: .N, /C/R/P and ,key=value options")
struct WaitFieldTests {
    @Test("wait and nowait")
    func waitNowait() throws {
        #expect(entry("echo dgram udp wait root internal")?.wait == true)
        #expect(entry("echo stream tcp nowait root internal")?.wait == false)
        #expect(failure("echo stream tcp sometimes root internal")
            == "/etc/inetd.conf:1: wait field 'sometimes' must start with wait or nowait")
        #expect(failure("echo stream tcp nowaitx root internal")
            == "/etc/inetd.conf:1: wait field 'nowaitx': unexpected 'x' after nowait")
    }

    @Test(".N is a spawn rate per 60 s (OpenBSD)")
    func dotRate() throws {
        // origin: OpenBSD inetd(8): wait/nowait[.max]
        let e = try #require(entry("ftp stream tcp nowait.400 root /usr/libexec/ftpd ftpd -US"))
        #expect(e.limits.rate == 400)
        #expect(e.limits.maxConcurrent == nil)
        #expect(entry("tftp dgram udp wait.10 root /usr/libexec/tftpd tftpd")?.limits.rate == 10)
        #expect(failure("ftp stream tcp nowait. root /usr/libexec/ftpd ftpd")
            == "/etc/inetd.conf:1: the .N rate must be a whole number from 0 to 2147483647, not ''")
        #expect(failure("ftp stream tcp nowait.x root /usr/libexec/ftpd ftpd")
            == "/etc/inetd.conf:1: the .N rate must be a whole number from 0 to 2147483647, not 'x'")
    }

    @Test("/C/R/P (FreeBSD), full and partial")
    func slashLimits() throws {
        let c = try #require(entry("x stream tcp nowait/5 root /bin/cat cat"))
        #expect(c.limits.maxConcurrent == 5)
        #expect(c.limits.perSourceRate == nil)
        #expect(c.limits.perSourceConcurrent == nil)
        let cr = try #require(entry("x stream tcp nowait/5/20 root /bin/cat cat"))
        #expect(cr.limits.maxConcurrent == 5)
        #expect(cr.limits.perSourceRate == 20)
        #expect(cr.limits.perSourceConcurrent == nil)
        let crp = try #require(entry("x stream tcp nowait/5/20/2 root /bin/cat cat"))
        #expect(crp.limits.maxConcurrent == 5)
        #expect(crp.limits.perSourceRate == 20)
        #expect(crp.limits.perSourceConcurrent == 2)
        let zeros = try #require(entry("x stream tcp nowait/0/0/0 root /bin/cat cat"))
        #expect(zeros.limits.maxConcurrent == 0)
        #expect(entry("x stream tcp wait/1 root /bin/cat cat")?.limits.maxConcurrent == 1)
        let withOptions = try #require(entry("x stream tcp nowait/5/20,per-ip=3,name=x root /bin/cat cat"))
        #expect(withOptions.limits.perSourceConcurrent == 3)
        #expect(withOptions.options.name == "x")
        #expect(failure("x stream tcp nowait/1/2/3/4 root /bin/cat cat")
            == "/etc/inetd.conf:1: '/1/2/3/4': FreeBSD limits are /C/R/P, at most three numbers")
        #expect(failure("x stream tcp nowait/ root /bin/cat cat")
            == "/etc/inetd.conf:1: max-child must be a whole number from 0 to 2147483647, not ''")
        #expect(failure("x stream tcp nowait/5/x root /bin/cat cat")
            == "/etc/inetd.conf:1: connections per source per minute must be a whole number from 0 to 2147483647, not 'x'")
        #expect(failure("x stream tcp nowait/5/1/-1 root /bin/cat cat")
            == "/etc/inetd.conf:1: max-child per source must be a whole number from 0 to 2147483647, not '-1'")
    }

    @Test("every ,key=value option")
    func everyOption() throws {
        let e = try #require(entry(
            "7007 stream tcp nowait,max=10,per-ip=2,rate=100,per-ip-rate=30,ip-prefix=24/64,allow=10.0.0.0/8,allow=[2001:db8::]/32,deny=10.1.2.3,deny=::1,listen-fds,name=web,stderr=socket,backlog=128,timeout=30,proxy nobody /bin/cat cat"))
        #expect(e.limits.maxConcurrent == 10)
        #expect(e.limits.perSourceConcurrent == 2)
        #expect(e.limits.rate == 100)
        #expect(e.limits.perSourceRate == 30)
        #expect(e.limits.sourcePrefixV4 == 24)
        #expect(e.limits.sourcePrefixV6 == 64)
        #expect(e.options.allow == [range("10.0.0.0/8"), range("2001:db8::/32")])
        #expect(e.options.deny == [range("10.1.2.3/32"), range("::1/128")])
        #expect(e.options.listenFDs)
        #expect(e.options.name == "web")
        #expect(e.options.stderrToSocket)
        #expect(e.options.backlog == 128)
        #expect(e.options.timeoutSeconds == 30)
        #expect(e.options.proxy)
        #expect(e.options.mode == nil)

        let unix = try #require(entry("/run/x.sock stream unix nowait,mode=0660,owner=news:daemon - /bin/cat cat"))
        #expect(unix.options.mode == 0o660)
        #expect(unix.options.ownerUser == "news")
        #expect(unix.options.ownerGroup == "daemon")
        let ownerOnly = try #require(entry("/run/x.sock stream unix nowait,owner=news,mode=600 - /bin/cat cat"))
        #expect(ownerOnly.options.ownerUser == "news")
        #expect(ownerOnly.options.ownerGroup == nil)
        #expect(ownerOnly.options.mode == 0o600)
        // Defaults when no option is given.
        let plain = try #require(entry("7007 stream tcp nowait nobody /bin/cat cat"))
        #expect(plain.limits == Limits())
        #expect(plain.options == Options())
        #expect(plain.limits.sourcePrefixV4 == 32)
        #expect(plain.limits.sourcePrefixV6 == 64)
    }

    @Test("a NUL byte or a replaced invalid UTF-8 sequence refuses the line, in any field", arguments: [
        ("7007 stream tcp nowait nobody\u{0}evil /bin/cat cat", "field 5 has a NUL byte"),
        ("7007 stream tcp nowait root /bin/cat\u{0}/evil cat", "field 6 has a NUL byte"),
        ("7007 stream tcp nowait root /bin/cat cat -x\u{0}", "field 8 has a NUL byte"),
        ("7007 stream tcp nowait root /bin/\u{FFFD} cat", "field 6 is not valid UTF-8"),
        ("7007 stream tcp nowait,allow=127.0.0.1\u{0}/8 root /bin/cat cat", "field 4 has a NUL byte"),
    ])
    func nulAndInvalidUTF8(line: String, message: String) {
        #expect(failure(line) == "/etc/inetd.conf:1: \(message)")
    }

    @Test("a bad value for each option gives FILE:LINE: message", arguments: [
        ("max=x", "max must be a whole number from 0 to 2147483647, not 'x'"),
        ("max=-1", "max must be a whole number from 0 to 2147483647, not '-1'"),
        ("max=99999999999", "max must be a whole number from 0 to 2147483647, not '99999999999'"),
        ("max", "option 'max' needs a value (max=...)"),
        ("max=", "option 'max' needs a value (max=...)"),
        ("per-ip=1.5", "per-ip must be a whole number from 0 to 2147483647, not '1.5'"),
        ("rate=fast", "rate must be a whole number from 0 to 2147483647, not 'fast'"),
        ("per-ip-rate=+3", "per-ip-rate must be a whole number from 0 to 2147483647, not '+3'"),
        ("ip-prefix=24", "ip-prefix takes IPv4/IPv6 prefix lengths, as ip-prefix=24/64"),
        ("ip-prefix=33/64", "ip-prefix (IPv4) must be a whole number from 0 to 32, not '33'"),
        ("ip-prefix=24/129", "ip-prefix (IPv6) must be a whole number from 0 to 128, not '129'"),
        ("allow=10.0.0.0/33", "the prefix of '10.0.0.0/33' must be a whole number from 0 to 32, not '33'"),
        ("allow=example.com", "'example.com' is not an address or CIDR prefix"),
        ("allow", "option 'allow' needs a value (allow=...)"),
        ("deny=::1/129", "the prefix of '::1/129' must be a whole number from 0 to 128, not '129'"),
        ("deny=10.0.0/8", "'10.0.0/8' is not an address or CIDR prefix"),
        ("listen-fds=yes", "option 'listen-fds' takes no value"),
        ("name=a:b", "name 'a:b' must be at most 255 printable characters without ':'"),
        ("name=", "option 'name' needs a value (name=...)"),
        ("stderr=log", "stderr takes one value: stderr=socket"),
        ("backlog=0", "backlog must be a whole number from 1 to 65535, not '0'"),
        ("backlog=70000", "backlog must be a whole number from 1 to 65535, not '70000'"),
        ("timeout=0", "timeout must be a whole number from 1 to 31536000, not '0'"),
        ("timeout=5s", "timeout must be a whole number from 1 to 31536000, not '5s'"),
        ("proxy=v2", "option 'proxy' takes no value"),
        ("nodelay", "unknown option 'nodelay'"),
        ("user=root", "unknown option 'user'"),
        ("", "empty option in the wait field"),
    ])
    func badOption(option: String, message: String) {
        #expect(failure("7007 stream tcp nowait,\(option) nobody /bin/cat cat") == "/etc/inetd.conf:1: \(message)")
    }

    @Test("bad mode= and owner= on a unix socket", arguments: [
        ("mode=0888", "mode must be octal permission bits such as 0660, not '0888'"),
        ("mode=01777", "mode must be octal permission bits such as 0660, not '01777'"),
        ("mode=rw", "mode must be octal permission bits such as 0660, not 'rw'"),
        ("mode=", "option 'mode' needs a value (mode=...)"),
        ("owner=:daemon", "owner takes user[:group], not ':daemon'"),
        ("owner=news:", "owner takes user[:group], not 'news:'"),
        ("owner", "option 'owner' needs a value (owner=...)"),
    ])
    func badUnixOption(option: String, message: String) {
        #expect(failure("/run/x.sock stream unix nowait,\(option) - /bin/cat cat") == "/etc/inetd.conf:1: \(message)")
    }

    @Test("options that do not fit the service")
    func misfits() {
        #expect(failure("7007 stream tcp nowait,mode=0660 nobody /bin/cat cat")
            == "/etc/inetd.conf:1: mode= and owner= apply to unix sockets only")
        #expect(failure("7007 stream tcp nowait,owner=news nobody /bin/cat cat")
            == "/etc/inetd.conf:1: mode= and owner= apply to unix sockets only")
        #expect(failure("7007 stream tcp wait,stderr=socket nobody /bin/cat cat")
            == "/etc/inetd.conf:1: stderr=socket needs a nowait stream service")
        #expect(failure("7007 dgram udp nowait,stderr=socket nobody /bin/cat cat")
            == "/etc/inetd.conf:1: stderr=socket needs a nowait stream service")
        #expect(failure("7007 stream tcp wait,proxy nobody /bin/cat cat")
            == "/etc/inetd.conf:1: proxy needs a nowait stream service")
        #expect(failure("7007 dgram udp wait,proxy nobody /bin/cat cat")
            == "/etc/inetd.conf:1: proxy needs a nowait stream service")
        #expect(failure("echo stream tcp nowait,listen-fds root internal")
            == "/etc/inetd.conf:1: listen-fds does not apply to a built-in service")
    }

    @Test(".N and /C/R/P combine with options; options repeat")
    func combined() throws {
        let e = try #require(entry("x stream tcp nowait.60,max=4,allow=127.0.0.1,allow=::1 nobody /bin/cat cat"))
        #expect(e.limits.rate == 60)
        #expect(e.limits.maxConcurrent == 4)
        #expect(e.options.allow.count == 2)
    }
}

// MARK: - User and program fields

@Suite("user and program fields")
struct UserProgramTests {
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
}

// MARK: - Resolver

@Suite("resolver")
struct ResolverTests {
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

    @Test("an argument exec cannot take is an error on its line")
    func argumentTooLong() {
        let long = String(repeating: "a", count: 131_072)
        #expect(failure("7007 stream tcp nowait root /bin/cat cat \(long)")
            == "/etc/inetd.conf:1: argv[1] is 131072 bytes: exec takes at most 131071 per string")
        #expect(entry("7007 stream tcp nowait root /bin/cat cat \(long.dropLast())") != nil)
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

    @Test("the daemon's load leaves supplementary groups for after binding, then each is looked up")
    func groupsLookedUpAfterBinding() throws {
        let parsed = parse("""
            7007 stream tcp nowait alice /bin/cat cat
            7008 stream tcp nowait alice:staff /bin/cat cat
            7009 stream tcp nowait - /bin/cat cat
            """)
        let later = ServiceResolver(file: file, lookup: FakeLookup.root, lookUpGroups: false).resolve(parsed.entries)
        #expect(later.services.map { $0.identity?.groups } == [nil, nil, nil])
        #expect(later.services.map { $0.identity?.uid } == [1000, 1000, nil], "users are still looked up at load")
        LoadedConfiguration.lookUpGroups(later.services, lookup: FakeLookup.root)
        #expect(later.services.map { $0.identity?.groups } == [[50, 1000], [50], nil])
    }

    @Test("root resolves user, group and the user's groups")
    func rootIdentities() throws {
        let alice = try #require(service("7007 stream tcp nowait alice /bin/cat cat"))
        #expect(alice.identity == Identity(user: "alice", uid: 1000, gid: 1000, groups: [50, 1000]))
        let staff = try #require(service("7007 stream tcp nowait alice:staff /bin/cat cat"))
        #expect(staff.identity == Identity(user: "alice", uid: 1000, gid: 50, groups: [50]))
        let dotted = try #require(service("7007 stream tcp nowait alice.staff /bin/cat cat"))
        #expect(dotted.identity == Identity(user: "alice", uid: 1000, gid: 50, groups: [50]))
        // The split is kept, so the listing and logs show user and group.
        #expect(dotted.entry.user == "alice")
        #expect(dotted.entry.group == "staff")
        // A user whose name has a dot is that user, not user.group.
        let odd = try #require(service("7007 stream tcp nowait odd.name /bin/cat cat"))
        #expect(odd.identity?.uid == 1500)
        #expect(odd.identity?.gid == 1500)
        #expect(odd.entry.user == "odd.name")
        #expect(odd.entry.group == nil)
        let own = try #require(service("7007 stream tcp nowait - /bin/cat cat"))
        #expect(own.identity == nil)
        #expect(resolve("7007 stream tcp nowait alice:nosuch /bin/cat cat").messages
            == ["/etc/inetd.conf:1: unknown group 'nosuch'"])
        #expect(resolve("7007 stream tcp nowait alice.nosuch /bin/cat cat").messages
            == ["/etc/inetd.conf:1: unknown group 'nosuch'"])
        #expect(resolve("7007 stream tcp nowait carol /bin/cat cat").messages
            == ["/etc/inetd.conf:1: unknown user 'carol'"])
        #expect(resolve("/run/x.sock stream unix nowait,owner=carol - /bin/cat cat").messages
            == ["/etc/inetd.conf:1: unknown socket owner 'carol'"])
        #expect(resolve("/run/x.sock stream unix nowait,owner=news:nosuch - /bin/cat cat").messages
            == ["/etc/inetd.conf:1: unknown socket group 'nosuch'"])
    }

    @Test("not root: another user is refused clearly; - and its own user work")
    func nonRoot() throws {
        let lookup = FakeLookup.alice
        let refused = resolve("ftp stream tcp nowait root /usr/libexec/ftpd ftpd -l", lookup: lookup)
        #expect(refused.messages
            == ["/etc/inetd.conf:1: cannot run as root: inetd runs as uid 1000, not root (use '-' or that user)"])
        #expect(refused.services.isEmpty)
        #expect(resolve("7007 stream tcp nowait bob /bin/cat cat", lookup: lookup).messages
            == ["/etc/inetd.conf:1: cannot run as bob: inetd runs as uid 1000, not root (use '-' or that user)"])
        #expect(resolve("7007 stream tcp nowait alice:staff /bin/cat cat", lookup: lookup).messages
            == ["/etc/inetd.conf:1: cannot run as alice:staff: inetd runs as uid 1000, not root (use '-' or that user)"])

        let dash = try #require(service("7007 stream tcp nowait - /bin/cat cat", lookup: lookup))
        #expect(dash.identity == nil)
        let self_ = try #require(service("7007 stream tcp nowait alice /bin/cat cat", lookup: lookup))
        #expect(self_.identity == nil)
        let selfGroup = try #require(service("7007 stream tcp nowait alice:alice /bin/cat cat", lookup: lookup))
        #expect(selfGroup.identity == nil)
    }
}

// MARK: - Reload

@Suite("ReloadPlan")
struct ReloadPlanTests {
    func services(_ text: String) -> [Service] {
        let result = resolve(text)
        #expect(result.messages == [])
        return result.services
    }

    @Test("kept, closed and opened")
    func plan() {
        let before = services("""
            echo stream tcp nowait root internal
            7007 stream tcp4 nowait root /bin/cat cat
            /run/a.sock stream unix nowait root /bin/cat cat
            """)
        let after = services("""
            7007 stream tcp4 nowait,max=3 nobody /bin/other other
            echo stream tcp4 nowait root internal
            /run/a.sock dgram unix wait root /bin/cat cat
            daytime dgram udp wait root internal
            """)
        let plan = ReloadPlan(current: before.flatMap(\.endpoints), next: after)
        #expect(plan.kept.map(\.description) == ["0.0.0.0:7/tcp4", "0.0.0.0:7007/tcp4"])
        #expect(plan.closed.map(\.description) == ["[::]:7/tcp6", "/run/a.sock/unix"])
        #expect(plan.opened.map(\.description) == ["/run/a.sock/unix", "0.0.0.0:13/udp4", "[::]:13/udp6"])
    }

    @Test("tcp6 to tcp46 rebinds: IPV6_V6ONLY cannot change on a bound socket")
    func v6OnlyChange() {
        let before = services("7007 stream tcp6 nowait root /bin/cat cat")
        let after = services("7007 stream tcp46 nowait root /bin/cat cat")
        let plan = ReloadPlan(current: before.flatMap(\.endpoints), next: after)
        #expect(plan.kept.isEmpty)
        #expect(plan.closed.map(\.description) == ["[::]:7007/tcp6"])
        #expect(plan.opened.map(\.description) == ["[::]:7007/tcp46"])
    }

    @Test("an unchanged file keeps everything; an empty one closes everything")
    func unchangedAndEmpty() {
        let current = services(RealLineTests.freeBSD)
        let same = ReloadPlan(current: current.flatMap(\.endpoints), next: current)
        #expect(same.kept == current.flatMap(\.endpoints))
        #expect(same.closed.isEmpty && same.opened.isEmpty)
        let none = ReloadPlan(current: current.flatMap(\.endpoints), next: [])
        #expect(none.closed == current.flatMap(\.endpoints))
        #expect(none.kept.isEmpty && none.opened.isEmpty)
        let first = ReloadPlan(current: [], next: current)
        #expect(first.opened == current.flatMap(\.endpoints))
    }
}

// MARK: - Command line

@Suite("Invocation.parse")
struct InvocationTests {
    func parsed(_ arguments: [String]) -> Invocation? {
        if case .success(let invocation) = Invocation.parse(arguments) { return invocation }
        return nil
    }

    func usageError(_ arguments: [String]) -> String? {
        if case .failure(let error) = Invocation.parse(arguments) { return error.description }
        return nil
    }

    @Test("defaults")
    func defaults() throws {
        let i = try #require(parsed([]))
        #expect(i.action == .serve)
        #expect(!i.verbose)
        #expect(i.notifyFD == nil)
        #expect(i.configPath == "/etc/inetd.conf")
    }

    @Test("every flag")
    func flags() throws {
        #expect(parsed(["-d"])?.verbose == true)
        #expect(parsed(["--debug"])?.verbose == true)
        #expect(parsed(["--check"])?.action == .check)
        #expect(parsed(["--version"])?.action == .version)
        #expect(parsed(["--help"])?.action == .help)
        #expect(parsed(["-h"])?.action == .help)
        #expect(parsed(["--notify-fd", "3"])?.notifyFD == 3)
        #expect(parsed(["--notify-fd=4"])?.notifyFD == 4)
        #expect(parsed(["--notify-fd", "0"])?.notifyFD == 0)
        let all = try #require(parsed(["-d", "--check", "--notify-fd", "5", "/tmp/inetd.conf"]))
        #expect(all == {
            var i = Invocation()
            i.verbose = true
            i.action = .check
            i.notifyFD = 5
            i.configPath = "/tmp/inetd.conf"
            return i
        }())
    }

    @Test("CONFIG: any position, -, and after --")
    func configPath() {
        #expect(parsed(["inetd.conf.sample"])?.configPath == "inetd.conf.sample")
        #expect(parsed(["inetd.conf.sample", "-d"])?.configPath == "inetd.conf.sample")
        #expect(parsed(["inetd.conf.sample", "-d"])?.verbose == true)
        #expect(parsed(["-"])?.configPath == "-")
        #expect(parsed(["--", "-odd.conf"])?.configPath == "-odd.conf")
        #expect(parsed(["--", "-d"])?.verbose == false)
    }

    @Test("usage errors")
    func usageErrors() {
        #expect(usageError(["-x"]) == "unknown option '-x'")
        #expect(usageError(["--frobnicate"]) == "unknown option '--frobnicate'")
        #expect(usageError(["-dd"]) == "unknown option '-dd'")
        #expect(usageError(["--notify-fd"]) == "--notify-fd needs a descriptor number")
        #expect(usageError(["--notify-fd", "x"]) == "--notify-fd needs a descriptor number")
        #expect(usageError(["--notify-fd", "-1"]) == "--notify-fd needs a descriptor number")
        #expect(usageError(["--notify-fd", "99999999999"]) == "--notify-fd needs a descriptor number")
        #expect(usageError(["--notify-fd=x"]) != nil)
        #expect(usageError(["--notify-fd=-2"]) != nil)
        #expect(usageError(["a.conf", "b.conf"]) == "more than one CONFIG given")
        #expect(usageError(["--", "a.conf", "b.conf"]) == "more than one CONFIG given")
    }

    @Test("usage text names every flag")
    func usageText() {
        for flag in ["-d", "--check", "--notify-fd N", "--version", "--help", "CONFIG"] {
            #expect(Invocation.usage.contains(flag))
        }
        #expect(Invocation.version.hasPrefix("inetd "))
    }
}

// MARK: - --check listing

@Suite("NormalizedTable")
struct NormalizedTableTests {
    /// Renders, re-parses the listing, and compares endpoints and settings.
    func roundTrip(_ text: String, lookup: FakeLookup = .root,
                   sourceLocation: SourceLocation = #_sourceLocation) -> (String, Resolved) {
        let first = resolve(text, lookup: lookup)
        #expect(first.messages == [], sourceLocation: sourceLocation)
        let listing = NormalizedTable.render(first.services, file: file)
        let second = resolve(listing, lookup: lookup)
        #expect(second.messages == [], "\(listing)", sourceLocation: sourceLocation)
        #expect(second.endpoints == first.endpoints, "\(listing)", sourceLocation: sourceLocation)
        let before = first.services.flatMap { s in s.endpoints.map { _ in s } }
        #expect(before.count == second.services.count, sourceLocation: sourceLocation)
        for (a, b) in zip(before, second.services) {
            #expect(a.identity == b.identity, "\(listing)", sourceLocation: sourceLocation)
            #expect(a.entry.program == b.entry.program, sourceLocation: sourceLocation)
            #expect(a.entry.arguments == b.entry.arguments, sourceLocation: sourceLocation)
            #expect(a.entry.wait == b.entry.wait, sourceLocation: sourceLocation)
            #expect(a.entry.socketType == b.entry.socketType, sourceLocation: sourceLocation)
            #expect(a.entry.options == b.entry.options, "\(listing)", sourceLocation: sourceLocation)
            #expect(a.entry.sendBuffer == b.entry.sendBuffer, sourceLocation: sourceLocation)
            #expect(a.entry.receiveBuffer == b.entry.receiveBuffer, sourceLocation: sourceLocation)
            var limits = a.entry.limits
            // The listing spells out the cap only where it is in force: TCP built-ins.
            let builtinCap = a.entry.program.isBuiltin && a.entry.socketType == .stream && !a.entry.wait
            if builtinCap, limits.maxConcurrent == nil { limits.maxConcurrent = Limits.defaultMaxConcurrent }
            #expect(limits == b.entry.limits, "\(listing)", sourceLocation: sourceLocation)
            #expect(a.socketOwner?.uid == b.socketOwner?.uid, sourceLocation: sourceLocation)
            #expect(a.socketOwner?.gid == b.socketOwner?.gid, sourceLocation: sourceLocation)
        }
        return (listing, second)
    }

    @Test("the listing of the real files re-parses to the same endpoints")
    func realFiles() {
        _ = roundTrip(RealLineTests.openBSD)
        _ = roundTrip(RealLineTests.freeBSD)
    }

    @Test("the listing spells out every default, one socket per line")
    func listing() {
        let (listing, _) = roundTrip("""
            echo stream tcp nowait root internal
            127.0.0.1:7007 stream tcp nowait nobody internal echo
            """)
        #expect(listing == """
            # /etc/inetd.conf:1 uid=0 gid=0 groups=0,1,15
            0.0.0.0:7 stream tcp4 nowait,max=64 root internal echo
            # /etc/inetd.conf:1 uid=0 gid=0 groups=0,1,15
            [::]:7 stream tcp6 nowait,max=64 root internal echo
            # /etc/inetd.conf:2 uid=65534 gid=65534 groups=65534
            127.0.0.1:7007 stream tcp4 nowait,max=64 nobody internal echo

            """)
    }

    @Test("every option, unix sockets, buffers and groups survive the round trip")
    func everything() {
        _ = roundTrip("""
            7007 stream tcp46,sndbuf=8192,rcvbuf=4096 nowait/5/20/2,rate=100,ip-prefix=24/64,allow=10.0.0.0/8,allow=2001:db8::/32,deny=10.1.2.3,listen-fds,name=web,stderr=socket,backlog=128,timeout=30,proxy alice:staff /bin/cat cat -v
            ::1,127.0.0.1:7008 dgram udp wait.10 nobody.tty /bin/cat cat
            :news:daemon:220:/run/x.sock stream unix nowait - /bin/cat cat
            /run/y.sock seqpacket unix nowait,mode=0600,owner=alice:staff root /bin/cat cat
            localhost:7009 stream tcp nowait odd.name /bin/cat cat
            7010 stream tcp nowait - internal discard
            """)
    }

    @Test("user.group is listed as user:group")
    func dottedGroup() {
        let (listing, _) = roundTrip("7007 stream tcp4 nowait nobody.tty /bin/cat cat")
        #expect(listing.contains(" nobody:tty /bin/cat cat"))
    }

    @Test("not root: the listing keeps user:group and re-parses")
    func nonRoot() {
        let (listing, _) = roundTrip("""
            7007 stream tcp nowait alice:alice /bin/cat cat
            7008 stream tcp nowait - /bin/cat cat
            """, lookup: .alice)
        #expect(listing.contains("0.0.0.0:7007 stream tcp4 nowait alice:alice /bin/cat cat"))
        #expect(listing.contains("0.0.0.0:7008 stream tcp4 nowait - /bin/cat cat"))
        #expect(listing.contains("identity=unchanged"))
    }
}

@Test("Diagnostic prints FILE:LINE: message, warnings marked")
func diagnosticText() {
    #expect("\(Diagnostic(file: "a.conf", line: 3, message: "bad"))" == "a.conf:3: bad")
    #expect("\(Diagnostic(file: "a.conf", line: 3, message: "odd", severity: .warning))" == "a.conf:3: warning: odd")
}
