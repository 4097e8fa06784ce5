import Foundation
import Glibc
import Testing

/// What systemd reads on NOTIFY_SOCKET (SPEC 1), with a socket of the test
/// standing in for it: READY=1 with STATUS=, WATCHDOG=1 from the loop at half
/// of WATCHDOG_USEC, the notify-reload protocol, STOPPING=1.
@Suite struct SupervisorNotifyTests {
    /// A line whose handler holds its connection until the client closes.
    static func service(_ port: UInt16) -> String {
        "127.0.0.1:\(port) stream tcp nowait - \(Binaries.probe) probe hold\n"
    }

    /// WATCHDOG_USEC=200000: a ping about every 100 ms. A stopped process
    /// (SIGSTOP, as a loop stuck in a call would be) sends none; SIGCONT
    /// brings them back.
    @Test func watchdogPingsFromTheLoopAndStopsWithIt() throws {
        let dir = TemporaryDirectory()
        let notify = try NotifyStandIn(in: dir)
        let daemon = try RunningDaemon(config: Self.service(try freePort()),
                                       environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000"])
        _ = try notify.await("READY=1") { $0.hasPrefix("READY=1") }
        // Logged before readiness, but read by the harness's own thread.
        try daemon.waitForLog("event=watchdog interval_us=200000 ping_ms=100")
        let pings = notify.collect(for: 0.55).filter { $0.text == "WATCHDOG=1" }
        #expect(pings.count >= 4, "about 5 pings in 0.55 s: \(pings.count)")
        let gaps = zip(pings.dropFirst(), pings).map { Double($0.at - $1.at) / 1000 }.sorted()
        if !gaps.isEmpty {
            let median = gaps[gaps.count / 2]
            #expect(median > 70 && median < 200, "pings at half the interval (100 ms): gaps \(gaps) ms")
        }

        daemon.signal(SIGSTOP)
        try daemon.waitUntil("inetd stopped") { processState(daemon.pid) == "T" }
        notify.drain()
        let whileStopped = notify.collect(for: 0.4)
        #expect(whileStopped.isEmpty, "no ping while the loop cannot run: \(whileStopped.map(\.text))")
        daemon.signal(SIGCONT)
        let resumed = try notify.await("WATCHDOG=1 after SIGCONT", timeout: 5) { $0 == "WATCHDOG=1" }
        #expect(resumed.before.isEmpty)
        #expect(exitCode(try daemon.stop()) == 0)
    }

    /// A stop that waits for a wait handler (here one that takes 0.3 s to
    /// end after SIGTERM) keeps pinging until inetd exits.
    @Test func watchdogPingsWhileTheStopWaitsForWaitHandlers() throws {
        let dir = TemporaryDirectory()
        let notify = try NotifyStandIn(in: dir)
        let port = try freePort()
        let trapped = dir.path + "/trapped"
        let handler = dir.write("slow-stop", "trap 'sleep 0.3; exit 0' TERM\n: > \(trapped)\nwhile :; do sleep 0.05; done\n")
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp wait - /bin/sh sh \(handler)\n",
                                       environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "100000"])
        let client = try ClientSocket.tcp("127.0.0.1", port)
        try daemon.waitUntil("the handler's trap") { FileManager.default.fileExists(atPath: trapped) }
        notify.drain()  // room in the queue (10 datagrams) for what the stop sends
        #expect(exitCode(try daemon.stop()) == 0)
        let stopping = try notify.await("STOPPING=1") { $0 == "STOPPING=1" }
        let after = notify.collect(for: 0).map(\.text)
        #expect(after.filter { $0 == "WATCHDOG=1" }.count >= 2, "pings while the handler ends: \(after)\n\(daemon.log)")
        _ = (client, stopping)
    }

    /// WATCHDOG_PID names whose watchdog it is: inetd's own pid pings, any
    /// other does not; a value that is not a number is a warning, and no
    /// watchdog.
    @Test(arguments: [
        ("own", "200000", true, "event=watchdog "),
        ("1", "200000", false, "reason=\"WATCHDOG_PID=1 is another process\""),
        ("own", "0", false, "reason=\"WATCHDOG_USEC=0 is out of range\""),
        ("own", "20ms", false, "reason=\"WATCHDOG_USEC=20ms is not a number of microseconds\""),
        ("own", "18446744073709551616", false, "is not a number of microseconds"),
        ("x1", "200000", false, "reason=\"WATCHDOG_PID=x1 is not a process id\""),
    ])
    func watchdogIsForTheProcessWatchdogPIDNames(pid: String, usec: String, pings: Bool, logged: String) throws {
        let dir = TemporaryDirectory()
        let notify = try NotifyStandIn(in: dir)
        // `exec` keeps the shell's pid: $$ is inetd's pid.
        let launcher = pid == "own" ? ["/bin/sh", "-c", "WATCHDOG_PID=$$ exec \"$@\"", "sh"] : []
        var environment = ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": usec]
        if pid != "own" { environment["WATCHDOG_PID"] = pid }
        let daemon = try RunningDaemon(config: Self.service(try freePort()), environment: environment, launcher: launcher)
        _ = try notify.await("READY=1") { $0.hasPrefix("READY=1") }
        try daemon.waitForLog(logged)
        if pings {
            _ = try notify.await("WATCHDOG=1", timeout: 2) { $0 == "WATCHDOG=1" }
        } else {
            #expect(daemon.log.contains("event=watchdog_off"), "\(daemon.log)")
            let got = notify.collect(for: 0.3).map(\.text)
            #expect(!got.contains("WATCHDOG=1"), "three intervals without a ping: \(got)")
        }
        #expect(exitCode(try daemon.stop()) == 0)
    }

    /// STATUS= comes with READY=1, then follows the counts, at most once a
    /// second: services, sockets not bound, handlers running.
    @Test func statusCarriesTheCountsAndFollowsThem() throws {
        let dir = TemporaryDirectory()
        let notify = try NotifyStandIn(in: dir)
        let port = try freePort()
        // A port the test holds: inetd cannot bind it.
        let taken = try freePort()
        let holder = try ClientSocket(family: AF_INET, type: CInt(SOCK_STREAM.rawValue))
        #expect(holder.bind(makeAddress("127.0.0.1", taken)!) == 0)
        #expect(listen(holder.fd, 1) == 0)
        let daemon = try RunningDaemon(config: Self.service(port) + "127.0.0.1:\(taken) stream tcp nowait - internal echo\n",
                                       environment: ["NOTIFY_SOCKET": notify.path])
        let ready = try notify.await("READY=1") { $0.hasPrefix("READY=1") }
        #expect(ready.found == "READY=1\nSTATUS=2 services, 1 not bound, 0 handlers")

        let client = try ClientSocket.tcp("127.0.0.1", port)
        var first = [UInt8](repeating: 0, count: 4)
        #expect(recv(client.fd, &first, 4, 0) == 4, "the handler runs")
        let one = try notify.await("STATUS with 1 handler", timeout: 5) { $0.hasPrefix("STATUS=") }
        let oneAt = monotonicMicroseconds()
        #expect(one.found == "STATUS=2 services, 1 not bound, 1 handler")
        client.close()
        let none = try notify.await("STATUS with 0 handlers", timeout: 5) { $0.hasPrefix("STATUS=") }
        #expect(none.found == "STATUS=2 services, 1 not bound, 0 handlers")
        #expect(monotonicMicroseconds() - oneAt > 800_000, "a second between two STATUS= lines")
        #expect(exitCode(try daemon.stop()) == 0)
    }

    /// systemd 253's Type=notify-reload needs RELOADING=1 with
    /// MONOTONIC_USEC (CLOCK_MONOTONIC, as systemd reads it), then READY=1;
    /// the new STATUS= comes with it. STOPPING=1 at SIGTERM.
    @Test func reloadSpeaksTheNotifyReloadProtocol() throws {
        let dir = TemporaryDirectory()
        let notify = try NotifyStandIn(in: dir)
        let daemon = try RunningDaemon(config: Self.service(try freePort()), environment: ["NOTIFY_SOCKET": notify.path])
        #expect(try notify.await("READY=1") { $0.hasPrefix("READY=1") }.found
                == "READY=1\nSTATUS=1 service, 0 not bound, 0 handlers")
        daemon.rewriteConfig(Self.service(try freePort()) + Self.service(try freePort()))
        let before = monotonicMicroseconds()
        try daemon.reload()
        let reloading = try notify.await("RELOADING=1") { _ in true }
        let fields = notifyFields(reloading.found)
        #expect(fields["RELOADING"] == "1", "\(reloading.found)")
        let stamp = try #require(fields["MONOTONIC_USEC"].flatMap { Int64($0) }, "\(reloading.found)")
        #expect(stamp >= before && stamp <= monotonicMicroseconds(), "MONOTONIC_USEC is CLOCK_MONOTONIC now")
        #expect(try notify.await("READY=1") { _ in true }.found == "READY=1\nSTATUS=2 services, 0 not bound, 0 handlers")
        #expect(exitCode(try daemon.stop()) == 0)
        #expect(try notify.await("STOPPING=1") { _ in true }.found == "STOPPING=1")
    }
}
