import Foundation
import Glibc
import Testing

/// SPEC 5: the loop never waits on a child without a deadline. Between its
/// setuid and its execve a child already has its line's uid, so any process
/// of that uid can stop it, and SIGSTOP cannot be blocked. The attack: a
/// process running as a line's user stops inetd's children, over and over,
/// while clients connect.
@Suite(.serialized) struct StoppedChildTests {
    /// A user no other test runs handlers as: the stopper stops every
    /// process of its uid.
    static let victim = "games"

    static var victimIDs: (uid: uid_t, gid: gid_t)? {
        guard let record = getpwnam(victim) else { return nil }
        return (record.pointee.pw_uid, record.pointee.pw_gid)
    }

    /// Signals every child of `parent`, over and over, as `ids`: it gets
    /// through to a child from its setuid on.
    static func signalChildren(of parent: pid_t, as ids: (uid: uid_t, gid: gid_t), _ signal: CInt,
                               beforeExecOnly: Bool = false) throws -> pid_t {
        try spawnProcess([Binaries.probe, "signal-children", "\(signal)", "\(ids.uid)", "\(ids.gid)", "\(parent)"]
                         + (beforeExecOnly ? ["before-exec"] : []), descriptors: [0: .devNull(O_RDONLY)])
    }

    /// Every process of the victim's uid still there (handlers stopped after
    /// their exec stay stopped), killed.
    static func killEveryProcess(of ids: (uid: uid_t, gid: gid_t)) {
        let all = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for name in all {
            guard let pid = pid_t(name), let status = try? String(contentsOfFile: "/proc/\(name)/status", encoding: .utf8),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }),
                  line.split(separator: "\t").dropFirst().first == "\(ids.uid)" else { continue }
            kill(pid, SIGKILL)
        }
    }

    @Test(.enabled(if: getuid() == 0 && victimIDs != nil, "needs root and the user '\(victim)'"))
    func aStoppedChildCannotFreezeTheDaemon() throws {
        let ids = Self.victimIDs!
        let spawnPort = try freePort(), handOverPort = try freePort(), echoPort = try freePort()
        let daemon = try RunningDaemon(config: """
            127.0.0.1:\(spawnPort) stream tcp nowait,max=0 \(Self.victim) /bin/true true
            127.0.0.1:\(handOverPort) dgram udp wait \(Self.victim) /bin/true true
            127.0.0.1:\(echoPort) stream tcp nowait - internal echo

            """, arguments: [])
        // The attacker: a process of the line's uid. The window between
        // setuid and execve is a few system calls long, so on a busy machine
        // it may go minutes without a hit; a second stopper, as root, stops
        // children at any step before their exec (a child stuck there for
        // whatever reason), which the loop must bound all the same.
        let stoppers = [try Self.signalChildren(of: daemon.pid, as: ids, SIGSTOP),
                        try Self.signalChildren(of: daemon.pid, as: (0, 0), SIGSTOP, beforeExecOnly: true)]
        func endStoppers() {
            for stopper in stoppers where kill(stopper, SIGKILL) == 0 { _ = try? waitForExit(stopper, timeout: 10, "stopper") }
        }
        defer {
            endStoppers()
            Self.killEveryProcess(of: ids)
        }
        let caught = "no execve 2000 ms after clone (stopped or stuck), killed"
        // Rounds of clients that connect and close, each followed by an echo
        // the loop must answer, until a child caught before its exec was
        // killed (2 s after its clone) and the loop answered after that.
        // Before the fix, the 8 child slots filled with stopped children,
        // the next spawn waited for its child in clone, and that child was
        // stopped too: the loop hung for good.
        var connections = 0, answeredAfterCatch = false
        let deadline = Date().addingTimeInterval(90)
        while !answeredAfterCatch, Date() < deadline {
            let caughtBefore = daemon.log.contains(caught)
            DispatchQueue.concurrentPerform(iterations: 4) { _ in
                for _ in 0..<25 {
                    _ = try? ClientSocket.tcp("127.0.0.1", spawnPort)
                    if let client = try? ClientSocket(family: AF_INET, type: CInt(SOCK_DGRAM.rawValue), timeout: 1) {
                        _ = try? client.connect(makeAddress("127.0.0.1", handOverPort)!)
                        _ = try? client.send("x")
                    }
                }
            }
            connections += 100
            let echoed = try? Self.echo("round \(connections)", port: echoPort)
            guard echoed == "round \(connections)" else {
                Issue.record("the loop did not answer after \(connections) connections:\n\(daemon.log.suffix(3_000))")
                return
            }
            answeredAfterCatch = caughtBefore
            // Past the bound, a child caught in this round is killed and logged.
            if !caughtBefore { try? daemon.waitForLog(caught, timeout: 2.5) }
        }
        endStoppers()
        #expect(answeredAfterCatch, "a child stopped before its exec was killed (\(connections) connections)")
        #expect(daemon.log.contains("event=spawn_failed"))
        let status = try daemon.stop()
        #expect(exitCode(status) == 0, "stops at SIGTERM")
    }
}

extension StoppedChildTests {
    /// `text` through the echo built-in, within 3 s.
    static func echo(_ text: String, port: UInt16) throws -> String {
        let client = try ClientSocket(family: AF_INET, type: CInt(SOCK_STREAM.rawValue), timeout: 3)
        try client.connect(makeAddress("127.0.0.1", port)!)
        try client.send(text)
        client.shutdownWrite()
        return try client.receiveAll()
    }
}
