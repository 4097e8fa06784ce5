@testable import InetdCore
import Testing

// The --check listing (NormalizedTable): every default spelled out, and a
// listing that re-parses to the same services.

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
        let before = first.services.flatMap { s in NormalizedTable.listsAsOneLine(s) ? [s] : s.endpoints.map { _ in s } }
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
            // The listing spells out the cap only where it is in force: nowait
            // stream lines, spawned or built-in.
            let capped = a.entry.socketType != .dgram && !a.entry.wait
            if capped, limits.maxConcurrent == nil { limits.maxConcurrent = Limits.defaultMaxConcurrent }
            #expect(limits == b.entry.limits, "\(listing)", sourceLocation: sourceLocation)
            #expect(a.socketOwner?.uid == b.socketOwner?.uid, sourceLocation: sourceLocation)
            #expect(a.socketOwner?.gid == b.socketOwner?.gid, sourceLocation: sourceLocation)
        }
        return (listing, second)
    }

    @Test("the listing of the real files re-parses to the same endpoints")
    func realFiles() {
        _ = roundTrip(RealFileTests.openBSD)
        _ = roundTrip(RealFileTests.freeBSD)
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

    @Test("a wait,listen-fds line stays one line, so that one handler still gets every socket")
    func listenFDsLines() {
        let (listing, resolved) = roundTrip("""
            127.0.0.1,[::1]:7007 stream tcp wait,listen-fds,name=web nobody /bin/cat cat
            8000 stream tcp wait,listen-fds nobody /bin/cat cat
            127.0.0.1,127.0.0.2:8001 dgram udp4 wait,listen-fds nobody /bin/cat cat
            127.0.0.1,[::1]:7008 stream tcp nowait,listen-fds nobody /bin/cat cat
            """)
        let lines = listing.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(lines.count == 5, "\(listing)")
        #expect(lines[0] == "127.0.0.1,[::1]:7007 stream tcp wait,listen-fds,name=web nobody /bin/cat cat")
        #expect(lines[1] == "0.0.0.0,[::]:8000 stream tcp wait,listen-fds nobody /bin/cat cat")
        #expect(lines[2] == "127.0.0.1,127.0.0.2:8001 dgram udp4 wait,listen-fds nobody /bin/cat cat")
        #expect(lines[3] == "127.0.0.1:7008 stream tcp4 nowait,max=64,listen-fds nobody /bin/cat cat", "nowait: a line per socket")
        #expect(resolved.services.count == 5, "re-read: three listen-fds lines, and the nowait line as two")
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
        #expect(listing.contains("0.0.0.0:7007 stream tcp4 nowait,max=64 alice:alice /bin/cat cat"))
        #expect(listing.contains("0.0.0.0:7008 stream tcp4 nowait,max=64 - /bin/cat cat"))
        #expect(listing.contains("identity=unchanged"))
    }
}
