import Foundation
import Glibc
import Testing

/// A log write never blocks the loop: a reader that stalls costs log lines
/// (dropped and counted), never service. Lines a client can cause at will
/// come one per episode with a count.
@Suite struct LogBackpressureTests {
    let probe = Binaries.probe

    /// inetd with -d and stderr on a pipe (or socket) the test does not read
    /// while 2,000 connections are served: every client is served, inetd
    /// still answers at once and stops on SIGTERM; once the pipe is read
    /// again, a `log_dropped` line says how many lines were lost, and every
    /// line that did get through is whole.
    @Test(arguments: ["pipe", "socket"])
    func stalledReaderNeverStopsServing(kind: String) throws {
        let port = try freePort()
        let daemon = try StalledDaemon(config: "127.0.0.1:\(port) stream tcp nowait - \(probe) probe report\n",
                                       socket: kind == "socket")
        var served = 0
        var lastReport: ProbeReport?
        let started = Date()
        for _ in 0..<2000 {
            // One failure is enough: a blocked daemon would cost 10 s a client.
            guard let report = try? ProbeReport(tcpExchange("127.0.0.1", port)) else { break }
            served += 1
            lastReport = report
        }
        let elapsed = Date().timeIntervalSince(started)
        #expect(served == 2000, "every connection is served (\(elapsed) s)")
        // Handlers' stderr is the shared file description: still blocking.
        #expect(lastReport?["fd.2"]?.contains("nonblock=0") == true, "\(lastReport?["fd.2"] ?? "no report")")
        // The reader is back: the next line that gets through (or a retry
        // within a second) is preceded by the count.
        var text = daemon.drain(quiet: 0.2)
        let promptly = Date()
        let report = try ProbeReport(tcpExchange("127.0.0.1", port))
        #expect(Date().timeIntervalSince(promptly) < 2, "inetd answers promptly")
        #expect(report["fd.2"]?.contains("nonblock=0") == true)
        let deadline = Date().addingTimeInterval(10)
        while !text.contains("event=log_dropped"), Date() < deadline { text += daemon.drain(quiet: 0.1) }
        #expect(Self.droppedCount(text) > 0, "a log_dropped line with a count: \(text.suffix(500))")

        let status = try daemon.stop()
        #expect(exitCode(status) == 0, "clean exit after SIGTERM")
        text += daemon.drain(quiet: 0.3)
        let dropped = Self.droppedCount(text)
        #expect(text.contains("event=stopped"))
        // Whole lines only: each one starts a logfmt record, none is cut.
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.last == "", "the output ends with a newline")
        let broken = lines.dropLast().filter { !$0.hasPrefix("level=") || !$0.contains(" event=") }
        #expect(broken.isEmpty, "cut or merged lines: \(broken.prefix(3))")
        // What got through plus what was counted covers a connection line
        // and an exit line for each client.
        let connections = text.components(separatedBy: " event=connection ").count - 1
        #expect(connections < 2001, "lines were dropped")
        #expect(lines.count - 1 + dropped >= 2 * 2001, "\(lines.count - 1) lines, \(dropped) dropped")
    }

    /// 500 connections to a service whose program does not exist: a handful
    /// of `spawn_failed` lines, and their `repeated=` counts add up to 500.
    @Test func spawnFailuresAreOneLinePerEpisode() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait - /nonexistent/handler handler\n",
                                       arguments: [])
        for _ in 0..<500 { _ = try? tcpExchange("127.0.0.1", port) }
        // A summary comes when a window ends, with no further event.
        try daemon.waitForLog("event=spawn_failed service=127.0.0.1:\(port)/tcp repeated=")
        try daemon.stop()
        let (lines, total) = Self.episodeTotals(daemon.log, event: "spawn_failed")
        #expect(lines >= 1 && lines < 25, "far fewer lines than failures:\n\(daemon.log)")
        #expect(total == 500, "lines and repeated= counts add up:\n\(daemon.log)")
    }

    /// Without -d, a handler that exits 3 for every connection: a few `exit`
    /// lines whose counts add up; with -d (the other tests), one per exit.
    @Test func abnormalExitsAreOneLinePerEpisode() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait - \(probe) probe exit 3\n",
                                       arguments: [])
        for _ in 0..<200 { _ = try? tcpExchange("127.0.0.1", port) }
        // Each connection closes when its handler exits; each exit is
        // counted when the handler is reaped (a zombie is still a child).
        try daemon.waitUntil("every handler reaped") { childCount(of: daemon.pid) == 0 }
        try daemon.stop()
        let (lines, total) = Self.episodeTotals(daemon.log, event: "exit")
        #expect(lines >= 1 && lines < 25, "far fewer lines than exits:\n\(daemon.log)")
        #expect(total == 200, "lines and repeated= counts add up:\n\(daemon.log)")
    }

    /// Lines of `event` and the occurrences they stand for: 1 for a full
    /// line, N for a `repeated=N` summary.
    static func episodeTotals(_ log: String, event: String) -> (lines: Int, total: Int) {
        var lines = 0, total = 0
        for line in log.split(separator: "\n") where line.contains(" event=\(event) ") {
            lines += 1
            if let range = line.range(of: " repeated=") {
                total += Int(line[range.upperBound...].prefix { $0.isNumber }) ?? 0
            } else {
                total += 1
            }
        }
        return (lines, total)
    }

    static func droppedCount(_ text: String) -> Int {
        var sum = 0
        for line in text.split(separator: "\n") where line.hasPrefix("level=warn event=log_dropped lines=") {
            sum += Int(line.dropFirst("level=warn event=log_dropped lines=".count)) ?? 0
        }
        return sum
    }
}

/// inetd with its stderr on a pipe or socket that nobody reads until the
/// test calls `drain`. Modelled on `RunningDaemon`, without its reader.
final class StalledDaemon {
    let pid: pid_t
    let directory = TemporaryDirectory()
    /// The read end, non-blocking; kept open so that writes stall, not fail.
    let readEnd: CInt
    private var exitStatus: CInt?

    init(config: String, socket: Bool) throws {
        let configPath = directory.write("inetd.conf", config)
        var notify: [CInt] = [0, 0]
        var err: [CInt] = [0, 0]
        let streamCloexec = CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, streamCloexec, 0, &notify) == 0 else { throw HarnessError("socketpair") }
        if socket {
            guard socketpair(AF_UNIX, streamCloexec, 0, &err) == 0 else { throw HarnessError("socketpair") }
        } else {
            // pipe2 is not in the Glibc module: close-on-exec right after,
            // before any other test's spawn is likely to run.
            guard pipe(&err) == 0 else { throw HarnessError("pipe") }
            _ = fcntl(err[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(err[1], F_SETFD, FD_CLOEXEC)
        }
        _ = fcntl(err[0], F_SETFL, fcntl(err[0], F_GETFL) | O_NONBLOCK)
        let argv = [Binaries.inetd, "-d", "--notify-fd", "3", configPath]
        let spawned = Result {
            try spawnProcess(argv, descriptors: [0: .devNull(O_RDONLY), 2: .descriptor(err[1]), 3: .descriptor(notify[1])])
        }
        close(notify[1])
        close(err[1])
        readEnd = err[0]
        defer { close(notify[0]) }
        pid = try spawned.get()
        var pfd = pollfd(fd: notify[0], events: Int16(POLLIN), revents: 0)
        var byte: UInt8 = 0
        guard poll(&pfd, 1, 20_000) == 1, read(notify[0], &byte, 1) == 1 else {
            throw HarnessError("inetd did not become ready: \(drain(quiet: 0.1))")
        }
    }

    deinit {
        if exitStatus == nil {
            kill(pid, SIGKILL)
            var status: CInt = 0
            waitpid(pid, &status, 0)
        }
        close(readEnd)
    }

    /// Everything readable now, until nothing more comes for `quiet` s.
    func drain(quiet: Double) -> String {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(readEnd, &buffer, buffer.count)
            if n > 0 {
                bytes += buffer.prefix(n)
                continue
            }
            if n == 0 { break }
            var pfd = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, CInt(quiet * 1000)) != 1 { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// SIGTERM, then the raw wait status.
    func stop(timeout: Double = 20) throws -> CInt {
        kill(pid, SIGTERM)
        let status = try waitForExit(pid, timeout: timeout, "inetd did not exit after SIGTERM")
        exitStatus = status
        return status
    }
}
