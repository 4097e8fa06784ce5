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

/// Pids of the handlers that served, gathered from several client threads.
final class CapturedPids: @unchecked Sendable {
    private let lock = NSLock()
    private var pids: [Int] = []
    func add(_ pid: Int) { lock.withLock { pids.append(pid) } }
    var count: Int { lock.withLock { pids.count } }
    var distinct: Int { lock.withLock { Set(pids).count } }
}
