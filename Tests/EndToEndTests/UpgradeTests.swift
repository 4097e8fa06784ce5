import Foundation
import Glibc
import Testing

/// SIGUSR2 (issue 16, SPEC 5): the binary inetd was started from is run
/// with `--check` first; an upgrade it refuses leaves the old image serving.
@Suite struct UpgradeTests {
    /// A copy of inetd in its own directory, so that a test can put another
    /// file at its path, as a package upgrade does (rename over it).
    final class ReplaceableBinary {
        let directory = TemporaryDirectory()
        /// Without the temporary directory's double slash: the kernel's
        /// name of it, which the log uses.
        let path: String

        init() throws {
            let canonical = realpath(directory.path, nil)!
            path = String(cString: canonical) + "/inetd"
            free(canonical)
            try FileManager.default.copyItem(atPath: Binaries.inetd, toPath: path)
        }

        /// Renames `contents` over the binary, mode `mode`.
        func replace(with contents: String, mode: mode_t = 0o755) {
            let staged = directory.write("staged", contents)
            chmod(staged, mode)
            rename(staged, path)
        }
    }

    static let echoLine = "stream tcp nowait - internal echo"

    /// One line through the echo service, the client closing its side.
    func echo(_ port: UInt16, _ text: String) throws -> String {
        let client = try ClientSocket.tcp("127.0.0.1", port)
        defer { client.close() }
        try client.send(text)
        client.shutdownWrite()
        return try client.receiveAll()
    }

    /// A binary whose --check fails, one that is not executable, and one
    /// that is not a program at all: each refused with its reason, the
    /// same process serving on.
    @Test func anUpgradeToABinaryThatFailsItsCheckOrCannotRunIsRefused() throws {
        let binary = try ReplaceableBinary()
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) \(Self.echoLine)\n", binary: binary.path)
        let cases: [(contents: String, mode: mode_t, reason: String)] = [
            ("#!/bin/sh\nexit 1\n", 0o755, "reason=\"the new binary's --check failed (exit 1)\""),
            ("#!/bin/sh\nexit 0\n", 0o644, "reason=\"the new binary did not start: execve: Permission denied"),
            ("not a program\n", 0o755, "reason=\"the new binary did not start: execve: Exec format error"),
        ]
        for (index, c) in cases.enumerated() {
            binary.replace(with: c.contents, mode: c.mode)
            daemon.signal(SIGUSR2)
            try daemon.waitForLog("event=upgrade_refused", times: index + 1)
            #expect(daemon.log.contains(c.reason), "\(daemon.log)")
            #expect(try echo(port, "still here\n") == "still here\n")
        }
        #expect(daemon.log.contains("action=\"old image serving; run \(binary.path) --check \(daemon.configPath) to see why\""))
        #expect(!daemon.log.contains("event=upgrade_exec"))
        #expect(exitCode(try daemon.stop()) == 0)
    }

    /// A second SIGUSR2 while the first one's check runs is logged and
    /// ignored: one check, one outcome.
    @Test func aSecondSignalDuringAnUpgradeIsIgnored() throws {
        let binary = try ReplaceableBinary()
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) \(Self.echoLine)\n", binary: binary.path)
        let gate = binary.directory.path + "/gate"
        binary.replace(with: "#!/bin/sh\nwhile [ ! -e \(gate) ]; do sleep 0.01; done\nexit 3\n")
        daemon.signal(SIGUSR2)
        try daemon.waitForLog("event=upgrade_checking")
        daemon.signal(SIGUSR2)
        try daemon.waitForLog("event=upgrade_ignored")
        #expect(daemon.log.contains("level=warn event=upgrade_ignored reason=\"an upgrade is in progress\""))
        _ = FileManager.default.createFile(atPath: gate, contents: nil)
        try daemon.waitForLog("event=upgrade_refused")
        #expect(daemon.count("event=upgrade_checking") == 1 && daemon.count("event=upgrade_refused") == 1)
        #expect(daemon.log.contains("(exit 3)"), "\(daemon.log)")
        #expect(try echo(port, "x\n") == "x\n")
    }
}
