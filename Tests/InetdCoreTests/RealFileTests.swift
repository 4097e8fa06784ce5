@testable import InetdCore
import Testing

// Whole files and lines as OpenBSD, FreeBSD and Debian ship or document them;
// a few are uncommented copies of lines shipped commented out.

@Suite("Lines from real inetd.conf files")
struct RealFileTests {
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
