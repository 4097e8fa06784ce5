import Foundation
import Glibc
import Testing

/// A TCP client from a chosen loopback source address.
func tcpExchange(from source: String, to host: String, _ port: UInt16, timeout: Int = 10) throws -> String {
    let v6 = host.contains(":")
    let client = try ClientSocket(family: v6 ? AF_INET6 : AF_INET, type: CInt(SOCK_STREAM.rawValue), timeout: timeout)
    guard client.bind(makeAddress(source, 0)!) == 0 else { throw HarnessError("bind \(source): \(errno)") }
    try client.connect(makeAddress(host, port)!)
    return try client.receiveAll()
}

/// `allow=` and `deny=`, `per-ip=`, `per-ip-rate=` and `rate=` (issue 15),
/// on the release binary as CI builds it. A refused client sees its
/// connection closed at once, and its handler never runs.
@Suite struct AccessRuleTests {
    @Test func allowAndDenyOverIPv4AndV4Mapped() throws {
        let (p1, p2, p3) = (try freePort(), try freePort(), try freePort())
        let config = """
            127.0.0.1:\(p1) stream tcp nowait,allow=127.0.0.0/8,deny=127.0.0.2 - /bin/echo echo served
            127.0.0.1:\(p2) stream tcp nowait,allow=127.0.0.3/32 - internal daytime
            [::ffff:127.0.0.1]:\(p3) stream tcp46 nowait,deny=127.0.0.2/32 - /bin/echo echo served

            """
        let daemon = try RunningDaemon(config: config)
        #expect(try tcpExchange(from: "127.0.0.1", to: "127.0.0.1", p1) == "served\n")
        #expect(try tcpExchange(from: "127.0.0.2", to: "127.0.0.1", p1) == "", "denied: closed at once")
        #expect(try tcpExchange(from: "127.0.0.3", to: "127.0.0.1", p2).hasSuffix("\r\n"), "allowed: served")
        #expect(try tcpExchange(from: "127.0.0.1", to: "127.0.0.1", p2) == "", "not allowed: closed at once")
        // A dual-stack socket sees IPv4 clients as ::ffff:127.0.0.x, judged as IPv4.
        #expect(try tcpExchange(from: "127.0.0.1", to: "127.0.0.1", p3) == "served\n")
        #expect(try tcpExchange(from: "127.0.0.2", to: "127.0.0.1", p3) == "")
        try daemon.waitForLog("event=access_denied service=127.0.0.1:\(p1)/tcp peer=127.0.0.2:")
        try daemon.waitForLog("event=access_denied service=[::ffff:127.0.0.1]:\(p3)/tcp46 peer=[::ffff:127.0.0.2]:")
        // Two handlers ran, for the two served clients: none for a refused one.
        let spawned = daemon.log.split(separator: "\n").filter { $0.contains("event=connection ") && $0.contains(" pid=") }
        #expect(spawned.count == 2, "\(daemon.log)")
        daemon.signal(SIGUSR1)
        try daemon.waitForLog("service=127.0.0.1:\(p1)/tcp address=127.0.0.1:\(p1)/tcp4 state=listening program=/bin/echo user=- active=0 accepted=2 spawned=1")
        #expect(daemon.log.contains("spawned=1 exec_failures=0 at_cap=0 over_rate=0 denied=1"))
    }

    @Test(.enabled(if: hostHasIPv6(), "needs IPv6 on loopback"))
    func allowAndDenyOverIPv6() throws {
        let (p1, p2) = (try freePort(), try freePort())
        let daemon = try RunningDaemon(config: """
            [::1]:\(p1) stream tcp6 nowait,deny=::1/128 - internal daytime
            [::1]:\(p2) stream tcp6 nowait,allow=::1/128,allow=127.0.0.0/8 - /bin/echo echo served

            """)
        #expect(try tcpExchange(from: "::1", to: "::1", p1) == "")
        #expect(try tcpExchange(from: "::1", to: "::1", p2) == "served\n")
        try daemon.waitForLog("event=access_denied service=[::1]:\(p1)/tcp6 peer=[::1]:")
    }

    /// A datagram built-in judges each datagram's source: a denied one gets
    /// no answer, the next allowed one does.
    @Test func denyOnADatagramBuiltin() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) dgram udp wait,deny=127.0.0.2 - internal echo\n")
        let denied = try ClientSocket(family: AF_INET, type: CInt(SOCK_DGRAM.rawValue), timeout: 5)
        #expect(denied.bind(makeAddress("127.0.0.2", 0)!) == 0)
        try denied.connect(makeAddress("127.0.0.1", port)!)
        try denied.send("ping")
        try daemon.waitForLog("event=access_denied service=127.0.0.1:\(port)/udp peer=127.0.0.2:")
        #expect(try udpExchange("127.0.0.1", port, send: "hello") == "hello")
    }

    /// `per-ip=1`: a second connection from 127.0.0.1 while its first is
    /// served is closed at once; 127.0.0.2, another source, is served.
    @Test func perIPHoldsOneSourceAtItsCapWhileAnotherIsServed() throws {
        let port = try freePort()
        let dir = TemporaryDirectory()
        let script = dir.write("slow", "sleep 2\necho served\n")
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait,per-ip=1 - /bin/sh sh \(script)\n")
        let first = try ClientSocket.tcp("127.0.0.1", port)
        try daemon.waitUntil("the first handler runs") { childCount(of: daemon.pid) == 1 }
        let started = Date()
        #expect(try tcpExchange(from: "127.0.0.1", to: "127.0.0.1", port) == "", "over per-ip: closed")
        #expect(Date().timeIntervalSince(started) < 1.5, "closed at once, not after the first handler")
        #expect(try tcpExchange(from: "127.0.0.2", to: "127.0.0.1", port) == "served\n", "another source is served")
        #expect(try first.receiveAll() == "served\n")
        try daemon.waitForLog("event=source_limited service=127.0.0.1:\(port)/tcp peer=127.0.0.1:")
        #expect(daemon.log.contains("limit=per-ip value=1"))
        // The first handler's exit frees its source.
        try daemon.waitUntil("the handlers are gone") { childCount(of: daemon.pid) == 0 }
        #expect(try tcpExchange(from: "127.0.0.1", to: "127.0.0.1", port) == "served\n")
    }

    /// `per-ip-rate=2`: a source's third connection within the minute is
    /// closed; another source still gets its own two.
    @Test func perIPRateClosesASourcesThirdConnection() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait,per-ip-rate=2 - internal daytime\n")
        for _ in 0..<2 { #expect(try tcpExchange(from: "127.0.0.1", to: "127.0.0.1", port).hasSuffix("\r\n")) }
        #expect(try tcpExchange(from: "127.0.0.1", to: "127.0.0.1", port) == "")
        #expect(try tcpExchange(from: "127.0.0.2", to: "127.0.0.1", port).hasSuffix("\r\n"))
        try daemon.waitForLog("event=source_limited service=127.0.0.1:\(port)/tcp peer=127.0.0.1:")
        #expect(daemon.log.contains("limit=per-ip-rate value=2"))
    }

    /// `rate=20`: twenty handlers start at once, then one every 3 s. Over
    /// its rate the service keeps its port (another bind gets EADDRINUSE),
    /// SIGUSR1 shows it over-rate, and the clients that waited in the
    /// backlog are served when the next start is allowed: none is refused.
    @Test func aRateLimitedServiceKeepsItsPortAndServesDeferredClients() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait,rate=20 - /bin/echo echo served\n")
        for _ in 0..<20 { #expect(try tcpExchange("127.0.0.1", port) == "served\n") }
        try daemon.waitForLog("event=rate_limited service=127.0.0.1:\(port)/tcp rate=20/60s")
        // Deferred, not refused: the connection is made, and waits.
        let deferred = try ClientSocket.tcp("127.0.0.1", port)
        let squatter = try ClientSocket(family: AF_INET, type: CInt(SOCK_STREAM.rawValue))
        #expect(squatter.bind(makeAddress("127.0.0.1", port)!) != 0 && errno == EADDRINUSE, "the port stays bound")
        daemon.signal(SIGUSR1)
        try daemon.waitForLog("state=over-rate")
        let started = Date()
        #expect(try deferred.receiveAll() == "served\n", "served when the window allows")
        let waited = Date().timeIntervalSince(started)
        #expect(waited > 1 && waited < 6, "the next start came about 3 s after the burst: \(waited) s")
        // The line is written after the spawn, and read by the harness's
        // thread: the client may have its reply first.
        try daemon.waitForLog("event=connection ", times: 21)
        #expect(daemon.count("event=connection ") == 21)
    }

    /// A unix socket's source is the peer's uid: a second connection of the
    /// same uid is over `per-ip=1`; as root, another uid is served meanwhile.
    @Test func unixPeersAreCountedByUID() throws {
        let dir = TemporaryDirectory()
        chmod(dir.path, 0o755)
        let path = dir.path + "/s.sock"
        let script = dir.write("slow", "sleep 2\necho served\n")
        chmod(script, 0o644)
        let daemon = try RunningDaemon(config: "\(path) stream unix nowait,per-ip=1,mode=0666 - /bin/sh sh \(script)\n")
        let first = try ClientSocket(family: AF_UNIX, type: CInt(SOCK_STREAM.rawValue))
        try first.connect(unixAddress(path))
        try daemon.waitUntil("the first handler runs") { childCount(of: daemon.pid) == 1 }
        #expect(try unixExchange(path) == "", "the same uid again: closed")
        if geteuid() == 0 {
            let other = try runProgram("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c",
                "import socket;s=socket.socket(socket.AF_UNIX);s.connect('\(path)');print(s.makefile().read(),end='')"])
            #expect(other.stdout == "served\n", "another uid is its own source: \(other)")
        }
        #expect(try first.receiveAll() == "served\n")
        try daemon.waitForLog("event=source_limited service=\(path)/unix peer=\"uid \(geteuid()) pid ")
    }
}

/// Limits belong to a service and survive a reload that keeps its line's
/// endpoints (SPEC 5).
extension AccessRuleTests {
    /// A reload that lowers `max=` below the running count: the running
    /// handlers finish, new clients wait at the cap, and are served after.
    @Test func aReloadLoweringMaxHoldsNewClientsBackUntilTheRunningFinish() throws {
        let port = try freePort()
        let dir = TemporaryDirectory()
        let script = dir.write("slow", "sleep 2\necho served\n")
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait,max=8 - /bin/sh sh \(script)\n")
        let first = try (0..<4).map { _ in try ClientSocket.tcp("127.0.0.1", port) }
        try daemon.waitUntil("four handlers run") { childCount(of: daemon.pid) == 4 }
        daemon.rewriteConfig("127.0.0.1:\(port) stream tcp nowait,max=2 - /bin/sh sh \(script)\n")
        #expect(try daemon.reload() == "reloaded")
        let late = try ClientSocket.tcp("127.0.0.1", port)
        daemon.signal(SIGUSR1)
        try daemon.waitForLog("state=at-cap program=/bin/sh user=- active=4 pids=")
        #expect(childCount(of: daemon.pid) <= 4, "no handler started over the new cap")
        for client in first { #expect(try client.receiveAll() == "served\n") }
        #expect(try late.receiveAll() == "served\n", "served once the running ones finished")
    }

    /// A source's per-ip-rate bucket is kept across a reload: a reload is
    /// not a fresh burst.
    @Test func aReloadKeepsTheSourcesBuckets() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait,per-ip-rate=2 - internal daytime\n")
        for _ in 0..<2 { #expect(try tcpExchange(from: "127.0.0.1", to: "127.0.0.1", port).hasSuffix("\r\n")) }
        daemon.rewriteConfig("127.0.0.1:\(port) stream tcp nowait,per-ip-rate=2,max=10 - internal daytime\n")
        #expect(try daemon.reload() == "reloaded")
        #expect(try tcpExchange(from: "127.0.0.1", to: "127.0.0.1", port) == "", "still over its rate")
        #expect(try tcpExchange(from: "127.0.0.2", to: "127.0.0.1", port).hasSuffix("\r\n"))
    }
}
