import Foundation
import Glibc
import Testing

// Config fuzzing: `inetd --check` on thousands of mutated inetd.conf files,
// then the daemon itself on a hundred of them, loopback only.
//
// The generator is deterministic: one fixed seed (printed; INETD_FUZZ_SEED
// overrides it, INETD_FUZZ_FILES the number of files) and splitmix64, so a
// failure names a seed and a file index that regenerate the same bytes, and
// the failing input is also copied to $TMPDIR/inetd-fuzz-failures/.
//
// Every input that ever crashed or hung inetd goes to Tests/Regressions/
// (see RegressionInputTests at the end), as do a few of the nastiest inputs.

// MARK: - Generator

/// splitmix64 (Steele, Lea and Flood): tiny, and the same numbers everywhere.
struct SplitMix64 {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
    mutating func inRange(_ range: ClosedRange<Int>) -> Int { range.lowerBound + below(range.count) }
}

enum FuzzCorpus {
    // origin: OpenBSD src/etc/inetd.conf (1.12 of 1996 and 1.65 of 2014),
    // commented-out lines with their '#' removed. Tabs kept.
    static let openBSD = [
        "ftp\t\tstream\ttcp\tnowait\troot\t/usr/libexec/ftpd\tftpd -US",
        "ftp\t\tstream\ttcp6\tnowait\troot\t/usr/libexec/ftpd\tftpd -US",
        "shell\t\tstream\ttcp\tnowait\troot\t/usr/libexec/rshd\trshd -L",
        "finger\t\tstream\ttcp\tnowait\t_fingerd /usr/libexec/fingerd\tfingerd -lsm",
        "127.0.0.1:comsat dgram\tudp\twait\troot\t/usr/libexec/comsat\tcomsat",
        "[::1]:comsat\tdgram\tudp6\twait\troot\t/usr/libexec/comsat\tcomsat",
        "ntalk\t\tdgram\tudp\twait\troot\t/usr/libexec/ntalkd\tntalkd",
        "echo\t\tstream\ttcp\tnowait\troot\tinternal",
        "daytime\t\tstream\ttcp6\tnowait\troot\tinternal",
        "time\t\tdgram\tudp\twait\troot\tinternal",
        "ident\t\tstream\ttcp\twait nobody.kmem /usr/libexec/identd\tidentd -w -t60 -l -o -e -N -unobody -gkmem",
        "kshell\t\tstream\ttcp\tnowait\troot\t/usr/libexec/rshd \trshd -k",
        "rstatd/1-3\tdgram\trpc/udp\twait\troot\t/usr/libexec/rpc.rstatd\trpc.rstatd",
        "ident           stream  tcp6    nowait  _identd /usr/libexec/identd     identd -el",
        "ftp stream tcp nowait.400 root /usr/libexec/ftpd ftpd -US",
        "tftp dgram udp wait.10 root /usr/libexec/tftpd tftpd",
        "127.0.0.1:",
        "[::1]:",
    ]

    // origin: FreeBSD src/usr.sbin/inetd/inetd.conf and inetd(8) EXAMPLES.
    static let freeBSD = [
        "ssh\tstream\ttcp\tnowait\troot\t/usr/sbin/sshd\t\tsshd -i -4",
        "finger\tstream\ttcp\tnowait/3/10 nobody /usr/libexec/fingerd\tfingerd -k -s",
        "comsat\tdgram\tudp\twait\ttty:tty\t/usr/libexec/comsat\tcomsat",
        "tftp\tdgram\tudp6\twait\troot\t/usr/libexec/tftpd\ttftpd -l -s /tftpboot",
        "bootps\tdgram\tudp\twait\troot\t/usr/libexec/bootpd\tbootpd",
        "time\t dgram\tudp\twait\troot\tinternal",
        "smtp\tstream\ttcp\tnowait\tqmaild\t/var/qmail/bin/tcp-env\ttcp-env /var/qmail/bin/qmail-smtpd",
        "netbios-ssn stream tcp\tnowait\t\troot\t/usr/local/sbin/smbd\tsmbd",
        "swat\tstream\ttcp\tnowait/400\troot\t/usr/local/sbin/swat\tswat",
        "auth\tstream\ttcp\tnowait\troot\tinternal\tauth -r -f -n -o UNKNOWN -t 30",
        "tcpmux/+date stream  tcp   nowait guest /bin/date                date",
        "shell        stream  tcp46  nowait root  /usr/libexec/rshd rshd",
        ":news:daemon:220:/var/run/sock stream unix nowait news /usr/libexec/nntpd nntpd",
        "/var/run/echo stream unix  nowait root\tinternal",
        "ftp stream tcp nowait root:wheel/daemon /usr/libexec/ftpd ftpd -l",
        "x stream tcp nowait/5/20/2 root /bin/cat cat",
        "#@ ipsec ah/require",
    ]

    // origin: Debian (update-inetd's file and test suite, package postinsts,
    // the Debian Reference and Administrator's Handbook examples).
    static let debian = [
        "#<off># daytime\t\tstream\ttcp\tnowait\troot\tinternal",
        "#:INTERNAL: Internal services",
        "tftp dgram udp wait root /usr/sbin/in.tftpd /usr/sbin/in.tftpd -s /srv/tftp",
        "ident stream tcp wait identd /usr/sbin/identd identd",
        "talk   dgram  udp wait   nobody.tty  /usr/sbin/in.talkd in.talkd",
        "telnet          stream  tcp     nowait  telnetd /usr/sbin/tcpd  /usr/sbin/in.telnetd",
        "9571           stream  tcp     nowait  nobody /usr/sbin/tcpd /usr/sbin/ldminfod",
        "telnet stream tcp nowait telnetd.telnetd /usr/sbin/tcpd",
        "                                         /usr/sbin/in.telnetd",
        "#<off># netbios-ssn     stream  tcp     nowait  root    /usr/sbin/tcpd  /usr/sbin/smbd",
        "discard\t\tdgram\tudp\twait\troot\tinternal",
    ]

    // Lines an operator converting from xinetd might write: the project's
    // ,key=value options for xinetd's instances, per_source, only_from,
    // no_access, cps and timeouts; user:group; tcp46/udp6; unix sockets.
    static let xinetd = [
        "telnet stream tcp nowait,max=50,per-ip=5,timeout=3600 telnetd:telnetd /usr/sbin/in.telnetd in.telnetd",
        "ftp stream tcp46 nowait,max=20,per-ip=3,allow=192.168.1.0/24,deny=192.168.1.66 root /usr/sbin/in.ftpd in.ftpd -l",
        "tftp dgram udp6 wait,rate=60 root:root /usr/sbin/in.tftpd in.tftpd -s /srv/tftp",
        "rsync stream tcp nowait,max=10,per-ip=2,allow=10.0.0.0/8,allow=[fd00::]/8,deny=10.9.9.9 nobody:nogroup /usr/bin/rsync rsync --daemon",
        "cvspserver stream tcp nowait,max=8,per-ip-rate=30,ip-prefix=24/64,name=cvs,backlog=64 nobody:nogroup /usr/bin/cvs cvs -f --allow-root=/srv/cvs pserver",
        "swat stream tcp4 nowait/400,allow=127.0.0.1,timeout=600 root /usr/sbin/swat swat",
        "git stream tcp nowait,max=32,per-ip=4,timeout=300,stderr=socket nobody:nogroup /usr/bin/git git daemon --inetd --base-path=/srv/git /srv/git",
        "imap2 stream tcp6 nowait,max=100,rate=600,proxy nobody:nogroup /usr/lib/dovecot/imap-login imap-login",
        "/run/inetd/echo.sock stream unix nowait,mode=0660,owner=nobody:nogroup - /bin/cat cat",
        ":nobody:nogroup:0600:/run/inetd/x.sock seqpacket unix nowait - /bin/cat cat",
        "/run/inetd/dg.sock dgram unix wait - /bin/true true",
        "daytime stream tcp46 nowait,max=4,deny=0.0.0.0/0,allow=::1 nobody internal",
        "127.0.0.1,[::1]:7007 stream tcp nowait,listen-fds,name=web nobody /bin/cat cat",
        "localhost:7008 dgram udp46,rcvbuf=65536 wait.10 nobody.nogroup /bin/cat cat",
        "7009 dgram udp nowait,max=0,rate=0 - /bin/true true",
        "7010 stream tcp,sndbuf=8192,rcvbuf=4096 nowait.60,max=4,allow=127.0.0.1,allow=::1 daemon /bin/cat cat -v",
        "127.0.0.1:7011 stream tcp nowait nobody internal echo",
        "7012 dgram udp4 wait - internal chargen",
        "7013 stream tcp nowait,ip-prefix=32/128,per-ip-rate=10 - /nonexistent x",
    ]

    // origin: NetBSD inetd.conf(5) and src/tests/usr.sbin/inetd (2021,
    // 2026): positional accept_max (stream,N), :N rates, k/m buffer sizes.
    static let netBSD = [
        "/tmp/sock stream,2 unix nowait root /tmp/run run",
        "ftp stream,10 tcp,rcvbuf=64k,sndbuf=1m nowait:40 root /usr/libexec/ftpd ftpd -ll",
        "comsat dgram udp wait:10 root /usr/libexec/comsat comsat",
        "7014 stream,4:dataready tcp nowait.0 root /bin/cat cat",
    ]

    // NetBSD's key-values blocks, from the same sources; never in a
    // daemon run's file, where `bind` could name any address.
    static let netBSDBlocks = [
        "5432 on\n\tprotocol = udp,\n\twait = yes,\n\tuser = root,\n\tservice_max = 5,\n\tip_max = 3,\n"
            + "\texec = test_server,\n\targs = test_server dgram wait;",
        "/tmp/sock on\n\tsocktype = stream,\n\tprotocol = unix,\n\taccept_max = 2,\n\twait = no,\n\tuser = root,\n"
            + "\texec = /tmp/run,\n\targs = run;",
        "echo on protocol = tcp, user = root, ipsec =; daytime off protocol = udp, user = root; 7 stream tcp nowait root internal",
        "7015 on# comment\n bind = ::1, protocol = tcp6, wait = no, user = nobody, group = nogroup, sndbuf = 8k,\n"
            + "  exec = /bin/sh, # comment\n  args = sh -c \"echo 'a b' # c\" '\\x41\\n' \"\";",
        "7016 off protocol = tcp, wait = maybe, user = root, exec = /bin/cat, service_max = 0, ip_max = 0, accept_max = 0;",
        "7017 on protocol tcp, user = root; 7018 on protocol = tcp, user = root, args = \"unclosed;",
    ]

    static let all = openBSD + freeBSD + debian + xinetd + netBSD + netBSDBlocks

    /// Numbers that overflow or are not numbers at all.
    static let evilNumbers = [
        "0", "-0", "-1", "1", "65535", "65536", "99999", "2147483647", "2147483648", "-2147483648",
        "-2147483649", "4294967295", "4294967296", "9223372036854775807", "9223372036854775808",
        "-9223372036854775808", "-9223372036854775809", "18446744073709551615", "18446744073709551616",
        "340282366920938463463374607431768211456", String(repeating: "9", count: 400), "+7", "0x7f", "1e9",
        "07", "0777", "0o777", "1_000", "\u{FF11}\u{FF12}", "\u{0663}", " ", "", "NaN", "inf", "1.5", "1,5",
        "00000000000000000000000000000000000000001",
    ]

    /// Port numbers for the daemon runs: out of range or in 40000-60000,
    /// never a low port that something real might use.
    static let loopbackSafePorts = ["0", "65536", "99999", "4294967296", "18446744073709551616", "-1",
                                    "55555", String(repeating: "9", count: 200)]

    static let badCIDRs = [
        "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "/8", "10.0.0/8", "256.0.0.0/8", "::1/129", "[::1]/200",
        "[::1", "::1]/8", "1.2.3.4/99999999999999999999", "fe80::1%eth0/64", "10.0.0.0/8/8", "*", "",
        "0.0.0.0/0", "::/0", "[2001:db8::]/32", "1.2.3.4.5", "::ffff:10.0.0.1/96", "10.0.0.1/08", ":::/1",
        "1::2::3", "example.com", "localhost", "10.0.0.0/+8", "10.0.0.0/ 8", "[]", "[]/0", "0/0", "1.2.3.4/4294967328",
    ]

    static let users = [
        "nosuchuser", "nosuchuser:nogroup", "root:nosuchgroup", "nobody:", ":wheel", "-:tty", "99999", "0",
        "root:0", "nobody.nosuch", "no.such.user", "root.", ".root", "nobody..tty", "root:wheel/daemon",
        "\u{2013}", "nobody,nogroup", "nobody;nogroup", "nobody.nogrop", "nobdy.nogroup", "root.root.root",
        "root:root:root", "nobody.nogroup", "nobody:nogroup", "-", "daemon", "nobody", "ROOT", "r\u{00F6}\u{00F6}t",
        String(repeating: "u", count: 300), "nobody:" + String(repeating: "g", count: 300), "4294967296",
    ]

    static let oddTokens = [
        "tcp7", "TCP", "udp,sndbuf=", "tcp,", "stream,", "nowait,", "wait.", "nowait/", ",", "nowait,,max=1",
        "nowait,max=1,max=2", "nowait.1.2", "wait/1/2/3/4", "nowait,=", "nowait,max==1", "Stream", "dgram6",
        "raw", "seqpacket", "unix", "rpc/tcp", "tcp/ttcp", "internal", "internal internal", "-", ":", "::", "[",
        "]", "\"quoted\"", "'q'", "\\", "$HOME", "`id`", "#", "#<off>#", "\u{00A0}", "\u{200B}", "\u{FEFF}",
    ]

    static let badAddresses = [
        "*:echo", "[::1:echo", "::::::7", "256.1.1.1:7", "127.0.0.1,,::1:7", "[fe80::1%lo]:7",
        String(repeating: "a", count: 300) + ":7", ":7", "[]:7", "1.2.3.4:", "bad_host!:", "*:", "0.0.0.0:7",
        "[::]:7", "127.0.0.1:", "127.0.0.1:7:8", "[::1]]:7", "[[::1]:7", "localhost.:7", "-:7",
        "/" + String(repeating: "x", count: 200), "relative.sock", ":a:b:c:d:/x", "::::/x", ":nobody:nogroup:999:/x",
        "127.1:7", "0x7f.1:7", "2130706433:7", "127.0.0.1%lo:7",
    ]

    static let invalidUTF8: [[UInt8]] = [
        [0xFF], [0xFE, 0xFF], [0xC0, 0x80], [0xC0, 0xAF], [0x80], [0xBF, 0xBF], [0xE2, 0x82], [0xED, 0xA0, 0x80],
        [0xF4, 0x90, 0x80, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xE0, 0x80, 0xAF], [0xC3], [0xF0, 0x9F, 0x98],
    ]
}

/// Makes config files from the corpus. `loopbackDirectory` non-nil makes a
/// file for a daemon run: a `127.0.0.1:` line first, every service field
/// chosen here (loopback hosts, ports 40000-60000 or invalid ones, unix
/// sockets inside that directory) and never mutated.
struct ConfigFuzzer {
    let seed: UInt64

    static let hugeLineEvery = 97
    static let manyArgumentsEvery = 89
    static let loopbackEvery = 20

    func rng(for index: Int) -> SplitMix64 {
        var rng = SplitMix64(seed: seed ^ (UInt64(index) &* 0xD1B5_4A32_D192_ED03))
        _ = rng.next()
        return rng
    }

    func file(index: Int, loopbackDirectory: String? = nil) -> [UInt8] {
        var rng = rng(for: index)
        var lines: [[UInt8]] = []
        let safe = loopbackDirectory != nil
        if let directory = loopbackDirectory {
            lines.append(Array("127.0.0.1:".utf8))
            for j in 0..<rng.inRange(1...5) {
                var line = loopbackLine(&rng, directory: directory, file: index, line: j)
                if rng.chance(50) {
                    for _ in 0..<rng.inRange(1...2) { line = mutate(line, &rng, safe: true) }
                }
                lines += split(line)
            }
        } else {
            if rng.chance(15) { lines.append(Array(rng.pick(["127.0.0.1:", "*:", "[::1]:", "bad!:", "::1,127.0.0.1:", "localhost:"]).utf8)) }
            for _ in 0..<rng.inRange(1...6) {
                var line = Array(rng.pick(FuzzCorpus.all).utf8)
                if rng.chance(65) {
                    for _ in 0..<rng.inRange(1...3) { line = mutate(line, &rng, safe: false) }
                }
                lines += split(line)
                if rng.chance(10) { lines.append(Array(rng.pick(["", "# comment", "#<off># x", " \t ", "\t"]).utf8)) }
            }
        }
        if index % Self.hugeLineEvery == 3 {
            let at = rng.below(lines.count - (safe ? 1 : 0)) + (safe ? 1 : 0)
            if at < lines.count { lines[at] = hugeLine(lines[at], &rng, safe: safe) } else { lines.append(hugeLine([], &rng, safe: safe)) }
        }
        if index % Self.manyArgumentsEvery == 5 {
            let at = rng.below(lines.count - (safe ? 1 : 0)) + (safe ? 1 : 0)
            if at < lines.count { lines[at] += manyArguments(&rng) }
        }
        let newline: [UInt8] = !safe && rng.chance(5) ? [13, 10] : [10]
        var bytes: [UInt8] = []
        for (i, line) in lines.enumerated() {
            bytes += line
            if i < lines.count - 1 || rng.chance(85) { bytes += newline }
        }
        if !safe {
            if rng.chance(3) { bytes = Array(bytes.prefix(rng.below(bytes.count + 1))) }
            if rng.chance(2) { bytes = (0..<rng.inRange(1...300)).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
        }
        return bytes
    }

    /// A line for a daemon run: fields 1... from the corpus, field 0 chosen
    /// so that it can only name a loopback address or a path in `directory`.
    func loopbackLine(_ rng: inout SplitMix64, directory: String, file: Int, line: Int) -> [UInt8] {
        var fields = fieldsOf(Array(rng.pick(FuzzCorpus.all.filter {
            !$0.hasPrefix("#") && !$0.hasPrefix(" ") && !$0.hasSuffix(":") && !FuzzCorpus.netBSDBlocks.contains($0)
        }).utf8))
        let port = 40000 + (file * 10 + line) % 20000
        let proto = fields.count > 2 ? String(decoding: fields[2], as: UTF8.self) : ""
        let original = String(decoding: fields[0], as: UTF8.self)
        if proto.hasPrefix("unix") {
            let path = "\(directory)/d\(file)-\(line).sock"
            fields[0] = Array(rng.pick([path, path, ":nobody:nogroup:0600:\(path)", "::root:0640:\(path)"]).utf8)
        } else {
            let six = proto.hasSuffix("6") || proto.hasSuffix("46")
            let hosts = six ? ["[::1]", "::1", "[::1]", "localhost", "[::1],localhost"]
                            : ["127.0.0.1", "127.0.0.2", "127.255.255.254", "localhost", "127.0.0.1,[::1]", "[::1]"]
            let service = rng.chance(5) ? rng.pick(FuzzCorpus.loopbackSafePorts) : "\(port)"
            fields[0] = Array((rng.chance(20) ? service : rng.pick(hosts) + ":" + service).utf8)
            // `internal` on a port number takes the built-in's name after it.
            if fields.count == 6, fields[5] == Array("internal".utf8) {
                let name = original.split(separator: ":").last.map(String.init) ?? "echo"
                fields.append(Array(name.utf8))
            }
        }
        // Mostly users that exist everywhere, so that most lines bind.
        if fields.count > 4, rng.chance(60) {
            fields[4] = Array(rng.pick(["-", "root", "nobody", "nobody:nogroup", "daemon", "root:root"]).utf8)
        }
        return join(fields, &rng)
    }

    // MARK: Mutations

    enum Mutation: CaseIterable {
        case truncate, nul, invalidUTF8, randomBytes, overflowNumber, badCIDR, user, continuation
        case swapFields, duplicateField, deleteField, crossOver, oddToken, whitespace, comment, address
    }

    func mutate(_ line: [UInt8], _ rng: inout SplitMix64, safe: Bool) -> [UInt8] {
        var result = mutateOnce(line, &rng, safe: safe)
        guard safe else { return result }
        // In a loopback file no mutation may start a new entry line: a
        // continuation keeps its leading blank, and whatever follows a
        // newline inside the line becomes a continuation too.
        let blanks: Set<UInt8> = [32, 9]
        if let first = line.first, blanks.contains(first), let now = result.first, !blanks.contains(now), now != 35 {
            result.insert(9, at: 0)
        }
        var i = 0
        while i < result.count - 1 {
            if result[i] == 10, ![10, 32, 9, 35].contains(result[i + 1]) { result.insert(9, at: i + 1) }
            i += 1
        }
        return result
    }

    func mutateOnce(_ line: [UInt8], _ rng: inout SplitMix64, safe: Bool) -> [UInt8] {
        var line = line
        // In a loopback file, field 0 (service and address) stays as made.
        var keep = 0
        if safe, let first = line.first, first != 32, first != 9 {
            keep = line.firstIndex { $0 == 32 || $0 == 9 } ?? line.count
            if keep == line.count { line.append(32) }
            keep += 1
        }
        let firstField = safe ? 1 : 0
        func position() -> Int { keep + rng.below(line.count - keep + 1) }
        var mutation = rng.pick(Mutation.allCases)
        if safe, mutation == .address { mutation = .overflowNumber }
        switch mutation {
        case .truncate:
            line = Array(line.prefix(position()))
        case .nul:
            for _ in 0..<rng.inRange(1...3) { line.insert(0, at: position()) }
        case .invalidUTF8:
            for _ in 0..<rng.inRange(1...3) { line.insert(contentsOf: rng.pick(FuzzCorpus.invalidUTF8), at: position()) }
        case .randomBytes:
            for _ in 0..<rng.inRange(1...8) {
                var byte = UInt8(truncatingIfNeeded: rng.next())
                if safe, byte == 10 { byte = 11 }
                if rng.chance(50), line.count > keep {
                    line[keep + rng.below(line.count - keep)] = byte
                } else {
                    line.insert(byte, at: position())
                }
            }
        case .overflowNumber:
            return overflow(line, &rng, safe: safe)
        case .badCIDR:
            var fields = fieldsOf(line)
            let option = rng.pick(["allow", "deny"]) + "=" + rng.pick(FuzzCorpus.badCIDRs)
            if fields.count > 3 { fields[3] += Array(("," + option).utf8) } else { fields.append(Array(("nowait," + option).utf8)) }
            return join(fields, &rng)
        case .user:
            var fields = fieldsOf(line)
            let user = Array(rng.pick(FuzzCorpus.users).utf8)
            if fields.count > 4 { fields[4] = user } else { fields.append(user) }
            return join(fields, &rng)
        case .continuation:
            let fields = fieldsOf(line)
            guard fields.count > 1 else { return [32] + line }  // an orphan continuation
            let cut = rng.inRange(1...(fields.count - 1))
            var head = fields[..<cut].map { $0 }
            var tail = fields[cut...].map { $0 }
            if cut == 1, rng.chance(20) { head = fields; tail = [] }
            let blank = Array(rng.pick([" ", "\t", "  \t", "\t\t\t\t\t", " \u{0B}"]).utf8)
            var joined = join(head, &rng) + [10]
            switch rng.below(4) {
            case 0: joined += Array(rng.pick([" \t ", "\t"]).utf8) + [10]  // a blank-only line inside
            case 1: joined += Array("# a comment ends the entry".utf8) + [10]
            case 2: joined += [10]  // an empty line ends it too
            default: break
            }
            return joined + blank + join(tail, &rng)
        case .swapFields:
            var fields = fieldsOf(line)
            guard fields.count > firstField + 1 else { return line }
            let a = rng.inRange(firstField...(fields.count - 1)), b = rng.inRange(firstField...(fields.count - 1))
            fields.swapAt(a, b)
            return join(fields, &rng)
        case .duplicateField:
            var fields = fieldsOf(line)
            guard !fields.isEmpty else { return line }
            let from = rng.below(fields.count)
            fields.insert(fields[from], at: rng.inRange(max(firstField, 0)...fields.count))
            return join(fields, &rng)
        case .deleteField:
            var fields = fieldsOf(line)
            guard fields.count > firstField else { return line }
            fields.remove(at: rng.inRange(firstField...(fields.count - 1)))
            return join(fields, &rng)
        case .crossOver:
            var fields = fieldsOf(line)
            let other = fieldsOf(Array(rng.pick(FuzzCorpus.all).utf8))
            guard !other.isEmpty, fields.count > firstField else { return line }
            let i = rng.inRange(firstField...(fields.count - 1))
            guard other.count > i else { return line }
            fields[i] = other[i]
            return join(fields, &rng)
        case .oddToken:
            var fields = fieldsOf(line)
            let token = Array(rng.pick(FuzzCorpus.oddTokens).utf8)
            if fields.count > firstField, rng.chance(60) {
                fields[rng.inRange(firstField...(fields.count - 1))] = token
            } else {
                fields.insert(token, at: rng.inRange(firstField...fields.count))
            }
            return join(fields, &rng)
        case .whitespace:
            let odd: [[UInt8]] = [[13], [13, 10], [12], [11], [0xC2, 0xA0], [0xE2, 0x80, 0x8B], [9, 9, 9], [32, 13, 32]]
            for _ in 0..<rng.inRange(1...3) { line.insert(contentsOf: rng.pick(Array(odd.dropFirst(safe ? 2 : 0))), at: position()) }
        case .comment:
            if safe { return Array(rng.pick(["#", "#<off># ", "# "]).utf8) + line }
            line.insert(contentsOf: Array(rng.pick(["#", "#<off># ", " #", "\t#"]).utf8), at: rng.chance(70) ? 0 : position())
        case .address:
            var fields = fieldsOf(line)
            let address = Array(rng.pick(FuzzCorpus.badAddresses).utf8)
            if fields.isEmpty { fields = [address] } else { fields[0] = address }
            return join(fields, &rng)
        }
        return line
    }

    /// A number that overflows, put where a number goes: the port, `.N`,
    /// `/C/R/P`, a ,key=N option, sndbuf=/rcvbuf=, mode=, or any digit run.
    func overflow(_ line: [UInt8], _ rng: inout SplitMix64, safe: Bool) -> [UInt8] {
        var fields = fieldsOf(line)
        while fields.count < 4 { fields.append(Array("nowait".utf8)) }
        let n = rng.pick(FuzzCorpus.evilNumbers)
        let m = rng.pick(FuzzCorpus.evilNumbers)
        let waitBase: String = {
            let text = String(decoding: fields[3], as: UTF8.self)
            return text.hasPrefix("nowait") ? "nowait" : "wait"
        }()
        switch rng.below(8) {
        case 0:
            if safe {
                // Field 0 keeps its host; only its port becomes invalid.
                let text = String(decoding: fields[0], as: UTF8.self)
                guard !text.hasPrefix("/"), !text.hasPrefix(":"), let colon = text.lastIndex(of: ":") else { return join(fields, &rng) }
                fields[0] = Array((text[...colon] + rng.pick(FuzzCorpus.loopbackSafePorts)).utf8)
            } else {
                let text = String(decoding: fields[0], as: UTF8.self)
                let host = text.lastIndex(of: ":").map { String(text[...$0]) } ?? ""
                fields[0] = Array((host + n).utf8)
            }
        case 1: fields[3] = Array("\(waitBase).\(n)".utf8)
        case 2:
            let parts = [n, m, rng.pick(FuzzCorpus.evilNumbers)].prefix(rng.inRange(1...4))
            fields[3] = Array((waitBase + "/" + parts.joined(separator: "/")).utf8)
        case 3:
            let key = rng.pick(["max", "per-ip", "rate", "per-ip-rate", "backlog", "timeout", "mode"])
            fields[3] += Array(",\(key)=\(n)".utf8)
        case 4: fields[3] += Array(",ip-prefix=\(n)/\(m)".utf8)
        case 5:
            fields[2] += Array(",\(rng.pick(["sndbuf", "rcvbuf"]))=\(n)".utf8)
            if rng.chance(30) { fields[2] += Array(",\(rng.pick(["sndbuf", "rcvbuf"]))=\(m)".utf8) }
        case 6:
            fields[3] += Array(",\(rng.pick(["allow", "deny"]))=\(rng.pick(["10.0.0.0", "::1", "[2001:db8::]", "127.0.0.1"]))/\(n)".utf8)
        default:
            // Any run of digits outside field 0.
            var bytes = line
            let start = safe ? (line.firstIndex { $0 == 32 || $0 == 9 } ?? line.count) : 0
            var runs: [Range<Int>] = []
            var i = start
            while i < bytes.count {
                if bytes[i] >= 48, bytes[i] <= 57 {
                    let s = i
                    while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 { i += 1 }
                    runs.append(s..<i)
                } else { i += 1 }
            }
            guard !runs.isEmpty else { return line + Array(" \(n)".utf8) }
            bytes.replaceSubrange(rng.pick(runs), with: Array(n.utf8))
            return bytes
        }
        return join(fields, &rng)
    }

    /// A line of about 1 MiB: a huge field, a huge option list, or many
    /// small fields.
    func hugeLine(_ line: [UInt8], _ rng: inout SplitMix64, safe: Bool) -> [UInt8] {
        let mib = 1 << 20
        // A continuation line (or a comment) stays one: only appended to.
        if safe, let first = line.first, [32, 9, 35].contains(first) {
            return line + [32] + [UInt8](repeating: UInt8(ascii: "A"), count: mib)
        }
        var fields = fieldsOf(line)
        while fields.count < 7 { fields.append(Array("x".utf8)) }
        switch rng.below(safe ? 4 : 6) {
        case 0: fields.append([UInt8](repeating: UInt8(ascii: "A"), count: mib))
        case 1:
            var options = fields[3]
            while options.count < mib { options += Array(",max=1".utf8) }
            fields[3] = options
        case 2: fields[4] = [UInt8](repeating: UInt8(ascii: "u"), count: mib)
        case 3:
            var tail: [UInt8] = []
            while tail.count < mib { tail += Array(" \(rng.pick(["a", "\u{00E9}", "-x", "%s%n"]))".utf8) }
            return join(fields, &rng) + tail
        case 4: fields[0] = [UInt8](repeating: UInt8(ascii: "s"), count: mib)
        default:
            return (0..<mib).map { _ in
                let b = UInt8(truncatingIfNeeded: rng.next())
                return b == 10 ? 32 : b
            }
        }
        return join(fields, &rng)
    }

    func manyArguments(_ rng: inout SplitMix64) -> [UInt8] {
        var tail: [UInt8] = []
        tail.reserveCapacity(100_000)
        for i in 0..<10_000 {
            tail += rng.chance(1) ? Array(" \u{00FF}\(i)".utf8) : Array(" a\(i)".utf8)
        }
        return tail
    }

    // MARK: Helpers

    func fieldsOf(_ line: [UInt8]) -> [[UInt8]] {
        line.split(omittingEmptySubsequences: true) { $0 == 32 || $0 == 9 }.map(Array.init)
    }

    func join(_ fields: [[UInt8]], _ rng: inout SplitMix64) -> [UInt8] {
        var out: [UInt8] = []
        for (i, field) in fields.enumerated() {
            if i > 0 { out += Array(rng.pick([" ", "\t", "  ", " \t", "\t\t"]).utf8) }
            out += field
        }
        return out
    }

    /// A mutation may have put newlines in a line.
    func split(_ line: [UInt8]) -> [[UInt8]] {
        line.split(separator: 10, omittingEmptySubsequences: false).map(Array.init)
    }
}

// MARK: - Running inetd

struct ChildOutcome: Sendable {
    /// The raw wait status; nil when the child had to be killed.
    var status: CInt?
    var stdout: [UInt8] = []
    var stderr: [UInt8] = []
    var seconds = 0.0
    var timedOut = false
    var becameReady = false
    var secondsFromTermToExit: Double?
    var spawnError: CInt = 0

    var stderrText: String { String(decoding: stderr, as: UTF8.self) }

    var statusDescription: String {
        if spawnError != 0 { return "posix_spawn failed: \(spawnError)" }
        if timedOut { return "timed out, killed" }
        guard let status else { return "no status" }
        if let code = exitCode(status) { return "exit \(code)" }
        return "killed by signal \(status & 0x7F)\(status & 0x80 != 0 ? " (core dumped)" : "")"
    }
}

enum ChildRunner {
    static let outputCap = 8 << 20

    static var environment: [String] {
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("LISTEN_") || key == "NOTIFY_SOCKET" { env[key] = nil }
        return env.map { "\($0)=\($1)" }
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    struct DaemonPlan {
        /// How long it runs after reporting readiness, before SIGTERM.
        var runFor: Double
        var readyTimeout: Double
        var exitTimeout: Double
    }

    /// Runs `argv` with stdin on /dev/null, stdout and stderr on socket
    /// pairs read as they fill (a big output cannot block the child). With
    /// `daemon`, fd 3 is a notify socket: SIGTERM goes `runFor` seconds after
    /// the readiness newline. Otherwise the child is killed after `timeout`.
    static func run(_ argv: [String], timeout: Double, daemon: DaemonPlan? = nil) -> ChildOutcome {
        var outcome = ChildOutcome()
        let streamCloexec = CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue)
        var out: [CInt] = [-1, -1], err: [CInt] = [-1, -1], notify: [CInt] = [-1, -1]
        guard socketpair(AF_UNIX, streamCloexec, 0, &out) == 0, socketpair(AF_UNIX, streamCloexec, 0, &err) == 0,
              daemon == nil || socketpair(AF_UNIX, streamCloexec, 0, &notify) == 0 else {
            outcome.spawnError = errno
            return outcome
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_adddup2(&actions, err[1], 2)
        if daemon != nil { posix_spawn_file_actions_adddup2(&actions, notify[1], 3) }
        var pid: pid_t = 0
        var rc: CInt = 0
        // EAGAIN: the machine is short of processes or memory for a moment
        // (other builds, other tests); that is not inetd's doing.
        for attempt in 0..<50 {
            rc = withCStrings(argv) { cargv in
                withCStrings(environment) { cenvp in posix_spawn(&pid, argv[0], &actions, nil, cargv, cenvp) }
            }
            guard rc == EAGAIN, attempt < 49 else { break }
            usleep(100_000)
        }
        let start = now()
        for fd in [out[1], err[1], notify[1]] where fd >= 0 { close(fd) }
        var open: [CInt] = [out[0], err[0]] + (daemon != nil ? [notify[0]] : [])
        defer { for fd in open { close(fd) } }
        guard rc == 0 else {
            outcome.spawnError = rc
            return outcome
        }
        var buffer = [UInt8](repeating: 0, count: 65536)
        var exitedAt: Double?
        var readyAt: Double?
        var termAt: Double?
        var status: CInt = 0
        func killAndReap() {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
            outcome.timedOut = true
        }
        while true {
            var pfds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            _ = poll(&pfds, nfds_t(pfds.count), 20)
            for p in pfds where p.revents != 0 {
                let n = read(p.fd, &buffer, buffer.count)
                if n < 0, errno == EINTR || errno == EAGAIN { continue }
                if n <= 0 {
                    close(p.fd)
                    open.removeAll { $0 == p.fd }
                    continue
                }
                if p.fd == out[0] {
                    if outcome.stdout.count < outputCap { outcome.stdout += buffer.prefix(n) }
                } else if p.fd == err[0] {
                    if outcome.stderr.count < outputCap { outcome.stderr += buffer.prefix(n) }
                } else if buffer.prefix(n).contains(10), readyAt == nil {
                    readyAt = now()
                    outcome.becameReady = true
                }
            }
            let t = now()
            if exitedAt == nil, waitpid(pid, &status, WNOHANG) == pid {
                exitedAt = t
                outcome.status = status
            }
            if let exitedAt {
                // Done once stdout and stderr are at EOF (or have had a moment).
                if !open.contains(out[0]) && !open.contains(err[0]) || t - exitedAt > 2 { break }
                continue
            }
            if let plan = daemon {
                if readyAt == nil, t - start > plan.readyTimeout {
                    killAndReap()
                    break
                }
                if let readyAt, termAt == nil, t - readyAt >= plan.runFor {
                    kill(pid, SIGTERM)
                    termAt = t
                }
                if let termAt, t - termAt > plan.exitTimeout {
                    killAndReap()
                    break
                }
            } else if t - start > timeout {
                killAndReap()
                break
            }
        }
        let end = now()
        outcome.seconds = end - start
        if let termAt, let exitedAt { outcome.secondsFromTermToExit = exitedAt - termAt }
        if outcome.timedOut { outcome.status = nil }
        return outcome
    }

    /// Runs `body(i)` for every i in 0..<count on `width` threads.
    static func forEach(_ count: Int, width: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let next = Counter()
        let group = DispatchGroup()
        for _ in 0..<width {
            group.enter()
            Thread {
                while let i = next.take(below: count) { body(i) }
                group.leave()
            }.start()
        }
        group.wait()
    }

    /// Runs blocking work on its own thread, off Swift's cooperative pool.
    static func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: work()) }.start()
        }
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func take(below limit: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard value < limit else { return nil }
        value += 1
        return value - 1
    }
}

/// Failures gathered by the worker threads.
final class FailureLog: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var entries: [String] = []
    private var counters: [String: Int] = [:]

    func add(_ text: String) {
        lock.lock()
        entries.append(text)
        lock.unlock()
    }

    func count(_ key: String, by n: Int = 1) {
        lock.lock()
        counters[key, default: 0] += n
        lock.unlock()
    }

    private var maxima: [String: Double] = [:]

    func maximum(_ key: String, _ value: Double) {
        lock.lock()
        maxima[key] = max(maxima[key] ?? 0, value)
        lock.unlock()
    }

    func maximum(_ key: String) -> Double {
        lock.lock()
        defer { lock.unlock() }
        return maxima[key] ?? 0
    }

    func counter(_ key: String) -> Int {
        lock.lock()
        defer { lock.unlock() }
        return counters[key] ?? 0
    }

    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return entries
    }
}

enum CheckOracle {
    /// Lines a reader counts in the file: what `FILE:LINE:` may name.
    static func lineCount(_ bytes: [UInt8]) -> Int {
        let newlines = bytes.reduce(0) { $0 + ($1 == 10 ? 1 : 0) }
        return newlines + (bytes.last.map { $0 != 10 } ?? false ? 1 : 0)
    }

    /// The line number of `FILE:LINE: ...`, and whether it is a warning or
    /// a note (neither is an error).
    static func diagnostic(_ line: Substring, file: String) -> (line: Int, warning: Bool)? {
        guard line.hasPrefix(file + ":") else { return nil }
        let rest = line.dropFirst(file.count + 1)
        let digits = rest.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let number = Int(digits), rest.dropFirst(digits.count).hasPrefix(": ") else { return nil }
        let message = rest.dropFirst(digits.count + 2)
        return (number, message.hasPrefix("warning:") || message.hasPrefix("note:"))
    }

    /// What is wrong with one `--check FILE` run; empty when nothing is.
    static func problems(_ outcome: ChildOutcome, file: String, input: [UInt8], timeLimit: Double) -> [String] {
        var problems: [String] = []
        if outcome.spawnError != 0 { return ["posix_spawn failed: \(outcome.spawnError)"] }
        if outcome.timedOut { return ["no exit within \(timeLimit) s: killed"] }
        guard let status = outcome.status, let code = exitCode(status) else {
            return ["died: \(outcome.statusDescription)"]
        }
        if code != 0 && code != 1 { problems.append("exit \(code), not 0 or 1") }
        let lines = CheckOracle.lineCount(input)
        let diagnostics = outcome.stderrText.split(separator: "\n").compactMap { diagnostic($0, file: file) }
        for d in diagnostics where d.line < 1 || d.line > lines {
            problems.append("diagnostic names line \(d.line) of a \(lines)-line file")
        }
        if code == 1 {
            if diagnostics.isEmpty { problems.append("exit 1 without any \(file):LINE: line on stderr") }
            else if diagnostics.allSatisfy(\.warning) { problems.append("exit 1 with warnings only") }
        }
        if code == 0, diagnostics.contains(where: { !$0.warning }) {
            problems.append("exit 0 but an error was reported")
        }
        return problems
    }
}

// MARK: - Tests

@Suite("config fuzzing (inetd --check and the daemon on mutated inetd.conf files)", .serialized)
struct ConfigFuzzTests {
    static let defaultSeed: UInt64 = 0x1E7D_C0F1_6F00_2025

    static var seed: UInt64 {
        guard let text = ProcessInfo.processInfo.environment["INETD_FUZZ_SEED"] else { return defaultSeed }
        if text.hasPrefix("0x") { return UInt64(text.dropFirst(2), radix: 16) ?? defaultSeed }
        return UInt64(text) ?? defaultSeed
    }

    static var fileCount: Int {
        ProcessInfo.processInfo.environment["INETD_FUZZ_FILES"].flatMap { Int($0) } ?? 2000
    }

    static let checkTimeLimit = 5.0

    /// INETD_FUZZ_KEEP=DIR keeps every generated file there, to look at.
    /// Writes one generated file, and a copy where INETD_FUZZ_KEEP asks;
    /// false, logged, when it cannot be written.
    static func write(_ bytes: [UInt8], to path: String, index: Int, log: FailureLog) -> Bool {
        keepIfAsked(bytes, name: (path as NSString).lastPathComponent)
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            log.add("file \(index): cannot write \(path)")
            return false
        }
        return true
    }

    static func keepIfAsked(_ bytes: [UInt8], name: String) {
        guard let directory = ProcessInfo.processInfo.environment["INETD_FUZZ_KEEP"] else { return }
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: directory + "/" + name, contents: Data(bytes))
    }

    /// Keeps a failing input where a person can find it after the run.
    static func keep(_ bytes: [UInt8], name: String) -> String {
        let directory = NSTemporaryDirectory() + "/inetd-fuzz-failures/seed-\(String(seed, radix: 16))"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/" + name
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    static func excerpt(_ text: String) -> String {
        text.count > 600 ? String(text.prefix(600)) + "... (\(text.utf8.count) bytes)" : text
    }

    /// The grammar on the binary users run: the release build under test
    /// (INETD_BINARY, as CI sets it) must say exactly what the debug build,
    /// on which the parser's unit tests run, says of the real lines, every
    /// regression input and 500 mutated files: the same listing, the same
    /// diagnostics, the same exit.
    @Test("the binary under test agrees with the debug build on every line of grammar",
          .enabled(if: Binaries.inetd != Binaries.directory + "/inetd", "INETD_BINARY names another build"))
    func releaseAgreesWithDebug() async throws {
        let directory = TemporaryDirectory()
        let fuzzer = ConfigFuzzer(seed: Self.seed)
        var files = [directory.write("real.conf", FuzzCorpus.all.joined(separator: "\n") + "\n")]
        files += RegressionInputTests.inputs.map { RegressionInputTests.directory + "/" + $0 }
        for index in 0..<500 {
            let path = directory.path + "/agree-\(index).conf"
            _ = FileManager.default.createFile(atPath: path, contents: Data(fuzzer.file(index: index)))
            files.append(path)
        }
        let debug = Binaries.directory + "/inetd", tested = Binaries.inetd, all = files
        let disagreements = await ChildRunner.offPool { () -> [String] in
            all.compactMap { path in
                let a = ChildRunner.run([debug, "--check", path], timeout: Self.checkTimeLimit)
                let b = ChildRunner.run([tested, "--check", path], timeout: Self.checkTimeLimit)
                guard a.status != b.status || a.stdout != b.stdout || a.stderr != b.stderr else { return nil }
                return "\(path): debug \(a.statusDescription), tested \(b.statusDescription)\n"
                    + Self.excerpt(a.stderrText) + "\n--- vs ---\n" + Self.excerpt(b.stderrText)
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.count) files: \(disagreements.prefix(3).joined(separator: "\n"))")
    }

    @Test("--check on 2,000 mutated files: exit 0 or 1, within 5 s, FILE:LINE: for every exit 1")
    func checkMutatedFiles() async throws {
        let seed = Self.seed, count = Self.fileCount, binary = Binaries.inetd
        print("ConfigFuzzTests: seed=0x\(String(seed, radix: 16)) files=\(count) binary=\(binary)")
        let directory = TemporaryDirectory()
        let fuzzer = ConfigFuzzer(seed: seed)
        let log = FailureLog()
        let dir = directory.path
        let started = ChildRunner.now()
        await ChildRunner.offPool {
            ChildRunner.forEach(count, width: 4) { index in
                let loopback = index % ConfigFuzzer.loopbackEvery == 0
                let bytes = fuzzer.file(index: index, loopbackDirectory: loopback ? dir : nil)
                let path = dir + "/fuzz-\(index).conf"
                guard Self.write(bytes, to: path, index: index, log: log) else { return }
                let outcome = ChildRunner.run([binary, "--check", path], timeout: Self.checkTimeLimit)
                log.count("checked")
                log.maximum("seconds", outcome.seconds)
                log.count("bytes", by: bytes.count)
                if let status = outcome.status, let code = exitCode(status) { log.count("exit\(code)") }
                let problems = CheckOracle.problems(outcome, file: path, input: bytes, timeLimit: Self.checkTimeLimit)
                if !problems.isEmpty {
                    let kept = Self.keep(bytes, name: "check-\(index).conf")
                    log.add("""
                        file \(index) (seed 0x\(String(seed, radix: 16))): \(problems.joined(separator: "; "))
                          input kept at \(kept)
                          stderr: \(Self.excerpt(outcome.stderrText))
                        """)
                }
                try? FileManager.default.removeItem(atPath: path)
            }
        }
        let seconds = ChildRunner.now() - started
        print("ConfigFuzzTests: checked \(log.counter("checked")) files (\(log.counter("bytes")) bytes) in "
              + String(format: "%.1f", seconds) + " s: exit 0 \(log.counter("exit0")), exit 1 \(log.counter("exit1")), "
              + "slowest " + String(format: "%.2f", log.maximum("seconds")) + " s")
        #expect(log.counter("checked") == count)
        #expect(log.counter("exit0") > 0 && log.counter("exit1") > 0, "the corpus should give both valid and invalid files")
        let failures = log.all
        #expect(failures.isEmpty, "\(failures.count) bad --check runs:\n\(failures.prefix(20).joined(separator: "\n"))")
    }

    @Test("the daemon on 100 loopback-only files: runs, then exits 0 or 1 soon after SIGTERM")
    func daemonOnMutatedFiles() async throws {
        let seed = Self.seed, binary = Binaries.inetd
        let indices = Array(stride(from: 0, to: Self.fileCount, by: ConfigFuzzer.loopbackEvery).prefix(100))
        let isolation = NetworkIsolation.detect()
        print("ConfigFuzzTests: daemon runs on \(indices.count) files, seed=0x\(String(seed, radix: 16)), "
              + (isolation.map { "each in a new network namespace (\($0.unshare))" } ?? "no network namespace (not root or no unshare)"))
        let directory = TemporaryDirectory()
        let dir = directory.path
        let fuzzer = ConfigFuzzer(seed: seed)
        let log = FailureLog()
        let started = ChildRunner.now()
        await ChildRunner.offPool {
            ChildRunner.forEach(indices.count, width: 8) { k in
                let index = indices[k]
                let bytes = fuzzer.file(index: index, loopbackDirectory: dir)
                let path = dir + "/daemon-\(index).conf"
                guard Self.write(bytes, to: path, index: index, log: log) else { return }
                // Safety net: bind nothing that --check does not list as
                // loopback or as a path in this test's directory.
                let check = ChildRunner.run([binary, "--check", path], timeout: Self.checkTimeLimit)
                guard check.status.flatMap(exitCode) != nil else {
                    log.add("file \(index): --check before the daemon run: \(check.statusDescription)")
                    return
                }
                let unsafe = NetworkIsolation.nonLoopbackEndpoints(listing: check.stdout, directory: dir)
                guard unsafe.isEmpty else {
                    log.add("file \(index): generator made non-loopback endpoints \(unsafe): not run")
                    return
                }
                log.count("sockets", by: String(decoding: check.stdout, as: UTF8.self).split(separator: "\n").filter { !$0.hasPrefix("#") }.count)
                let argv = (isolation?.prefix ?? []) + [binary, "-d", "--notify-fd", "3", path]
                let plan = ChildRunner.DaemonPlan(runFor: 1.0, readyTimeout: 15, exitTimeout: 15)
                let outcome = ChildRunner.run(argv, timeout: 0, daemon: plan)
                log.count("ran")
                if outcome.becameReady { log.count("ready") }
                if let t = outcome.secondsFromTermToExit { log.maximum("stop", t) }
                var problems: [String] = []
                if outcome.spawnError != 0 {
                    problems.append("posix_spawn failed: \(outcome.spawnError)")
                } else if outcome.timedOut {
                    problems.append(outcome.becameReady ? "still running 15 s after SIGTERM: killed" : "not ready within 15 s: killed")
                } else if let status = outcome.status, let code = exitCode(status) {
                    if code != 0 && code != 1 { problems.append("exit \(code), not 0 or 1") }
                    if !outcome.becameReady { problems.append("exited (\(code)) without reporting readiness") }
                } else {
                    problems.append("died: \(outcome.statusDescription)")
                }
                if !problems.isEmpty {
                    let kept = Self.keep(bytes, name: "daemon-\(index).conf")
                    log.add("""
                        daemon file \(index) (seed 0x\(String(seed, radix: 16))): \(problems.joined(separator: "; "))
                          input kept at \(kept) (unix paths point into \(dir))
                          stderr: \(Self.excerpt(outcome.stderrText))
                        """)
                }
            }
        }
        let seconds = ChildRunner.now() - started
        print("ConfigFuzzTests: \(log.counter("ran")) daemon runs (\(log.counter("ready")) ready, "
              + "\(log.counter("sockets")) listed sockets) in " + String(format: "%.1f", seconds) + " s, slowest stop "
              + String(format: "%.2f", log.maximum("stop")) + " s after SIGTERM")
        #expect(log.counter("ran") == indices.count)
        let failures = log.all
        #expect(failures.isEmpty, "\(failures.count) bad daemon runs:\n\(failures.prefix(20).joined(separator: "\n"))")
    }

    @Test("the generator is deterministic and makes what it promises")
    func generatorProperties() {
        let fuzzer = ConfigFuzzer(seed: Self.seed)
        #expect(fuzzer.file(index: 42) == fuzzer.file(index: 42))
        #expect(fuzzer.file(index: 42) != fuzzer.file(index: 43))
        let huge = (1...4).map { fuzzer.file(index: ConfigFuzzer.hugeLineEvery * $0 + 3) }
        #expect(huge.contains { $0.split(separator: 10).contains { $0.count >= 1 << 20 } }, "a 1 MiB line")
        let many = (1...4).map { fuzzer.file(index: ConfigFuzzer.manyArgumentsEvery * $0 + 5) }
        #expect(many.contains { $0.split(separator: 10).contains { $0.split(separator: 32).count > 10_000 } },
                "10,000 arguments")
        let sample = (0..<400).map { fuzzer.file(index: $0) }
        #expect(sample.contains { $0.contains(0) }, "NUL bytes")
        #expect(sample.contains { String(validating: $0, as: UTF8.self) == nil && !$0.contains(0) }, "invalid UTF-8")
        let loopback = fuzzer.file(index: 0, loopbackDirectory: "/tmp/x")
        #expect(loopback.starts(with: Array("127.0.0.1:\n".utf8)))
    }
}

/// Where the daemon runs may listen, and how to make sure of it.
struct NetworkIsolation {
    var unshare: String
    var prefix: [String]

    /// As root with a working `unshare --net`: each daemon in a new network
    /// namespace, its loopback brought up, so nothing can reach a real
    /// interface whatever the file says.
    static func detect() -> NetworkIsolation? {
        guard geteuid() == 0 else { return nil }
        guard let unshare = ([String](["/usr/bin/unshare", "/bin/unshare"])).first(where: { access($0, X_OK) == 0 }) else { return nil }
        let probe = ChildRunner.run([unshare, "--net", "--", "/bin/true"], timeout: 10)
        guard probe.status.flatMap(exitCode) == 0 else { return nil }
        let ip = ([String](["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"])).first { access($0, X_OK) == 0 }
        // Without `lo` up, 127.0.0.1 and ::1 cannot be bound: the runs would
        // still test start-up and shutdown, with every bind failing.
        let script = (ip.map { "\($0) link set lo up 2>/dev/null; " } ?? "") + "exec \"$@\""
        return NetworkIsolation(unshare: unshare, prefix: [unshare, "--net", "--", "/bin/sh", "-c", script, "sh"])
    }

    /// Endpoints in a --check listing that are neither loopback nor a unix
    /// socket path inside `directory`.
    static func nonLoopbackEndpoints(listing: [UInt8], directory: String) -> [String] {
        var bad: [String] = []
        for line in String(decoding: listing, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            let address = String(line.prefix { $0 != " " })
            if address.hasPrefix(directory + "/"), !address.contains("/../") { continue }
            if address.hasPrefix("[::1]:") { continue }
            let parts = address.split(separator: ":")
            if parts.count == 2, parts[0].hasPrefix("127."), parts[0].split(separator: ".").count == 4 { continue }
            bad.append(address)
        }
        return bad
    }
}

// MARK: - Regressions

/// Inputs in Tests/Regressions/: every config that ever crashed or hung
/// inetd, and the nastiest the fuzzer makes (NUL bytes, invalid UTF-8,
/// overflowing numbers). Big inputs are made at run time, not committed.
@Suite("config regressions (Tests/Regressions)")
struct RegressionInputTests {
    static var directory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Regressions").path
    }

    static var inputs: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".conf") }.sorted()
    }

    @Test("--check on every regression input: exit 0 or 1 within 5 s, FILE:LINE: for every exit 1")
    func checkRegressionInputs() async throws {
        let names = Self.inputs
        #expect(!names.isEmpty, "no .conf files in \(Self.directory)")
        for name in names {
            let path = Self.directory + "/" + name
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            let outcome = await ChildRunner.offPool {
                ChildRunner.run([Binaries.inetd, "--check", path], timeout: ConfigFuzzTests.checkTimeLimit)
            }
            let problems = CheckOracle.problems(outcome, file: path, input: bytes, timeLimit: ConfigFuzzTests.checkTimeLimit)
            #expect(problems.isEmpty, "\(name): \(problems.joined(separator: "; "))\n\(ConfigFuzzTests.excerpt(outcome.stderrText))")
        }
    }

    /// Every entry line in these files has a NUL byte or invalid UTF-8 in
    /// some field: each is refused on its line, none is listed. (They were
    /// accepted once, cut at the NUL or with U+FFFD in place of the bytes.)
    @Test("a NUL byte or invalid UTF-8 in any field refuses the line", arguments: ["nul-bytes.conf", "invalid-utf8.conf"])
    func nulAndInvalidUTF8AreRefused(_ name: String) async throws {
        let path = Self.directory + "/" + name
        let outcome = await ChildRunner.offPool {
            ChildRunner.run([Binaries.inetd, "--check", path], timeout: ConfigFuzzTests.checkTimeLimit)
        }
        #expect(outcome.status.flatMap(exitCode) == 1)
        let listed = String(decoding: outcome.stdout, as: UTF8.self).split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(listed.isEmpty, "accepted: \(listed)")
        #expect(outcome.stderrText.contains("has a NUL byte") || outcome.stderrText.contains("is not valid UTF-8"))
    }

    @Test("the regression inputs as a running daemon's file: exits 0 soon after SIGTERM")
    func daemonOnRegressionInputs() async throws {
        // Only inputs whose --check listing is loopback-only, or empty, run.
        let isolation = NetworkIsolation.detect()
        for name in Self.inputs {
            let path = Self.directory + "/" + name
            let check = await ChildRunner.offPool {
                ChildRunner.run([Binaries.inetd, "--check", path], timeout: ConfigFuzzTests.checkTimeLimit)
            }
            // Unix sockets only under /nonexistent/, which the daemon cannot create.
            guard NetworkIsolation.nonLoopbackEndpoints(listing: check.stdout, directory: "/nonexistent").isEmpty else { continue }
            let argv = (isolation?.prefix ?? []) + [Binaries.inetd, "--notify-fd", "3", path]
            let outcome = await ChildRunner.offPool {
                ChildRunner.run(argv, timeout: 0, daemon: .init(runFor: 0.3, readyTimeout: 15, exitTimeout: 15))
            }
            #expect(outcome.becameReady, "\(name): \(outcome.statusDescription)\n\(ConfigFuzzTests.excerpt(outcome.stderrText))")
            #expect(outcome.status.flatMap(exitCode) == 0,
                    "\(name): \(outcome.statusDescription)\n\(ConfigFuzzTests.excerpt(outcome.stderrText))")
        }
    }
}
