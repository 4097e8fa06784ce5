@testable import InetdCore
import Testing

// The wait field (ConfigParser): wait/nowait, OpenBSD's `.N`, FreeBSD's
// `/C/R/P` and this project's `,key=value` options.

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

    @Test("stderr= takes log (the default), inherit and socket; wait and dgram lines too, but socket")
    func stderrModes() throws {
        #expect(entry("7007 stream tcp nowait nobody /bin/cat cat")?.options.stderr == nil)
        #expect(entry("7007 stream tcp nowait,stderr=log nobody /bin/cat cat")?.options.stderr == .log)
        #expect(entry("7007 dgram udp wait,stderr=inherit nobody /bin/cat cat")?.options.stderr == .inherit)
        #expect(entry("7007 stream tcp wait,listen-fds,stderr=log nobody /bin/cat cat")?.options.stderr == .log)
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
        #expect(e.options.stderr == .socket)
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
        ("stderr=journal", "stderr takes log, inherit or socket, not 'journal'"),
        ("stderr", "option 'stderr' needs a value (stderr=...)"),
        ("backlog=0", "backlog must be a whole number from 1 to 65535, not '0'"),
        ("backlog=70000", "backlog must be a whole number from 1 to 65535, not '70000'"),
        ("timeout=0", "timeout must be a whole number from 1 to 31536000, not '0'"),
        ("timeout=5s", "timeout must be a whole number from 1 to 31536000, not '5s'"),
        ("proxy=v2", "proxy takes no value or proxy=required, not 'v2'"),
        ("proxy-timeout=0", "proxy-timeout must be a whole number from 1 to 3600, not '0'"),
        ("nodelay", "unknown option 'nodelay' (the options are \(ConfigParser.optionNames.joined(separator: ", ")))"),
        ("user=root", "unknown option 'user' (the options are max, per-ip, rate, per-ip-rate, ip-prefix, allow, deny, "
            + "listen-fds, name, stderr, backlog, timeout, proxy, proxy-from, proxy-timeout, passenv, env, mode, owner)"),
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
        #expect(failure("echo stream tcp nowait,stderr=inherit nobody internal")
            == "/etc/inetd.conf:1: stderr=inherit does not apply to a built-in service: it has no stderr")
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
