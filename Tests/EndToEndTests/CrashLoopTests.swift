import Foundation
import Glibc
import Testing

/// SPEC section 5: a handler that holds the socket is backed off only when it
/// fails (a non-zero exit, a signal, or an exit 0 that left its input
/// untouched) within 1 s, 3 times in a row. A worker that does its job and
/// exits 0 is never held back.
@Suite struct CrashLoopTests {
    let probe = Binaries.probe

    /// A wait worker that accepts 5 connections and exits 0, under a steady
    /// load of 8 clients that reconnect as soon as they are served: every
    /// client is served, by 20 workers, with no back-off.
    @Test func waitWorkerThatServesFiveAndExitsIsNeverBackedOff() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp wait - \(probe) probe wait-stream 5\n")
        let clients = 8, total = 100
        let served = CapturedPids()
        DispatchQueue.concurrentPerform(iterations: clients) { client in
            for _ in stride(from: client, to: total, by: clients) {
                if let report = try? ProbeReport(tcpExchange("127.0.0.1", port)) { served.add(report.pid) }
            }
        }
        #expect(served.count == total, "every client is served")
        #expect(served.distinct == total / 5, "each worker served 5 clients")
        try daemon.waitForLog("event=exit", times: total / 5)
        #expect(daemon.count("event=backoff") == 0, "\(daemon.log)")
    }

    /// nowait dgram: each handler answers its datagram and exits 0; ten
    /// datagrams 0.3 s apart all get an answer.
    @Test func dgramHandlerThatAnswersAndExitsIsNeverBackedOff() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) dgram udp nowait - \(probe) probe dgram\n")
        var answered = 0
        for i in 1...10 {
            if let reply = try? ProbeReport(udpExchange("127.0.0.1", port, send: "ping-\(i)")),
               reply["datagram"] == "ping-\(i)" { answered += 1 }
            usleep(300_000)
        }
        #expect(answered == 10)
        #expect(daemon.count("event=backoff") == 0, "\(daemon.log)")
    }

    /// Ten requests, each sent the moment the previous one is answered:
    /// how many were answered, and how long they took in all.
    static func tenRequests(_ port: UInt16, check: (ProbeReport) -> Void = { _ in }) throws -> (Int, Double) {
        let client = try ClientSocket(family: AF_INET, type: CInt(SOCK_DGRAM.rawValue))
        try client.connect(makeAddress("127.0.0.1", port)!)
        let started = monotonicSeconds()
        var answered = 0
        for i in 0..<10 {
            try client.send("request-\(i)")
            let reply = try ProbeReport(client.receiveAll(datagram: true))
            if reply["datagram"] == "request-\(i)" { answered += 1 }
            check(reply)
        }
        return (answered, monotonicSeconds() - started)
    }

    /// Issue 19: a client that sends its next request, of the same length,
    /// the moment it has its answer puts a datagram of the same length and
    /// source at the head before the handler exits. It is a new datagram
    /// (the kernel stamped it later): 10 requests are answered at full
    /// speed, with no back-off, and the handler's recvmsg got no control
    /// message it did not ask for.
    @Test func equalLengthRequestsBackToBackAreNeverBackedOff() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) dgram udp nowait - \(probe) probe dgram\n")
        let (answered, elapsed) = try Self.tenRequests(port) { reply in
            #expect(reply["cmsg_bytes"] == "0", "the handler got a control message it did not ask for")
        }
        #expect(answered == 10)
        #expect(elapsed < 3, "10 requests took \(elapsed) s")
        #expect(daemon.count("event=backoff") == 0, "\(daemon.log)")
    }

    /// Issue 19: a second socket keeps two datagrams of one length waiting
    /// for each handler (each answer it gets, it sends two more), so every
    /// handler leaves one like the one it read. Each is consumed, and a
    /// legitimate client is served at full speed meanwhile.
    @Test func sameLengthDatagramsFromASpooferNeverBackAWorkingHandlerOff() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) dgram udp nowait - \(probe) probe dgram\n")
        let rounds = 15
        let spoofed = DispatchGroup()
        let spoofAnswers = CapturedPids()
        DispatchQueue.global().async(group: spoofed) {
            guard let spoofer = try? ClientSocket(family: AF_INET, type: CInt(SOCK_DGRAM.rawValue)),
                  (try? spoofer.connect(makeAddress("127.0.0.1", port)!)) != nil else { return }
            for _ in 0..<rounds {
                guard (try? spoofer.send("same")) != nil, (try? spoofer.send("same")) != nil,
                      (try? spoofer.receiveAll(datagram: true)) != nil else { return }
                spoofAnswers.add(0)
            }
        }
        let (answered, elapsed) = try Self.tenRequests(port)
        spoofed.wait()
        #expect(spoofAnswers.count == rounds)
        #expect(answered == 10)
        #expect(elapsed < 3, "10 requests took \(elapsed) s")
        #expect(daemon.count("event=backoff") == 0, "\(daemon.log)")
    }

    /// Issue 19: two clients connect at once to a unix wait line whose
    /// worker accepts one and exits 0, 100 times: the second client is
    /// already queued when the first worker exits, which must read as
    /// progress (the queue's head changed), never as a stalled worker.
    @Test func unixWorkerThatServesOneOfTwoIsNeverBackedOff() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/pairs.sock"
        let daemon = try RunningDaemon(config: "\(path) stream unix wait - \(probe) probe wait-stream 1\n")
        let started = monotonicSeconds()
        var served = 0
        pairs: for _ in 0..<100 {
            // A 2 s time-out: a worker held back leaves a client waiting at
            // least 1 s, and the test stops at the first.
            let first = try ClientSocket(family: AF_UNIX, type: CInt(SOCK_STREAM.rawValue), timeout: 2)
            let second = try ClientSocket(family: AF_UNIX, type: CInt(SOCK_STREAM.rawValue), timeout: 2)
            try first.connect(unixAddress(path))
            try second.connect(unixAddress(path))
            for client in [first, second] {
                guard (try? ProbeReport(client.receiveAll())) != nil else { break pairs }
                served += 1
            }
        }
        let elapsed = monotonicSeconds() - started
        #expect(served == 200)
        #expect(daemon.count("event=backoff") == 0, "after \(elapsed) s: \(daemon.log)")
    }

    /// Starts of a handler that fails at once while a client waits, over 10 s:
    /// 3 quick failures, then one start per back-off of 1, 2 and 4 s.
    static func startsInTenSeconds(_ config: String, input: (UInt16) throws -> ClientSocket) throws -> (Int, RunningDaemon) {
        let port = try freePort()
        let daemon = try RunningDaemon(config: config.replacingOccurrences(of: "PORT", with: "\(port)"))
        let client = try input(port)
        try daemon.waitForLog("event=backoff")
        Thread.sleep(forTimeInterval: 10)  // the window the rule is stated over
        let starts = daemon.count("event=handover")
        client.close()
        return (starts, daemon)
    }

    @Test func waitHandlerThatExitsOneIsHeldBack() throws {
        let (starts, daemon) = try Self.startsInTenSeconds("127.0.0.1:PORT stream tcp wait - \(probe) probe exit 1\n") {
            try ClientSocket.tcp("127.0.0.1", $0)
        }
        #expect(starts >= 4 && starts <= 7, "\(starts) starts")
        #expect(daemon.log.contains("reason=\"handler exit 1 after"))
    }

    @Test func waitHandlerThatExitsZeroWithoutAcceptingIsHeldBack() throws {
        let (starts, daemon) = try Self.startsInTenSeconds("127.0.0.1:PORT stream tcp wait - \(probe) probe exit 0\n") {
            try ClientSocket.tcp("127.0.0.1", $0)
        }
        #expect(starts >= 4 && starts <= 7, "\(starts) starts")
        #expect(daemon.log.contains("exited 0 without consuming its input"))
    }

    @Test func dgramHandlerThatExitsZeroWithoutReadingIsHeldBack() throws {
        let (starts, daemon) = try Self.startsInTenSeconds("127.0.0.1:PORT dgram udp nowait - \(probe) probe exit 0\n") {
            let client = try ClientSocket(family: AF_INET, type: CInt(SOCK_DGRAM.rawValue))
            try client.connect(makeAddress("127.0.0.1", $0)!)
            try client.send("never read")
            return client
        }
        #expect(starts >= 4 && starts <= 7, "\(starts) starts")
        #expect(daemon.log.contains("exited 0 without consuming its input"))
    }

    /// Issue 19: a `wait,listen-fds` line with two sockets whose handler
    /// exits 0 at once while a client waits on one of them. The idle second
    /// socket is no progress: the handler is held back as on one socket.
    @Test func listenFdsHandlerThatExitsZeroWithoutAcceptingIsHeldBackOnTwoSockets() throws {
        let config = "127.0.0.1,[::1]:PORT stream tcp wait,listen-fds - \(probe) probe exit 0\n"
        let (starts, daemon) = try Self.startsInTenSeconds(config) { try ClientSocket.tcp("127.0.0.1", $0) }
        #expect(starts >= 4 && starts <= 7, "\(starts) starts")
        #expect(daemon.log.contains("exited 0 without consuming its input"))
    }

    @Test func unixWaitHandlerThatExitsZeroWithoutAcceptingIsHeldBack() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/w.sock"
        let (starts, daemon) = try Self.startsInTenSeconds("\(path) stream unix wait - \(probe) probe exit 0\n") { _ in
            let client = try ClientSocket(family: AF_UNIX, type: CInt(SOCK_STREAM.rawValue))
            try client.connect(unixAddress(path))
            return client
        }
        #expect(starts >= 4 && starts <= 7, "\(starts) starts")
        #expect(daemon.log.contains("exited 0 without consuming its input"))
    }
}

func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// Pids of the handlers that served, gathered from several client threads.
final class CapturedPids: @unchecked Sendable {
    private let lock = NSLock()
    private var pids: [Int] = []
    func add(_ pid: Int) { lock.withLock { pids.append(pid) } }
    var count: Int { lock.withLock { pids.count } }
    var distinct: Int { lock.withLock { Set(pids).count } }
}
