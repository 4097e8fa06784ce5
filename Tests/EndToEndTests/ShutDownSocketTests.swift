import Foundation
import Glibc
import Testing

/// A wait handler that shuts down the socket it was given: the socket no
/// longer listens (a datagram socket reads EOF) yet stays readable, so put
/// back in the loop it would start a handler on every turn (5,129 spawns and
/// as many log lines in 3 s before issue 19). It is a failed hand-over: the
/// service backs off, it is logged once per episode, and the socket is
/// bound anew.
@Suite struct ShutDownSocketTests {
    let probe = Binaries.probe

    static let lines: [String] = [
        "127.0.0.1:PORT stream tcp wait - PROBE probe shut-down",
        "127.0.0.1:PORT dgram udp wait - PROBE probe shut-down",
        "DIR/s.sock stream unix wait - PROBE probe shut-down",
    ]

    @Test(arguments: lines)
    func aHandlerThatShutsItsSocketDownIsBackedOffAndTheSocketBoundAnew(_ line: String) throws {
        let port = try freePort()
        let dir = TemporaryDirectory()
        let config = line.replacingOccurrences(of: "PORT", with: "\(port)").replacingOccurrences(of: "PROBE", with: probe)
            .replacingOccurrences(of: "DIR", with: dir.path)
        let daemon = try RunningDaemon(config: config + "\n")
        let unixPath = dir.path + "/s.sock"
        func knock() -> ClientSocket? {
            if line.contains("unix") {
                guard let client = try? ClientSocket(family: AF_UNIX, type: CInt(SOCK_STREAM.rawValue), timeout: 1) else { return nil }
                return (try? client.connect(unixAddress(unixPath))) != nil ? client : nil
            }
            if line.contains("dgram") {
                guard let client = try? ClientSocket(family: AF_INET, type: CInt(SOCK_DGRAM.rawValue), timeout: 1),
                      (try? client.connect(makeAddress("127.0.0.1", port)!)) != nil, (try? client.send("x")) != nil else { return nil }
                return client
            }
            return try? ClientSocket.tcp("127.0.0.1", port)
        }
        var clients = [knock()]
        try daemon.waitForLog("event=socket_shut_down")
        // The socket was bound anew: clients reach it again while the
        // service backs off (1 s, 2 s, 4 s...). A client may be refused
        // between a handler's shutdown and inetd's rebind, once per start.
        let deadline = Date().addingTimeInterval(3)
        var refused = 0, knocks = 0
        while Date() < deadline {
            let client = knock()
            knocks += 1
            if client == nil { refused += 1 }
            clients.append(client)
            usleep(200_000)
        }
        #expect(refused <= 2, "the address takes clients again: \(refused) of \(knocks) refused:\n\(daemon.log)")
        let handovers = daemon.count("event=handover")
        #expect((2...4).contains(handovers), "started once, then once per back-off, in 3 s: \(handovers)")
        // Once per episode: the first in full, repeats as `repeated=N`
        // when a window (1 s, doubling) ends; never a line per start.
        let lines = daemon.count("event=socket_shut_down")
        #expect(lines <= 3 && lines <= handovers, "once per episode: \(lines) lines:\n\(daemon.log)")
        #expect(!daemon.log.contains("event=socket_condition"), "\(daemon.log)")
        #expect(try daemon.stop() & 0x7F == 0)
        _ = clients
    }
}
