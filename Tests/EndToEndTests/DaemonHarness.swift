import Foundation
import Glibc
import Testing

/// Where `swift build` put the binaries: beside the test bundle.
enum Binaries {
    static let directory: String = {
        var path = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &path, path.count - 1)
        let exe = String(decoding: path.prefix(max(n, 0)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var dir = (exe as NSString).deletingLastPathComponent
        // swift-testing may run from inside the .xctest bundle.
        while !FileManager.default.fileExists(atPath: dir + "/inetd"), dir.count > 1 {
            dir = (dir as NSString).deletingLastPathComponent
        }
        return dir
    }()
    /// INETD_BINARY runs the same tests against another build (CI: release).
    static var inetd: String { ProcessInfo.processInfo.environment["INETD_BINARY"] ?? directory + "/inetd" }
    static var probe: String { directory + "/inetd-probe" }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A temporary directory removed when the test is done with it.
final class TemporaryDirectory {
    let path: String
    init() {
        var template = Array((NSTemporaryDirectory() + "/inetd-test-XXXXXX").utf8CString)
        path = String(cString: mkdtemp(&template)!)
        chmod(path, 0o755)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    func write(_ name: String, _ text: String) -> String {
        let file = path + "/" + name
        _ = FileManager.default.createFile(atPath: file, contents: Data(text.utf8))
        return file
    }
}

/// One inetd process under test: started with `--notify-fd 3` (or another
/// descriptor), its stderr captured line by line.
final class RunningDaemon: @unchecked Sendable {
    let pid: pid_t
    let directory: TemporaryDirectory
    let configPath: String
    private let captured = CapturedText()
    private(set) var exitStatus: CInt?

    /// Starts inetd on `config` and waits until it reports readiness.
    /// `launcher` runs first and must exec its arguments (the inetd command
    /// line follows it), as `sh -c 'ulimit ...; exec "$@"' sh` does.
    /// `notifyFD` is where inetd's `--notify-fd` goes: out of the way of a
    /// launcher that passes sockets from fd 3 up (LISTEN_FDS); nil for none
    /// (a launcher that closes what it does not pass), and then readiness
    /// is the `ready` log line.
    /// `binary`: another copy of inetd (an upgrade execs the path it was
    /// started from).
    init(config: String, arguments: [String] = ["-d"], environment: [String: String] = [:],
         inheritedFD: CInt? = nil, waitForReady: Bool = true, launcher: [String] = [],
         notifyFD: CInt? = 3, binary: String = Binaries.inetd) throws {
        directory = TemporaryDirectory()
        configPath = directory.write("inetd.conf", config)
        var notify: [CInt] = [0, 0]
        var errPipe: [CInt] = [0, 0]
        // Close-on-exec from birth: a daemon that another test starts at the
        // same moment must not inherit these and hold them open.
        let streamCloexec = CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, streamCloexec, 0, &notify) == 0,
              socketpair(AF_UNIX, streamCloexec, 0, &errPipe) == 0 else { throw HarnessError("socketpair") }
        var descriptors: [CInt: ChildDescriptor] = [0: .devNull(O_RDONLY), 2: .descriptor(errPipe[1])]
        if let notifyFD { descriptors[notifyFD] = .descriptor(notify[1]) }
        if let extra = inheritedFD { descriptors[5] = .descriptor(extra) }
        let argv = launcher + [binary] + arguments + (notifyFD.map { ["--notify-fd", "\($0)"] } ?? []) + [configPath]
        let spawned = Result { try spawnProcess(argv, descriptors: descriptors, environment: environment) }
        close(notify[1])
        close(errPipe[1])
        pid = try spawned.get()
        // The reader holds only the buffer, never the daemon object, so that
        // dropping the object kills the process and ends the reader.
        let buffer = captured
        let fd = errPipe[0]
        Thread { buffer.readUntilEOF(fd) }.start()
        defer { close(notify[0]) }
        if waitForReady, notifyFD == nil {
            try waitForLog("event=ready", timeout: 20)
        } else if waitForReady {
            var pfd = pollfd(fd: notify[0], events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 20_000) == 1 else { throw HarnessError("inetd did not become ready:\n\(log)") }
            var byte: UInt8 = 0
            guard read(notify[0], &byte, 1) == 1, byte == 0x0A else { throw HarnessError("no readiness newline:\n\(log)") }
            // inetd closes the descriptor after the newline: wait for that too,
            // so that its descriptor table is at rest when the test starts.
            guard poll(&pfd, 1, 20_000) == 1, read(notify[0], &byte, 1) == 0 else {
                throw HarnessError("notify fd not closed after readiness")
            }
        }
    }

    deinit {
        if exitStatus == nil {
            kill(pid, SIGKILL)
            var status: CInt = 0
            waitpid(pid, &status, 0)
        }
    }

    var log: String { captured.text }

    func count(_ needle: String) -> Int { log.components(separatedBy: needle).count - 1 }

    /// Waits until the log holds `needle` at least `times` times.
    func waitForLog(_ needle: String, times: Int = 1, timeout: Double = 10) throws {
        try waitUntil(timeout: timeout, "log line '\(needle)' x\(times)") { count(needle) >= times }
    }

    func waitUntil(timeout: Double = 10, _ what: String, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            if Date() > deadline { throw HarnessError("timed out waiting for \(what); log:\n\(log)") }
            usleep(5_000)
        }
    }

    func signal(_ number: CInt) { kill(pid, number) }

    /// SIGHUP, then waits for the reload to be logged; which outcome:
    /// "reloaded" or "reload_failed".
    @discardableResult
    func reload() throws -> String {
        let done = count("event=reloaded"), failed = count("event=reload_failed")
        signal(SIGHUP)
        try waitUntil("reload") { count("event=reloaded") > done || count("event=reload_failed") > failed }
        return count("event=reloaded") > done ? "reloaded" : "reload_failed"
    }

    func rewriteConfig(_ text: String) {
        _ = FileManager.default.createFile(atPath: configPath, contents: Data(text.utf8))
    }

    /// Sends `signal` and waits for the exit status (the raw wait status).
    @discardableResult
    func stop(_ number: CInt = SIGTERM, timeout: Double = 20) throws -> CInt {
        if let exitStatus { return exitStatus }
        kill(pid, number)
        let status = try waitForExit(pid, timeout: timeout, "inetd did not exit after signal \(number):\n\(log)")
        exitStatus = status
        // The reader thread may not have read inetd's last lines yet. EOF
        // alone cannot tell: a handler still running holds inetd's stderr.
        try? waitUntil(timeout: 5, "the last log line") { captured.finished || log.contains("event=stopped") }
        return status
    }

    /// The daemon's open descriptors: number → link target.
    func openFDs() -> [Int: String] {
        var result: [Int: String] = [:]
        let dir = "/proc/\(pid)/fd"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
            if let fd = Int(name), let target = try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/" + name) {
                result[fd] = target
            }
        }
        return result
    }

    /// Children of the daemon that are zombies now.
    func zombieChildren() -> [Int] {
        var zombies: [Int] = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int(name),
                  let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            if fields.count > 1, fields[0] == "Z", Int(fields[1]) == Int(self.pid) { zombies.append(pid) }
        }
        return zombies
    }
}

/// Text appended by a reader thread and read by the test.
final class CapturedText: @unchecked Sendable {
    private let lock = NSLock()
    private var value = ""

    var text: String {
        lock.lock()
        defer { lock.unlock() }
        return value
    }

    /// The writers have all closed the pipe, and everything is read.
    var finished: Bool {
        lock.lock()
        defer { lock.unlock() }
        return atEOF
    }
    private var atEOF = false

    func readUntilEOF(_ fd: CInt) {
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            lock.lock()
            value += String(decoding: buffer.prefix(n), as: UTF8.self)
            lock.unlock()
        }
        close(fd)
        lock.lock()
        atEOF = true
        lock.unlock()
    }
}

func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for p in pointers { free(p) } }
    return body(pointers)
}

/// What a spawned process finds at one of its descriptors.
enum ChildDescriptor {
    /// A descriptor of the test, dup2'd into place.
    case descriptor(CInt)
    /// /dev/null, opened with these flags.
    case devNull(CInt)
}

/// Starts `argv` (`argv[0]` is the program's path) with `descriptors` in
/// place and every other descriptor closed, even those of other tests not
/// made close-on-exec: an inetd must not hold another test's port. The
/// environment is the test's, less LISTEN_* and NOTIFY_SOCKET, plus
/// `environment`. C equivalent: `posix_spawn(3)`.
func spawnProcess(_ argv: [String], descriptors: [CInt: ChildDescriptor],
                  environment: [String: String] = [:]) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for (target, what) in descriptors.sorted(by: { $0.key < $1.key }) {
        switch what {
        case .descriptor(let source): posix_spawn_file_actions_adddup2(&actions, source, target)
        case .devNull(let flags): posix_spawn_file_actions_addopen(&actions, target, "/dev/null", flags, 0)
        }
    }
    // Below the highest, what no entry names is closed too (glibc ignores a
    // close of a descriptor that is not open): a launcher that passes
    // sockets from fd 3 up gets the test's descriptors on none of them.
    let highest = descriptors.keys.max() ?? 2
    for fd in CInt(3)..<max(3, highest) where descriptors[fd] == nil {
        posix_spawn_file_actions_addclose(&actions, fd)
    }
    // glibc 2.34's addclosefrom_np, looked up at run time: Swift does not
    // import it.
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, CInt) -> CInt
    if let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
        _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, highest + 1)
    }
    var env = ProcessInfo.processInfo.environment
    for key in env.keys where key.hasPrefix("LISTEN_") || key == "NOTIFY_SOCKET" { env[key] = nil }
    env.merge(environment) { $1 }
    var child: pid_t = 0
    let rc = withCStrings(argv) { cargv in
        withCStrings(env.map { "\($0)=\($1)" }) { cenvp in posix_spawn(&child, argv[0], &actions, nil, cargv, cenvp) }
    }
    guard rc == 0 else { throw HarnessError("posix_spawn \(argv[0]): \(String(cString: strerror(rc)))") }
    return child
}

/// Waits up to `timeout` seconds for `pid` to exit and reaps it: its raw
/// wait status. Still running then: an error saying `what`.
func waitForExit(_ pid: pid_t, timeout: Double, _ what: @autoclosure () -> String) throws -> CInt {
    let deadline = Date().addingTimeInterval(timeout)
    var status: CInt = 0
    while waitpid(pid, &status, WNOHANG) == 0 {
        if Date() > deadline { throw HarnessError(what()) }
        usleep(5_000)
    }
    return status
}

/// How a program that ran to its end ended, and all it wrote.
struct ProgramOutcome {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `path` with `arguments` and waits for it, reading both outputs.
func runProgram(_ path: String, _ arguments: [String]) throws -> ProgramOutcome {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProgramOutcome(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                          stderr: String(decoding: stderr, as: UTF8.self))
}

/// Exit code of a raw wait status, or nil when killed by a signal.
func exitCode(_ status: CInt) -> CInt? { status & 0x7F == 0 ? (status >> 8) & 0xFF : nil }
