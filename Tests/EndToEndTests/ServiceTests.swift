import Foundation
import Glibc
import Testing

/// inetd serving real connections over loopback, as a client sees it and as
/// the probe handler reports it.
@Suite struct ServiceTests {
    let probe = Binaries.probe

    @Test func nowaitTCPOverIPv4() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait - \(probe) probe report\n")
        let report = try ProbeReport(tcpExchange("127.0.0.1", port))
        #expect(report.environment["PROTO"] == "TCP")
        #expect(report.environment["TCPREMOTEIP"] == "127.0.0.1")
        #expect(report.environment["TCPLOCALIP"] == "127.0.0.1")
        #expect(report.environment["TCPLOCALPORT"] == "\(port)")
        #expect(report.environment["TCPREMOTEPORT"].flatMap { Int($0) } != nil)
        #expect(report["argv.0"] == "probe")
        #expect(report["argv.1"] == "report")
        try daemon.waitForLog("event=exit", times: 1)
        #expect(daemon.log.contains("event=connection service=127.0.0.1:\(port)/tcp peer=127.0.0.1:"))
    }

    @Test func nowaitTCPOverIPv6() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "[::1]:\(port) stream tcp6 nowait - \(probe) probe\n")
        let report = try ProbeReport(tcpExchange("::1", port))
        #expect(report.environment["PROTO"] == "TCP6")
        #expect(report.environment["TCPREMOTEIP"] == "::1")
        #expect(report.environment["TCPLOCALIP"] == "::1")
        _ = daemon
    }

    @Test func wildcardTCPServesBothFamiliesWithLocalAddress() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "\(port) stream tcp nowait - \(probe) probe\n")
        let v4 = try ProbeReport(tcpExchange("127.0.0.1", port))
        let v6 = try ProbeReport(tcpExchange("::1", port))
        #expect(v4.environment["TCPLOCALIP"] == "127.0.0.1")
        #expect(v6.environment["TCPLOCALIP"] == "::1")
        #expect(v6.environment["PROTO"] == "TCP6")
        _ = daemon
    }

    @Test func dualStackSocketShowsIPv4PeersAsIPv4() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "\(port) stream tcp46 nowait - \(probe) probe\n")
        let v4 = try ProbeReport(tcpExchange("127.0.0.1", port))
        #expect(v4.environment["PROTO"] == "TCP")
        #expect(v4.environment["TCPREMOTEIP"] == "127.0.0.1", "not ::ffff:127.0.0.1")
        #expect(v4.environment["TCPLOCALIP"] == "127.0.0.1")
        let v6 = try ProbeReport(tcpExchange("::1", port))
        #expect(v6.environment["PROTO"] == "TCP6")
        #expect(v6.environment["TCPREMOTEIP"] == "::1")
        _ = daemon
    }

    @Test func nowaitUDPGetsTheDatagramUnread() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) dgram udp nowait - \(probe) probe dgram\n")
        let first = try ProbeReport(udpExchange("127.0.0.1", port, send: "ping-1"))
        #expect(first["datagram"] == "ping-1")
        #expect(first.environment["PROTO"] == "UDP")
        #expect(first["fd.0"]?.contains("socktype=2") == true)
        #expect(first["fd.0"]?.contains("nonblock=0") == true)
        try daemon.waitForLog("event=exit", times: 1)
        let second = try ProbeReport(udpExchange("127.0.0.1", port, send: "ping-2"))
        #expect(second["datagram"] == "ping-2")
        #expect(second.pid != first.pid)
    }

    @Test func nowaitUnixStream() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/probe.sock"
        let daemon = try RunningDaemon(config: "\(path) stream unix nowait,mode=0600 - \(probe) probe\n")
        var info = stat()
        #expect(lstat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        let report = try ProbeReport(unixExchange(path))
        #expect(report.environment["PROTO"] == "UNIX")
        #expect(report.environment["TCPREMOTEIP"] == nil)
        try daemon.stop()
        #expect(lstat(path, &info) != 0, "the socket path is removed at stop")
    }

    @Test func staleUnixSocketIsReplacedButAFileIsNot() throws {
        let dir = TemporaryDirectory()
        let stale = dir.path + "/stale.sock"
        let plain = dir.path + "/plain.sock"
        // A socket file nobody listens on: bound, then closed.
        let fd = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue), 0)
        _ = unixAddress(stale).withUnsafeBytes { bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count)) }
        close(fd)
        _ = dir.write("plain.sock", "not a socket")
        let daemon = try RunningDaemon(config: """
            \(stale) stream unix nowait - \(probe) probe
            \(plain) stream unix nowait - \(probe) probe
            """)
        #expect(try ProbeReport(unixExchange(stale)).environment["PROTO"] == "UNIX")
        try daemon.waitForLog("event=bind_failed")
        #expect((try? String(contentsOfFile: plain, encoding: .utf8)) == "not a socket")
    }

    @Test func waitTCPHandsTheListenerOverAndTakesItBack() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp wait - \(probe) probe wait-stream\n")
        let first = try ProbeReport(tcpExchange("127.0.0.1", port))
        #expect(first["fd.0"]?.contains("listening=1") == true)
        #expect(first["fd.0"]?.contains("nonblock=0") == true, "a wait handler gets a blocking listener")
        #expect(first.environment["PROTO"] == nil)
        // The next connection is served by a new handler once the first exits.
        let second = try ProbeReport(tcpExchange("127.0.0.1", port))
        #expect(second.pid != first.pid)
        try daemon.waitForLog("event=exit", times: 2)
    }

    @Test func waitTCPQueuesConnectionsWhileNoHandlerRuns() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp wait - \(probe) probe wait-stream\n")
        // Three clients connect at once; the handler serves one per run, and
        // none is refused across the restarts.
        let clients = try (0..<3).map { _ in
            let client = try ClientSocket.tcp("127.0.0.1", port)
            return client
        }
        let pids = try clients.map { try ProbeReport($0.receiveAll()).pid }
        #expect(Set(pids).count == 3)
        _ = daemon
    }

    @Test func waitUDPServesEachDatagramWithAFreshHandler() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) dgram udp wait - \(probe) probe dgram\n")
        let first = try ProbeReport(udpExchange("127.0.0.1", port, send: "one"))
        #expect(first["datagram"] == "one")
        #expect(first.environment["PROTO"] == nil)
        try daemon.waitForLog("event=exit", times: 1)
        let second = try ProbeReport(udpExchange("127.0.0.1", port, send: "two"))
        #expect(second["datagram"] == "two")
        #expect(second.pid != first.pid)
    }

    @Test func execFailureIsLoggedAndOtherServicesServe() throws {
        let bad = try freePort()
        let good = try freePort()
        let daemon = try RunningDaemon(config: """
            127.0.0.1:\(bad) stream tcp nowait - /nonexistent/handler handler
            127.0.0.1:\(good) stream tcp nowait - \(probe) probe
            """)
        let reply = try tcpExchange("127.0.0.1", bad)
        #expect(reply.isEmpty, "the connection is closed")
        try daemon.waitForLog("event=spawn_failed")
        #expect(daemon.log.contains("error=\"execve: No such file or directory (errno 2)\""))
        #expect(try ProbeReport(tcpExchange("127.0.0.1", good))["argv.0"] == "probe")
    }

    @Test func portInUseIsLoggedOthersRunAndReloadRetries() throws {
        let busy = try freePort()
        let good = try freePort()
        let holder = try ClientSocket(family: AF_INET, type: CInt(SOCK_STREAM.rawValue))
        var one: CInt = 1
        setsockopt(holder.fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
        holder.bind(makeAddress("127.0.0.1", busy)!)
        listen(holder.fd, 1)
        let config = """
            127.0.0.1:\(busy) stream tcp nowait - \(probe) probe busy
            127.0.0.1:\(good) stream tcp nowait - \(probe) probe good
            """
        let daemon = try RunningDaemon(config: config)
        try daemon.waitForLog("event=bind_failed")
        #expect(daemon.log.contains("Address already in use"))
        #expect(daemon.log.contains("retry_in_s=60"))
        #expect(try ProbeReport(tcpExchange("127.0.0.1", good))["argv.1"] == "good")
        holder.close()
        try daemon.reload()
        #expect(try ProbeReport(tcpExchange("127.0.0.1", busy))["argv.1"] == "busy")
        // The log does not end at bind_failed while the port serves.
        try daemon.waitForLog("level=info event=bound service=127.0.0.1:\(busy)/tcp address=127.0.0.1:\(busy)/tcp4 after=")
    }

    @Test func dgramHandlerThatNeverReadsIsBackedOffInsteadOfRespawnedInALoop() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) dgram udp nowait - \(probe) probe exit 0\n")
        let client = try ClientSocket(family: AF_INET, type: CInt(SOCK_DGRAM.rawValue))
        try client.connect(makeAddress("127.0.0.1", port)!)
        try client.send("never read")
        try daemon.waitForLog("event=backoff")
        // Three quick exits in a row, then the socket rests: no fourth start
        // before the back-off has passed.
        #expect(daemon.count("event=handover") == 3)
        #expect(daemon.log.contains("delay_ms=1000"))
    }
}
