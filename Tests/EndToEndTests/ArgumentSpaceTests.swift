import Foundation
import Glibc
import Testing

/// A line whose argv, beside the handler environment, is more than execve
/// takes is refused at load (`FILE:LINE: message`), at --check as in the
/// daemon; before, every connection failed with E2BIG. inetd runs under a
/// 512 KiB stack limit, so the argument space (a quarter of it, which
/// handlers inherit) is 128 KiB and a 200 KiB argv passes it, and with a
/// known environment (`env -i`; dash adds PWD).
@Suite struct ArgumentSpaceTests {
    static let launcher = ["/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "/bin/sh", "-c", "ulimit -s 512 && exec \"$@\"", "sh"]
    static let space = 128 << 10

    /// The handler environment's share: PATH, PWD, each with its NUL and a
    /// pointer.
    static var environmentBytes: Int {
        ["PATH=/usr/bin:/bin", "PWD=" + FileManager.default.currentDirectoryPath].reduce(0) { $0 + $1.utf8.count + 1 + 8 }
    }

    /// The longest argument a line `probe ARG` may have by inetd's rule,
    /// less `margin`: the space less the environment, the per-connection
    /// variables (1 KiB and 12 pointers), argv's and envp's NULLs, the
    /// path, "probe" and the argument's own NUL and pointer.
    static func longestArgument(margin: Int) -> Int {
        space - environmentBytes - (1024 + 96) - 16 - (Binaries.probe.utf8.count + 1) - (6 + 8) - 9 - margin
    }

    @Test func argvPastExecsLimitIsRefusedOnItsLineAndTheRestRun() throws {
        let p = try (0..<3).map { _ in try freePort() }
        let hundredKiB = String(repeating: "a", count: 100 << 10)
        let nearly = String(repeating: "b", count: Self.longestArgument(margin: 512))
        let config = """
            127.0.0.1:\(p[0]) stream tcp nowait - \(Binaries.probe) probe \(hundredKiB) \(hundredKiB)
            127.0.0.1:\(p[1]) stream tcp nowait - \(Binaries.probe) probe \(nearly)
            127.0.0.1:\(p[2]) stream tcp nowait - \(Binaries.probe) probe short

            """
        let dir = TemporaryDirectory()
        let file = dir.write("argv.conf", config)
        let check = try runProgram(Self.launcher[0], Array(Self.launcher.dropFirst()) + [Binaries.inetd, "--check", file])
        #expect(check.status == 1)
        #expect(check.stderr.contains("\(file):1: argv takes 204832 bytes and the handler's environment "), "\(check.stderr)")
        #expect(check.stderr.contains("more than the \(Self.space) exec takes"))
        #expect(check.stderr.split(separator: "\n").count == 1, "only line 1: \(check.stderr)")
        #expect(check.stdout.contains("# \(file):2 ") && check.stdout.contains("# \(file):3 "))

        let daemon = try RunningDaemon(config: config, launcher: Self.launcher)
        try daemon.waitForLog("event=ready ")
        #expect(daemon.log.contains(":1: argv takes 204832 bytes"), "the daemon refuses the line too:\n\(daemon.log.prefix(2000))")
        // Just under the limit: the kernel takes it.
        let report = try ProbeReport(tcpExchange("127.0.0.1", p[1]))
        #expect(report["argv.1"]?.utf8.count == nearly.utf8.count)
        #expect(try ProbeReport(tcpExchange("127.0.0.1", p[2]))["argv.1"] == "short")
        #expect(throws: (any Error).self, "line 1 is not bound") { try tcpExchange("127.0.0.1", p[0]) }
        #expect(daemon.count("event=spawn_failed") == 0)
        #expect(exitCode(try daemon.stop()) == 0)
    }
}
