import Foundation
import Glibc
import Testing

/// What inetd takes from the outside before it serves (its environment,
/// --notify-fd, NOTIFY_SOCKET, the configuration path) cannot spoof a
/// handler's facts, crash it, block it or exhaust its memory.
@Suite struct InputHardeningTests {
    // MARK: environment

    /// Every name inetd sets for a handler, and NOTIFY_SOCKET, is dropped
    /// from what it inherited: a handler sees the real values, once each.
    @Test func inheritedConnectionVariablesNeverReachHandlers() throws {
        let port = try freePort()
        let dir = TemporaryDirectory()
        let unixPath = dir.path + "/probe.sock"
        let notify = try NotifyStandIn(in: dir)
        let notifyPath = notify.path
        let spoofed = [
            "PROTO": "SPOOF", "TCPREMOTEIP": "10.6.6.6", "TCPREMOTEPORT": "6666", "TCPLOCALIP": "10.7.7.7",
            "TCPLOCALPORT": "7777", "TCPREMOTEHOST": "evil.example", "TCPREMOTEINFO": "mallory",
            "TCPLOCALHOST": "spoof.example", "UNIXREMOTEEUID": "4242", "UNIXREMOTEEGID": "4343",
            "UNIXREMOTEPID": "4444", "LISTEN_FDS": "3", "LISTEN_PID": "1", "LISTEN_FDNAMES": "x",
            "NOTIFY_SOCKET": notifyPath, "INETD_TEST_MARKER": "kept",
            "PROXYREMOTEIP": "10.8.8.8", "PROXYREMOTEPORT": "8888",
        ]
        let daemon = try RunningDaemon(config: """
            127.0.0.1:\(port) stream tcp nowait,passenv=INETD_TEST_MARKER - \(Binaries.probe) probe
            \(unixPath) stream unix nowait,passenv=INETD_TEST_MARKER - \(Binaries.probe) probe

            """, environment: spoofed)
        // inetd itself still uses the NOTIFY_SOCKET it was given.
        #expect(notifyFields(try notify.await("READY=1") { _ in true }.found)["READY"] == "1")

        let client = try ClientSocket.tcp("127.0.0.1", port)
        var local = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(client.fd, $0, &length) }
        }
        let tcpText = try client.receiveAll()
        let tcp = try ProbeReport(tcpText)
        let tcpNames = environmentNames(tcpText)
        #expect(tcp.environment["PROTO"] == "TCP")
        #expect(tcp.environment["TCPREMOTEIP"] == "127.0.0.1")
        #expect(tcp.environment["TCPREMOTEPORT"] == "\(UInt16(bigEndian: local.sin_port))")
        #expect(tcp.environment["TCPLOCALIP"] == "127.0.0.1")
        #expect(tcp.environment["TCPLOCALPORT"] == "\(port)")
        for name in ["PROTO", "TCPREMOTEIP", "TCPREMOTEPORT", "TCPLOCALIP", "TCPLOCALPORT"] {
            #expect(tcpNames.filter { $0 == name }.count == 1, "\(name) exactly once: \(tcpNames)")
        }
        #expect(!tcpNames.contains { $0.hasPrefix("UNIX") || $0.hasPrefix("LISTEN_") || $0 == "NOTIFY_SOCKET"
                    || $0.hasPrefix("PROXYREMOTE") }, "\(tcpNames)")
        #expect(!tcpNames.contains("TCPREMOTEHOST") && !tcpNames.contains("TCPREMOTEINFO")
                && !tcpNames.contains("TCPLOCALHOST"), "inetd does not set these: none may be inherited")
        #expect(!tcpText.contains("10.6.6.6") && !tcpText.contains("SPOOF") && !tcpText.contains(notifyPath))
        #expect(tcp.environment["INETD_TEST_MARKER"] == "kept", "what passenv= names is passed on")

        let unixText = try unixExchange(unixPath)
        let unix = try ProbeReport(unixText)
        let unixNames = environmentNames(unixText)
        #expect(unix.environment["PROTO"] == "UNIX")
        #expect(unixNames.filter { $0 == "PROTO" }.count == 1, "\(unixNames)")
        // SPEC 3 lists SO_PEERCRED's UNIXREMOTE* for unix handlers; whether
        // or not this build sets them, an inherited value never shows.
        let real = ["UNIXREMOTEEUID": "\(geteuid())", "UNIXREMOTEEGID": "\(getegid())", "UNIXREMOTEPID": "\(getpid())"]
        for (name, value) in real {
            #expect(unixNames.filter { $0 == name }.count <= 1, "\(name) at most once: \(unixNames)")
            if let seen = unix.environment[name] { #expect(seen == value, "\(name)") }
        }
        #expect(!unixText.contains("4242") && !unixText.contains("4343") && !unixText.contains("4444"))
        #expect(!unixText.contains("SPOOF") && !unixText.contains("10.6.6.6"))
        #expect(!unixNames.contains { $0.hasPrefix("TCP") || $0.hasPrefix("LISTEN_") || $0 == "NOTIFY_SOCKET" },
                "no stale TCP* for a unix handler: \(unixNames)")
        #expect(unix.environment["INETD_TEST_MARKER"] == "kept")
        _ = daemon
    }

    /// The names of the probe's `env=` lines, duplicates kept.
    private func environmentNames(_ report: String) -> [String] {
        report.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("env=") else { return nil }
            return String(line.dropFirst(4).prefix { $0 != "=" })
        }
    }

    // MARK: --notify-fd

    /// 0, 1 and 2 are refused before anything starts: inetd closes the
    /// descriptor at readiness, and a connection would then land there.
    @Test func notifyFDBelowThreeIsAUsageError() throws {
        let dir = TemporaryDirectory()
        let config = dir.write("inetd.conf", "127.0.0.1:\(try freePort()) stream tcp nowait - \(Binaries.probe) probe\n")
        for arguments in [["--notify-fd", "2", config], ["--notify-fd=2", config], ["--notify-fd", "0", config],
                          ["--notify-fd", "1", config], ["--check", "--notify-fd", "1", config]] {
            let inetd = try SpawnedInetd(arguments)
            let status = try inetd.waitForExit()
            #expect(exitCode(status) == 2, "\(arguments): \(inetd.stderr.text)")
            #expect(inetd.stderr.text.contains("must be 3 or more"), "\(arguments): \(inetd.stderr.text)")
            #expect(inetd.stderr.text.contains("usage: inetd"))
        }
    }

    /// A notify descriptor that cannot take the newline (open read-only, or
    /// a socket nobody reads any more) is a warning at readiness; inetd serves.
    @Test(arguments: [NotifyDescriptor.readOnlyDevNull, .closedPeer, .fullBuffer])
    func unwritableNotifyFDIsAWarningNotACrash(_ descriptor: NotifyDescriptor) throws {
        let port = try freePort()
        let dir = TemporaryDirectory()
        let config = dir.write("inetd.conf", "127.0.0.1:\(port) stream tcp nowait - \(Binaries.probe) probe\n")
        let inetd = try SpawnedInetd(["--notify-fd", "3", config], fd3: descriptor)
        try inetd.waitForLog("event=ready")
        try inetd.waitForLog("event=notify_failed")
        #expect(inetd.stderr.text.contains("fd=3"))
        if descriptor == .readOnlyDevNull { #expect(inetd.stderr.text.contains("not open for writing")) }
        let report = try ProbeReport(tcpExchange("127.0.0.1", port))
        #expect(report.environment["PROTO"] == "TCP", "inetd goes on serving")
        #expect(exitCode(try inetd.stop()) == 0, "clean shutdown after the warning:\n\(inetd.stderr.text)")
    }

    // MARK: NOTIFY_SOCKET

    /// A NOTIFY_SOCKET listener that never reads fills its queue after a few
    /// reloads; inetd must drop notifications rather than wait, and say so
    /// once.
    @Test func notifySocketThatNeverReadsNeverBlocksAReload() throws {
        let port = try freePort()
        let dir = TemporaryDirectory()
        let notifyPath = dir.path + "/stuck.sock"
        let stuck = try ClientSocket(family: AF_UNIX, type: CInt(SOCK_DGRAM.rawValue))
        #expect(stuck.bind(unixAddress(notifyPath)) == 0)
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait - \(Binaries.probe) probe\n",
                                       environment: ["NOTIFY_SOCKET": notifyPath])
        for round in 1...15 {
            try daemon.reload()
            #expect(daemon.count("event=reloaded") == round)
        }
        #expect(daemon.count("event=reloaded") == 15)
        #expect(daemon.count("event=notify_failed") == 1, "one warning per run of failures:\n\(daemon.log)")
        #expect(daemon.log.contains("socket=\(notifyPath)"))
        let report = try ProbeReport(tcpExchange("127.0.0.1", port))
        #expect(report.environment["PROTO"] == "TCP")
        #expect(exitCode(try daemon.stop()) == 0)
        _ = stuck
    }

    // MARK: the configuration path

    @Test func checkRefusesAFIFOPromptly() throws {
        let dir = TemporaryDirectory()
        let fifo = dir.path + "/inetd.conf"
        #expect(mkfifo(fifo, 0o600) == 0)
        let inetd = try SpawnedInetd(["--check", fifo])
        #expect(exitCode(try inetd.waitForExit()) == 1)
        #expect(inetd.stderr.text.contains("\(fifo): not a regular file"), "\(inetd.stderr.text)")
    }

    @Test func checkRefusesDevicesAndDirectoriesPromptly() throws {
        let dir = TemporaryDirectory()
        for path in ["/dev/zero", dir.path] {
            let inetd = try SpawnedInetd(["--check", path])
            #expect(exitCode(try inetd.waitForExit()) == 1)
            #expect(inetd.stderr.text.contains("\(path): not a regular file"), "\(inetd.stderr.text)")
            #expect(inetd.stdout.text.isEmpty)
        }
    }

    @Test func aConfigLargerThan16MiBIsRefused() throws {
        let dir = TemporaryDirectory()
        let big = dir.write("big.conf", "")
        #expect(truncate(big, 16 << 20 + 1) == 0, "sparse: no disk space used")
        let check = try SpawnedInetd(["--check", big])
        #expect(exitCode(try check.waitForExit()) == 1)
        #expect(check.stderr.text.contains("\(big): larger than 16 MiB"), "\(check.stderr.text)")

        let serve = try SpawnedInetd([big])
        #expect(exitCode(try serve.waitForExit()) == 1, "an unreadable config at start exits 1")
        #expect(serve.stderr.text.contains("event=config_unreadable"))
        #expect(serve.stderr.text.contains("larger than 16 MiB"))
    }

    @Test func startOnAFIFOExitsOne() throws {
        let dir = TemporaryDirectory()
        let fifo = dir.path + "/inetd.conf"
        #expect(mkfifo(fifo, 0o600) == 0)
        let inetd = try SpawnedInetd([fifo])
        #expect(exitCode(try inetd.waitForExit()) == 1)
        #expect(inetd.stderr.text.contains("event=config_unreadable"))
        #expect(inetd.stderr.text.contains("not a regular file"))
    }

    /// The config path replaced by a FIFO, then by a file too large: each
    /// reload fails at once and the running table keeps serving.
    @Test func reloadOfAnUnfitConfigKeepsTheRunningTable() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait - \(Binaries.probe) probe\n")
        #expect(unlink(daemon.configPath) == 0)
        #expect(mkfifo(daemon.configPath, 0o600) == 0)
        try daemon.reload()
        #expect(daemon.count("event=reload_failed") == 1)
        #expect(daemon.log.contains("not a regular file"))
        #expect(try ProbeReport(tcpExchange("127.0.0.1", port)).environment["PROTO"] == "TCP")

        #expect(unlink(daemon.configPath) == 0)
        daemon.rewriteConfig("")
        #expect(truncate(daemon.configPath, 16 << 20 + 1) == 0)
        try daemon.reload()
        #expect(daemon.count("event=reload_failed") == 2)
        #expect(daemon.log.contains("larger than 16 MiB"))
        #expect(try ProbeReport(tcpExchange("127.0.0.1", port)).environment["PROTO"] == "TCP")
        #expect(daemon.count("event=reloaded") == 0)
    }
}

/// What a test puts on inetd's fd 3 besides the harness's socketpair.
enum NotifyDescriptor: Sendable, CustomStringConvertible {
    /// /dev/null opened O_RDONLY: write(2) would fail with EBADF.
    case readOnlyDevNull
    /// A stream socket whose peer is closed, like a pipe without reader: EPIPE.
    case closedPeer
    /// A stream socket whose peer never reads, its buffer already full: a
    /// blocking write would never return.
    case fullBuffer

    var description: String {
        switch self {
        case .readOnlyDevNull: return "read-only /dev/null"
        case .closedPeer: return "socket without peer"
        case .fullBuffer: return "socket with a full buffer"
        }
    }
}

/// inetd started with arguments of the test's choosing and no readiness
/// wait: for runs that exit, or whose fd 3 is not the harness's socketpair.
final class SpawnedInetd: @unchecked Sendable {
    let pid: pid_t
    let stdout = StreamText()
    let stderr = StreamText()
    private var status: CInt?
    /// The never-read end of a `.fullBuffer` notify descriptor, held open.
    private var stalledReader: CInt = -1

    init(_ arguments: [String], fd3: NotifyDescriptor? = nil) throws {
        var outPipe: [CInt] = [0, 0]
        var errPipe: [CInt] = [0, 0]
        var extra: [CInt] = [-1, -1]
        // Close-on-exec from birth (pipe2 is not in the Glibc module): a
        // daemon another test starts meanwhile must not inherit them.
        let streamCloexec = CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, streamCloexec, 0, &outPipe) == 0,
              socketpair(AF_UNIX, streamCloexec, 0, &errPipe) == 0 else { throw HarnessError("socketpair") }
        var descriptors: [CInt: ChildDescriptor] = [0: .devNull(O_RDONLY), 1: .descriptor(outPipe[1]), 2: .descriptor(errPipe[1])]
        switch fd3 {
        case .readOnlyDevNull?:
            descriptors[3] = .devNull(O_RDONLY)
        case .closedPeer?:
            guard socketpair(AF_UNIX, streamCloexec, 0, &extra) == 0 else { throw HarnessError("socketpair") }
            // Closed before the spawn: closed after it, a test thread held
            // up on a loaded machine let inetd's newline in first.
            close(extra[0])
            extra[0] = -1
            descriptors[3] = .descriptor(extra[1])
        case .fullBuffer?:
            guard socketpair(AF_UNIX, streamCloexec, 0, &extra) == 0 else { throw HarnessError("socketpair") }
            // Filled while non-blocking, then handed over blocking, as a
            // supervisor would: only inetd's own care keeps it from hanging.
            let flags = fcntl(extra[1], F_GETFL)
            _ = fcntl(extra[1], F_SETFL, flags | O_NONBLOCK)
            var chunk = [UInt8](repeating: 0x2E, count: 4096)
            while write(extra[1], &chunk, chunk.count) > 0 {}
            _ = fcntl(extra[1], F_SETFL, flags)
            descriptors[3] = .descriptor(extra[1])
            stalledReader = extra[0]
            extra[0] = -1
        case nil:
            break
        }
        let spawned = Result { try spawnProcess([Binaries.inetd] + arguments, descriptors: descriptors) }
        close(outPipe[1])
        close(errPipe[1])
        // The peer goes away with the test's copies: inetd holds the only
        // end left, and nobody reads.
        for fd in extra where fd >= 0 { close(fd) }
        pid = try spawned.get()
        let out = stdout, err = stderr
        let outFD = outPipe[0], errFD = errPipe[0]
        Thread { out.readUntilEOF(outFD) }.start()
        Thread { err.readUntilEOF(errFD) }.start()
    }

    deinit {
        if status == nil {
            kill(pid, SIGKILL)
            var raw: CInt = 0
            waitpid(pid, &raw, 0)
        }
        if stalledReader >= 0 { close(stalledReader) }
    }

    /// Waits for the process to end; the raw wait status. A process still
    /// running at the deadline is a failure (it was meant to end promptly).
    func waitForExit(timeout: Double = 10) throws -> CInt {
        if let status { return status }
        let raw = try EndToEndTests.waitForExit(pid, timeout: timeout, "inetd still running after \(timeout) s:\n\(stderr.text)")
        status = raw
        // All output is in once both readers saw end of file.
        let end = Date().addingTimeInterval(timeout)
        while !(stdout.finished && stderr.finished) {
            if Date() > end { throw HarnessError("inetd's output still open after it exited") }
            usleep(5_000)
        }
        return raw
    }

    func waitForLog(_ needle: String, timeout: Double = 10) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !stderr.text.contains(needle) {
            var raw: CInt = 0
            if waitpid(pid, &raw, WNOHANG) == pid {
                status = raw
                throw HarnessError("inetd ended (status \(raw)) before logging '\(needle)':\n\(stderr.text)")
            }
            if Date() > deadline { throw HarnessError("timed out waiting for '\(needle)':\n\(stderr.text)") }
            usleep(5_000)
        }
    }

    func stop() throws -> CInt {
        kill(pid, SIGTERM)
        return try waitForExit(timeout: 20)
    }
}

/// Text a reader thread appends until end of file, and whether it got there.
final class StreamText: @unchecked Sendable {
    private let lock = NSLock()
    private var value = ""
    private var done = false

    var text: String { lock.withLock { value } }
    var finished: Bool { lock.withLock { done } }

    func readUntilEOF(_ fd: CInt) {
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            lock.withLock { value += String(decoding: buffer.prefix(n), as: UTF8.self) }
        }
        close(fd)
        lock.withLock { done = true }
    }
}
