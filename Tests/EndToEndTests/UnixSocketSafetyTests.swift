import Foundation
import Glibc
import Testing

/// inetd runs as root and works on paths in directories others may write:
/// it changes and removes only the socket files it bound, never what a
/// symlink points to nor a file or socket someone else put at the path, and
/// probing a path never blocks the daemon.
@Suite struct UnixSocketSafetyTests {
    static let isRoot = geteuid() == 0
    let probe = Binaries.probe

    // MARK: chmod and chown through a symlink (finding 1)

    @Test(.enabled(if: isRoot, "chmod/chown of a root-owned file needs root"),
          arguments: ["nowait", "nowait,mode=0660,owner=nobody:nogroup"])
    func reloadDoesNotChmodOrChownThroughASymlink(waitSpec: String) throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/s"
        let target = dir.write("target", "secret")
        #expect(chmod(target, 0o600) == 0)
        #expect(chown(target, 0, 0) == 0)
        let daemon = try RunningDaemon(config: "\(path) stream unix \(waitSpec) - /bin/cat cat\n")
        #expect(try fileStatus(path).st_mode & S_IFMT == S_IFSOCK)
        // Someone who can write the directory swaps the socket for a symlink.
        #expect(unlink(path) == 0)
        #expect(symlink(target, path) == 0)
        try daemon.reload()
        let after = try fileStatus(target)
        #expect(after.st_mode & 0o7777 == 0o600, "the symlink's target keeps its mode")
        #expect(after.st_uid == 0 && after.st_gid == 0, "the symlink's target keeps its owner")
        // The warning is written before the reload is reported done.
        #expect(daemon.log.contains("level=warn event=unix_path_not_ours"))
        #expect(daemon.log.contains("path=\(path)"))
        #expect(daemon.log.contains("found=symlink"))
        // At stop the symlink is not inetd's socket either: it stays.
        #expect(exitCode(try daemon.stop()) == 0)
        #expect(try fileStatus(path).st_mode & S_IFMT == S_IFLNK)
        #expect((try? String(contentsOfFile: target, encoding: .utf8)) == "secret")
    }

    @Test(.enabled(if: isRoot, "owner= needs root"))
    func reloadStillAppliesModeAndOwnerToItsOwnSocket() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/s"
        let daemon = try RunningDaemon(config: "\(path) stream unix nowait - \(probe) probe\n")
        #expect(try fileStatus(path).st_mode & 0o777 == 0o666)
        daemon.rewriteConfig("\(path) stream unix nowait,mode=0660,owner=nobody:nogroup - \(probe) probe\n")
        try daemon.reload()
        let info = try fileStatus(path)
        #expect(info.st_mode & 0o777 == 0o660)
        #expect(info.st_uid == getpwnam("nobody").pointee.pw_uid)
        #expect(info.st_gid == getgrnam("nogroup").pointee.gr_gid)
        #expect(!daemon.log.contains("event=unix_path_not_ours"))
        #expect(try ProbeReport(unixExchange(path)).environment["PROTO"] == "UNIX")
    }

    // MARK: unlinking what is not its own (finding 2)

    enum Intruder: String, CaseIterable, CustomTestStringConvertible {
        case file, socket
        var testDescription: String { rawValue }
    }

    @Test(arguments: Intruder.allCases)
    func reloadRemovingAUnixLineLeavesWhatOthersPutAtThePath(intruder: Intruder) throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/s"
        let port = try freePort()
        let tcpLine = "127.0.0.1:\(port) stream tcp nowait - \(probe) probe tcp\n"
        let daemon = try RunningDaemon(config: "\(path) stream unix nowait - \(probe) probe\n" + tcpLine)
        #expect(unlink(path) == 0)
        let foreign = try plant(intruder, at: path, in: dir)
        defer { if let foreign { close(foreign) } }
        daemon.rewriteConfig(tcpLine)
        try daemon.reload()
        #expect(daemon.log.contains("closed=1"))
        try expectIntact(intruder, at: path)
        #expect(daemon.log.contains("event=unix_path_not_ours"))
        #expect(daemon.log.contains("path=\(path)"))
        #expect(daemon.log.contains("found=\(intruder.rawValue)"))
    }

    @Test(arguments: Intruder.allCases)
    func stopLeavesWhatOthersPutAtThePath(intruder: Intruder) throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/s"
        let daemon = try RunningDaemon(config: "\(path) stream unix nowait - \(probe) probe\n")
        #expect(unlink(path) == 0)
        let foreign = try plant(intruder, at: path, in: dir)
        defer { if let foreign { close(foreign) } }
        #expect(exitCode(try daemon.stop()) == 0)
        try expectIntact(intruder, at: path)
        #expect(daemon.log.contains("event=unix_path_not_ours"))
        #expect(daemon.log.contains("found=\(intruder.rawValue)"))
    }

    @Test func stopAndReloadRemoveItsOwnSocket() throws {
        let dir = TemporaryDirectory()
        let removed = dir.path + "/removed"
        let kept = dir.path + "/kept"
        let daemon = try RunningDaemon(config: """
            \(removed) stream unix nowait - \(probe) probe
            \(kept) stream unix nowait - \(probe) probe
            """)
        daemon.rewriteConfig("\(kept) stream unix nowait - \(probe) probe\n")
        try daemon.reload()
        var info = stat()
        #expect(lstat(removed, &info) != 0, "a removed line's socket file is unlinked")
        #expect(exitCode(try daemon.stop()) == 0)
        #expect(lstat(kept, &info) != 0, "the socket file is unlinked at stop")
        #expect(!daemon.log.contains("event=unix_path_not_ours"))
    }

    @Test(.enabled(if: isRoot, "owner= needs root"))
    func bindingWithOwnerNeverRemovesAFileAtATemporaryName() throws {
        let dir = TemporaryDirectory()
        let first = dir.path + "/first"
        let second = dir.path + "/second"
        // The old fixed temporary name, planted before the start.
        let planted = dir.write("first.inetd-new", "keep me")
        let daemon = try RunningDaemon(
            config: "\(first) stream unix nowait,mode=0660,owner=nobody:nogroup - \(probe) probe\n")
        // Every name this daemon would try first, planted before a reload
        // binds a second owned socket.
        let guessed = (0..<3).map { dir.write("second.inetd-\(daemon.pid)-\($0)", "keep \($0)") }
        daemon.rewriteConfig("""
            \(first) stream unix nowait,mode=0660,owner=nobody:nogroup - \(probe) probe
            \(second) stream unix nowait,mode=0640,owner=nobody:nogroup - \(probe) probe
            """)
        try daemon.reload()
        #expect(!daemon.log.contains("event=bind_failed"))
        #expect((try? String(contentsOfFile: planted, encoding: .utf8)) == "keep me")
        for (n, file) in guessed.enumerated() {
            #expect((try? String(contentsOfFile: file, encoding: .utf8)) == "keep \(n)")
        }
        let nobody = getpwnam("nobody").pointee.pw_uid
        for (path, mode) in [(first, 0o660), (second, 0o640)] as [(String, mode_t)] {
            let info = try fileStatus(path)
            #expect(info.st_mode & S_IFMT == S_IFSOCK)
            #expect(info.st_mode & 0o777 == mode)
            #expect(info.st_uid == nobody)
            #expect(try ProbeReport(unixExchange(path)).environment["PROTO"] == "UNIX")
        }
        // No temporary name of its own is left behind.
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        let expected = (["first", "first.inetd-new", "second"] + guessed.map { ($0 as NSString).lastPathComponent }).sorted()
        #expect(names == expected)
    }

    // MARK: the stale-socket probe never blocks (finding 5)

    @Test func liveListenerWithAFullQueueDoesNotBlockTheDaemon() throws {
        let dir = TemporaryDirectory()
        let busy = dir.path + "/busy"
        let listener = try unixListener(at: busy, backlog: 0)
        defer { close(listener) }
        let queued = fillQueue(of: busy)
        defer { for fd in queued { close(fd) } }
        #expect(!queued.isEmpty)
        let port = try freePort()
        let started = Date()
        let daemon = try RunningDaemon(config: """
            \(busy) stream unix nowait - \(probe) probe busy
            127.0.0.1:\(port) stream tcp nowait - \(probe) probe tcp
            """)
        #expect(Date().timeIntervalSince(started) < 10, "ready without waiting for the busy listener")
        try daemon.waitForLog("event=bind_failed")
        #expect(daemon.log.contains("Address already in use"))
        #expect(try ProbeReport(tcpExchange("127.0.0.1", port))["argv.1"] == "tcp")
        // A reload probes the path again: it must not hang either.
        try daemon.reload()
        #expect(try ProbeReport(tcpExchange("127.0.0.1", port))["argv.1"] == "tcp")
        let stopping = Date()
        #expect(exitCode(try daemon.stop(SIGTERM, timeout: 5)) == 0)
        #expect(Date().timeIntervalSince(stopping) < 5)
        #expect(try fileStatus(busy).st_mode & S_IFMT == S_IFSOCK, "the live listener's socket stays")
    }

    // MARK: the socket's directory (issue 19, item 5)

    /// Another daemon's root-only directory holds its stale socket; a
    /// symlink to it is a directory component of a configured path. inetd
    /// used to follow it: it removed that socket and bound its own, 0666,
    /// in a directory it was never given. Now the line is refused, in
    /// --check, at start and at reload, and nothing behind the symlink is
    /// touched.
    @Test func symlinkedDirectoryComponentIsRefusedAndWhatItLeadsToIsUntouched() throws {
        let dir = TemporaryDirectory()
        let base = Self.walked(dir.path)
        let other = dir.path + "/other"
        #expect(mkdir(other, 0o700) == 0)
        let stale = try staleSocket(at: other + "/s")
        let before = try fileStatus(stale)
        #expect(symlink(other, dir.path + "/link") == 0)
        let path = dir.path + "/link/s"
        let port = try freePort()
        let tcpLine = "127.0.0.1:\(port) stream tcp nowait - \(probe) probe tcp\n"
        let config = "\(path) stream unix nowait - \(probe) probe\n" + tcpLine
        let message = "unix socket directory \(base)/link is a symlink (to \(other))"

        let checked = dir.write("check.conf", config)
        let check = try runProgram(Binaries.inetd, ["--check", checked])
        #expect(check.status == 1)
        #expect(check.stderr.contains("\(checked):1: \(message)"), "\(check.stderr)")

        let daemon = try RunningDaemon(config: config)
        // Logged before readiness, but read by another thread: waited for.
        try daemon.waitForLog(":1: \(message)")
        #expect(daemon.log.contains("event=config_error"))
        try daemon.reload()
        #expect(daemon.count(":1: \(message)") == 2, "refused again at reload")
        #expect(try ProbeReport(tcpExchange("127.0.0.1", port))["argv.1"] == "tcp", "the other line runs")
        #expect(exitCode(try daemon.stop()) == 0)
        let after = try fileStatus(stale)
        #expect(after.st_ino == before.st_ino, "the other daemon's socket was not replaced")
        #expect(after.st_mode == before.st_mode)
        #expect(try FileManager.default.contentsOfDirectory(atPath: other) == ["s"])
    }

    /// Issue 18: a socket whose directory does not exist is an error on its
    /// line, in --check and at every load (it was left to the bind, retried
    /// every 60 s without a word at --check). Once the directory is made, a
    /// reload serves it.
    @Test func missingDirectoryIsAnErrorUntilItIsMade() throws {
        let dir = TemporaryDirectory()
        let directory = dir.path + "/later"
        let path = directory + "/s"
        let port = try freePort()
        let config = "\(path) stream unix nowait - \(probe) probe\n127.0.0.1:\(port) stream tcp nowait - \(probe) probe tcp\n"
        let message = "unix socket directory \(Self.walked(directory)) does not exist: inetd makes no directory"

        let checked = dir.write("check.conf", config)
        let check = try runProgram(Binaries.inetd, ["--check", checked])
        #expect(check.status == 1)
        #expect(check.stderr.contains("\(checked):1: \(message)"), "\(check.stderr)")
        #expect(check.stdout.hasSuffix("# 1 service (1 socket), 1 error, 0 warnings\n"), "\(check.stdout)")

        let daemon = try RunningDaemon(config: config)
        try daemon.waitForLog(":1: \(message)")
        #expect(daemon.log.contains("event=config_error"))
        #expect(try ProbeReport(tcpExchange("127.0.0.1", port))["argv.1"] == "tcp", "the other line runs")
        #expect(mkdir(directory, 0o755) == 0 && chmod(directory, 0o755) == 0)
        try daemon.reload()
        #expect(daemon.count(":1: \(message)") == 1, "not refused again once made")
        #expect(try ProbeReport(unixExchange(path)).environment["PROTO"] == "UNIX")
        #expect(exitCode(try daemon.stop()) == 0)
    }

    enum Writable: String, CaseIterable, CustomTestStringConvertible {
        case byGroup, byEveryone, byBoth, parentByEveryone, stickyByEveryone, ownerOnly
        var testDescription: String { rawValue }
        /// The mode of the socket's directory, and of its parent.
        var modes: (directory: mode_t, parent: mode_t) {
            switch self {
            case .byGroup: (0o775, 0o755)
            case .byEveryone: (0o757, 0o755)
            case .byBoth: (0o777, 0o755)
            case .parentByEveryone: (0o755, 0o777)
            case .stickyByEveryone: (0o1777, 0o755)
            case .ownerOnly: (0o755, 0o755)
            }
        }
        var accepted: Bool { self == .stickyByEveryone || self == .ownerOnly }
    }

    /// StrictModes: a directory others may write (or whose parent they
    /// may) is refused; a sticky one of root or inetd's user (as /tmp) and
    /// one only its owner writes are served.
    @Test(arguments: Writable.allCases)
    func directoryWritableByOthersIsRefusedUnlessSticky(writable: Writable) throws {
        let dir = TemporaryDirectory()
        let parent = dir.path + "/p"
        let directory = parent + "/d"
        #expect(mkdir(parent, 0o755) == 0 && mkdir(directory, 0o755) == 0)
        #expect(chmod(directory, writable.modes.directory) == 0 && chmod(parent, writable.modes.parent) == 0)
        let path = directory + "/s"
        let port = try freePort()
        let config = "\(path) stream unix nowait - \(probe) probe\n127.0.0.1:\(port) stream tcp nowait - \(probe) probe tcp\n"
        let judged = Self.walked(writable == .parentByEveryone ? parent : directory)

        let checked = dir.write("check.conf", config)
        let check = try runProgram(Binaries.inetd, ["--check", checked])
        let daemon = try RunningDaemon(config: config)
        if writable.accepted {
            #expect(check.status == 0, "\(check.stderr)")
            #expect(try ProbeReport(unixExchange(path)).environment["PROTO"] == "UNIX")
        } else {
            #expect(check.status == 1)
            let mode = writable.modes.directory == 0o755 ? writable.modes.parent : writable.modes.directory
            let message = "unix socket directory \(judged) is writable by"
            #expect(check.stderr.contains("\(checked):1: \(message)"), "\(check.stderr)")
            #expect(check.stderr.contains("(mode 0\(String(mode, radix: 8))) and not sticky"), "\(check.stderr)")
            try daemon.waitForLog(":1: \(message)")
            var info = stat()
            #expect(lstat(path, &info) != 0, "nothing bound there")
            #expect(try ProbeReport(tcpExchange("127.0.0.1", port))["argv.1"] == "tcp")
        }
        #expect(exitCode(try daemon.stop()) == 0)
    }

    @Test(.enabled(if: isRoot, "a directory of another user needs root to make"))
    func directoryOfAnotherUserIsRefused() throws {
        let dir = TemporaryDirectory()
        let directory = dir.path + "/nobodys"
        #expect(mkdir(directory, 0o755) == 0)
        let nobody = getpwnam("nobody").pointee.pw_uid
        #expect(chown(directory, nobody, 0) == 0)
        let checked = dir.write("check.conf", "\(directory)/s stream unix nowait - \(probe) probe\n")
        let check = try runProgram(Binaries.inetd, ["--check", checked])
        #expect(check.status == 1)
        #expect(check.stderr.contains("\(checked):1: unix socket directory \(Self.walked(directory)) is owned by uid \(nobody)"),
                "\(check.stderr)")
    }

    /// A directory made writable while inetd runs: the next reload refuses
    /// the line, and its socket is closed and removed like a removed line's.
    @Test func reloadRefusesALineWhoseDirectoryBecameWritable() throws {
        let dir = TemporaryDirectory()
        let directory = dir.path + "/d"
        #expect(mkdir(directory, 0o755) == 0)
        let path = directory + "/s"
        let port = try freePort()
        let daemon = try RunningDaemon(
            config: "\(path) stream unix nowait - \(probe) probe\n127.0.0.1:\(port) stream tcp nowait - \(probe) probe tcp\n")
        #expect(try fileStatus(path).st_mode & S_IFMT == S_IFSOCK)
        let open = daemon.openFDs()
        #expect(open.values.contains(Self.walked(directory)), "the socket's directory is held open: \(open)")
        #expect(chmod(directory, 0o777) == 0)
        try daemon.reload()
        let after = daemon.openFDs()
        #expect(after.count == open.count - 2, "the socket and its directory are closed: \(open) -> \(after)")
        #expect(daemon.log.contains(":1: unix socket directory \(Self.walked(directory)) is writable by its group and everyone"))
        #expect(daemon.log.contains("closed=1"))
        var info = stat()
        #expect(lstat(path, &info) != 0, "the socket is removed")
        #expect(exitCode(try daemon.stop()) == 0)
    }

    enum Disguise: String, CaseIterable, CustomTestStringConvertible {
        /// Another name for inetd's own socket file: same device and inode.
        case hardLink
        /// A root-owned file.
        case file
        var testDescription: String { rawValue }
    }

    /// After the bind, the socket's directory is moved away and its path
    /// made a symlink to another directory holding a file of the socket's
    /// name; at the removal (reload or stop) inetd unlinks its socket in the
    /// directory it bound in, and never what the path leads to now. A hard
    /// link is the best disguise: the file there is inetd's socket by device
    /// and inode, and an unlink by path removed it (the race the issue saw,
    /// 3 times in 600 reloads, made deterministic).
    @Test(arguments: Disguise.allCases, ["reload", "stop"])
    func removalUnlinksOnlyInTheDirectoryItBoundIn(disguise: Disguise, at removal: String) throws {
        let dir = TemporaryDirectory()
        let directory = dir.path + "/d"
        let moved = dir.path + "/d.moved"
        let elsewhere = dir.path + "/elsewhere"
        #expect(mkdir(directory, 0o755) == 0 && mkdir(elsewhere, 0o700) == 0)
        let path = directory + "/s"
        let port = try freePort()
        let tcpLine = "127.0.0.1:\(port) stream tcp nowait - \(probe) probe tcp\n"
        let daemon = try RunningDaemon(config: "\(path) stream unix nowait - \(probe) probe\n" + tcpLine)
        #expect(rename(directory, moved) == 0)
        switch disguise {
        case .hardLink: #expect(link(moved + "/s", elsewhere + "/s") == 0)
        case .file: #expect(FileManager.default.createFile(atPath: elsewhere + "/s", contents: Data("secret".utf8)))
        }
        #expect(symlink(elsewhere, directory) == 0)
        let planted = try fileStatus(elsewhere + "/s")
        if removal == "reload" {
            daemon.rewriteConfig(tcpLine)
            try daemon.reload()
            #expect(daemon.log.contains("closed=1"))
        }
        #expect(exitCode(try daemon.stop()) == 0)
        let after = try fileStatus(elsewhere + "/s")
        #expect(after.st_ino == planted.st_ino, "what the path leads to now is not removed")
        if disguise == .file { #expect((try? String(contentsOfFile: elsewhere + "/s", encoding: .utf8)) == "secret") }
        var info = stat()
        #expect(lstat(moved + "/s", &info) != 0, "inetd's socket is removed where it was bound")
        #expect(try fileStatus(directory).st_mode & S_IFMT == S_IFLNK)
    }

    // MARK: helpers

    /// `path` as inetd's walk names it: TemporaryDirectory's paths hold a
    /// "//" (NSTemporaryDirectory ends in "/"), which the walk skips.
    static func walked(_ path: String) -> String {
        var text = path
        while text.contains("//") { text = text.replacingOccurrences(of: "//", with: "/") }
        return text
    }

    /// A socket file nobody listens on: bound, then closed.
    func staleSocket(at path: String) throws -> String {
        let fd = try unixListener(at: path, backlog: 1)
        close(fd)
        return path
    }

    func fileStatus(_ path: String) throws -> stat {
        var info = stat()
        guard lstat(path, &info) == 0 else { throw HarnessError("lstat \(path): \(String(cString: strerror(errno)))") }
        return info
    }

    /// Puts a regular file or a live listening socket at `path`; returns the
    /// socket's descriptor.
    func plant(_ intruder: Intruder, at path: String, in dir: TemporaryDirectory) throws -> CInt? {
        switch intruder {
        case .file:
            _ = dir.write((path as NSString).lastPathComponent, "not inetd's")
            return nil
        case .socket:
            return try unixListener(at: path, backlog: 16)
        }
    }

    func expectIntact(_ intruder: Intruder, at path: String) throws {
        switch intruder {
        case .file:
            #expect((try? String(contentsOfFile: path, encoding: .utf8)) == "not inetd's")
        case .socket:
            #expect(try fileStatus(path).st_mode & S_IFMT == S_IFSOCK)
            let client = try ClientSocket(family: AF_UNIX, type: CInt(SOCK_STREAM.rawValue))
            #expect((try? client.connect(unixAddress(path))) != nil, "the foreign listener is still reachable")
        }
    }

    /// A unix stream socket bound at `path` and listening.
    func unixListener(at path: String, backlog: CInt) throws -> CInt {
        let fd = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        let address = unixAddress(path)
        let bound = address.withUnsafeBytes {
            bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count))
        }
        guard fd >= 0, bound == 0, listen(fd, backlog) == 0 else {
            close(fd)
            throw HarnessError("listener at \(path): \(String(cString: strerror(errno)))")
        }
        return fd
    }

    /// Non-blocking connects to `path` until its accept queue is full
    /// (EAGAIN); the connected descriptors.
    func fillQueue(of path: String) -> [CInt] {
        var fds: [CInt] = []
        let address = unixAddress(path)
        for _ in 0..<64 {
            let fd = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_NONBLOCK.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
            let rc = address.withUnsafeBytes {
                connect(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count))
            }
            if rc != 0 {
                close(fd)
                break
            }
            fds.append(fd)
        }
        return fds
    }
}
