import Foundation
import Glibc
import Testing

/// Real inetd programs, run under our inetd as a new user would run them, and
/// checked with their real clients over loopback. Each test skips itself when
/// its program is not installed (`.ci/run` installs them all).
@Suite struct RealProgramTests {
    /// `git daemon --inetd`: `git ls-remote` lists the commit, `git clone` gets it.
    @Test(.enabled(if: Installed.gitDaemon, "git daemon is not installed"))
    func gitDaemon() throws {
        let dir = TemporaryDirectory()
        let base = dir.path + "/repos"
        let bare = base + "/repo.git"
        let work = dir.path + "/work"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        let git = Git(home: dir.path)
        try git.run(["init", "-q", "--bare", "--initial-branch=main", bare])
        try git.run(["init", "-q", "--initial-branch=main", work])
        _ = dir.write("work/README", "served by git daemon under inetd\n")
        try git.run(["-C", work, "add", "README"])
        try git.run(["-C", work, "commit", "-q", "-m", "first"])
        try git.run(["-C", work, "push", "-q", bare, "main"])
        let commit = try git.run(["-C", work, "rev-parse", "HEAD"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)

        let port = try freePort()
        let daemon = try RunningDaemon(config: """
            127.0.0.1:\(port) stream tcp nowait - /usr/bin/git git daemon --inetd --export-all --base-path=\(base)

            """)
        let url = "git://127.0.0.1:\(port)/repo.git"
        let refs = try git.run(["ls-remote", url]).stdout
        #expect(refs.contains("\(commit)\tHEAD"), "ls-remote output: \(refs)")
        #expect(refs.contains("\(commit)\trefs/heads/main"), "ls-remote output: \(refs)")

        let clone = dir.path + "/clone"
        try git.run(["clone", "-q", url, clone])
        #expect(try git.run(["-C", clone, "rev-parse", "HEAD"]).stdout.hasPrefix(commit))
        #expect(FileManager.default.contents(atPath: clone + "/README") == Data("served by git daemon under inetd\n".utf8))
        try daemon.waitForLog("event=exit service=127.0.0.1:\(port)/tcp", times: 2)
        #expect(daemon.count("status=\"exit 0\"") == 2, "both handlers exit cleanly; log:\n\(daemon.log)")
    }

    /// `rsync --daemon`: the module lists its file and a download gives the same bytes.
    @Test(.enabled(if: Installed.all("/usr/bin/rsync"), "rsync is not installed"))
    func rsyncDaemon() throws {
        let dir = TemporaryDirectory()
        let module = dir.path + "/module"
        try FileManager.default.createDirectory(atPath: module, withIntermediateDirectories: true)
        let content = randomBytes(200_000)
        _ = FileManager.default.createFile(atPath: module + "/blob.bin", contents: content)
        let config = dir.write("rsyncd.conf", """
            use chroot = no
            [mod]
                path = \(module)
                read only = yes

            """)

        let port = try freePort()
        let daemon = try RunningDaemon(config: """
            127.0.0.1:\(port) stream tcp nowait - /usr/bin/rsync rsync --daemon --config=\(config)

            """)
        let listing = try runProgram("/usr/bin/rsync", ["rsync://127.0.0.1:\(port)/mod/"], in: dir)
        #expect(listing.status == 0, "rsync list: \(listing)")
        #expect(listing.stdout.split(separator: "\n").contains { $0.hasSuffix(" blob.bin") }, "listing: \(listing.stdout)")

        let copy = dir.path + "/copy.bin"
        let download = try runProgram("/usr/bin/rsync", ["rsync://127.0.0.1:\(port)/mod/blob.bin", copy], in: dir)
        #expect(download.status == 0, "rsync download: \(download)")
        #expect(FileManager.default.contents(atPath: copy) == content)
        try daemon.waitForLog("event=exit service=127.0.0.1:\(port)/tcp", times: 2)
        #expect(daemon.count("status=\"exit 0\"") == 2, "both handlers exit cleanly; log:\n\(daemon.log)")
    }

    /// tftpd-hpa's `in.tftpd` on a `wait` UDP socket: two fetches with the
    /// tftp-hpa client, the second served by a new handler once the first has
    /// given the socket back to inetd.
    @Test(.enabled(if: Installed.tftpHPA && getuid() == 0,
                   "needs tftpd-hpa, tftp-hpa and root (in.tftpd -s chroots, then drops to nobody)"))
    func tftpdWait() throws {
        let dir = TemporaryDirectory()
        let root = dir.path + "/tftproot"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let content = randomBytes(100_000)
        _ = FileManager.default.createFile(atPath: root + "/boot.img", contents: content)

        let port = try freePort()
        let service = "service=127.0.0.1:\(port)/udp"
        // --timeout 1: the handler waits 1 s for another request, then exits
        // and the socket goes back to inetd.
        let daemon = try RunningDaemon(config: """
            127.0.0.1:\(port) dgram udp wait - /usr/sbin/in.tftpd in.tftpd --timeout 1 -s \(root)

            """)
        for round in 1...2 {
            let out = dir.path + "/fetch-\(round).img"
            let fetch = try runProgram("/usr/bin/tftp",
                                       ["-m", "binary", "127.0.0.1", "\(port)", "-c", "get", "boot.img", out], in: dir)
            #expect(fetch.status == 0, "tftp get \(round): \(fetch)")
            #expect(FileManager.default.contents(atPath: out) == content, "fetch \(round) gives the same bytes")
            // The handler exits and inetd takes the socket back before the next fetch.
            try daemon.waitForLog("event=exit \(service)", times: round, timeout: 15)
        }
        let handlers = daemon.log.split(separator: "\n")
            .filter { $0.contains("event=handover \(service)") }
            .compactMap { $0.split(separator: " ").first { $0.hasPrefix("pid=") } }
        #expect(handlers.count == 2 && Set(handlers).count == 2, "each fetch had its own handler; log:\n\(daemon.log)")
    }

    /// `busybox httpd -i`: a GET returns 200 and the file, a missing file 404.
    @Test(.enabled(if: Installed.busyboxApplet("httpd"), "busybox with httpd is not installed"))
    func busyboxHttpd() throws {
        let dir = TemporaryDirectory()
        let www = dir.path + "/www"
        try FileManager.default.createDirectory(atPath: www, withIntermediateDirectories: true)
        let page = "<html><body>served by busybox httpd under inetd</body></html>\n"
        _ = dir.write("www/index.html", page)

        let port = try freePort()
        let daemon = try RunningDaemon(config: """
            127.0.0.1:\(port) stream tcp nowait - \(Installed.busybox) busybox httpd -i -h \(www)

            """)
        let response = try tcpExchange("127.0.0.1", port, send: "GET /index.html HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        let parts = response.components(separatedBy: "\r\n\r\n")
        #expect(parts.first?.hasPrefix("HTTP/1.1 200 OK\r\n") == true, "response: \(response)")
        #expect(parts.dropFirst().joined(separator: "\r\n\r\n") == page)

        let missing = try tcpExchange("127.0.0.1", port, send: "GET /nothing-here HTTP/1.0\r\n\r\n")
        #expect(missing.hasPrefix("HTTP/1.1 404 "), "response: \(missing)")
        try daemon.waitForLog("event=exit service=127.0.0.1:\(port)/tcp", times: 2)
    }

    /// `sshd -i`: the client sees the OpenSSH banner, and a key login runs a command.
    @Test(.enabled(if: Installed.all("/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/ssh-keygen") && getuid() == 0,
                   "needs openssh-server, openssh-client and root"))
    func sshdInetdMode() throws {
        let dir = TemporaryDirectory()
        // sshd's privilege-separation directory; its service would make it at boot.
        if !FileManager.default.fileExists(atPath: "/run/sshd") {
            try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o755])
        }
        for key in ["host_key", "client_key"] {
            let made = try runProgram("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", dir.path + "/" + key], in: dir)
            #expect(made.status == 0, "ssh-keygen: \(made)")
        }
        try FileManager.default.copyItem(atPath: dir.path + "/client_key.pub", toPath: dir.path + "/authorized_keys")
        let config = dir.write("sshd_config", """
            HostKey \(dir.path)/host_key
            AuthorizedKeysFile \(dir.path)/authorized_keys
            StrictModes no
            PermitRootLogin prohibit-password
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no

            """)

        let port = try freePort()
        let daemon = try RunningDaemon(config: """
            127.0.0.1:\(port) stream tcp nowait - /usr/sbin/sshd sshd -i -f \(config)

            """)
        // What any client sees first.
        let client = try ClientSocket.tcp("127.0.0.1", port)
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = recv(client.fd, &buffer, buffer.count, 0)
        let banner = String(decoding: buffer.prefix(max(n, 0)), as: UTF8.self)
        #expect(banner.hasPrefix("SSH-2.0-OpenSSH"), "banner: \(banner)")
        client.close()

        // A full login with the generated key, running one command.
        let login = try runProgram("/usr/bin/ssh", [
            "-F", "/dev/null", "-p", "\(port)", "-i", dir.path + "/client_key",
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "root@127.0.0.1", "echo hello-from-sshd",
        ], in: dir)
        #expect(login.status == 0, "ssh: \(login)")
        #expect(login.stdout.split(separator: "\n").contains("hello-from-sshd"), "ssh: \(login)")
        try daemon.waitForLog("event=exit service=127.0.0.1:\(port)/tcp", times: 2)
    }
}

/// What is installed on this machine.
enum Installed {
    static func all(_ paths: String...) -> Bool {
        paths.allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// git and its daemon (Debian ships git-daemon in the git package).
    static var gitDaemon: Bool {
        all("/usr/bin/git")
            && ["/usr/lib/git-core/git-daemon", "/usr/libexec/git-core/git-daemon"].contains {
                FileManager.default.isExecutableFile(atPath: $0)
            }
    }

    /// tftpd-hpa's server and tftp-hpa's client, not another tftp with the
    /// same file names and other options.
    static var tftpHPA: Bool {
        ["/usr/sbin/in.tftpd", "/usr/bin/tftp"].allSatisfy { path in
            guard all(path), let version = try? runProgram(path, ["-V"], in: nil, timeout: 5) else { return false }
            return (version.stdout + version.stderr).contains("tftp-hpa")
        }
    }

    static let busybox = ["/usr/bin/busybox", "/bin/busybox"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    } ?? "/usr/bin/busybox"

    static func busyboxApplet(_ name: String) -> Bool {
        guard all(busybox), let list = try? runProgram(busybox, ["--list"], in: nil) else { return false }
        return list.stdout.split(separator: "\n").contains { $0 == name }
    }
}

/// A client program's outcome.
struct ProgramResult: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String
    var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

/// Runs a program with stdin from /dev/null and its output in files (no pipe
/// to fill up, no grandchild holding one open), killed after `timeout` seconds.
@discardableResult
func runProgram(_ executable: String, _ arguments: [String], in dir: TemporaryDirectory?,
                environment: [String: String] = [:], timeout: Double = 30) throws -> ProgramResult {
    let scratch = dir ?? TemporaryDirectory()
    let name = UUID().uuidString
    let outPath = scratch.path + "/.out-" + name
    let errPath = scratch.path + "/.err-" + name
    defer {
        try? FileManager.default.removeItem(atPath: outPath)
        try? FileManager.default.removeItem(atPath: errPath)
    }
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    defer {
        try? out.close()
        try? err.close()
    }

    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    process.currentDirectoryURL = URL(fileURLWithPath: scratch.path)
    process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning {
        if Date() > deadline {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let partial = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
            throw HarnessError("\(executable) \(arguments) timed out after \(timeout) s; stderr: \(partial)")
        }
        usleep(10_000)
    }
    process.waitUntilExit()
    return ProgramResult(status: process.terminationStatus,
                         stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
                         stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
}

/// The git client, kept away from the machine's and the user's git settings.
struct Git {
    let home: String

    @discardableResult
    func run(_ arguments: [String]) throws -> ProgramResult {
        let result = try runProgram("/usr/bin/git", ["-c", "user.name=inetd test", "-c", "user.email=inetd@test.invalid"] + arguments,
                                    in: nil, environment: [
                                        "HOME": home, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
                                    ])
        guard result.status == 0 else { throw HarnessError("git \(arguments.joined(separator: " ")): \(result)") }
        return result
    }
}

func randomBytes(_ count: Int) -> Data {
    var generator = SystemRandomNumberGenerator()
    return Data((0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) })
}
