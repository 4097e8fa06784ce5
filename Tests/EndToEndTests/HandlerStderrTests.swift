import Foundation
import Glibc
import Testing

/// `stderr=log`, the default (SPEC 3): what a handler writes to its stderr
/// is logged a line at a time, tagged with its service and the writer's
/// pid, escaped, bounded, and never at the loop's expense;
/// `stderr=inherit` gives the raw descriptor.
@Suite struct HandlerStderrTests {
    let scripts = TemporaryDirectory()

    /// A shell script as a handler: inetd.conf has no quoting.
    func script(_ name: String, _ body: String) -> String {
        let path = scripts.write(name, body)
        chmod(path, 0o755)
        return path
    }

    /// The first line a handler sends, read byte by byte: the rest is
    /// left for later.
    static func firstLine(_ client: ClientSocket) -> String {
        var text = ""
        var byte: UInt8 = 0
        while !text.hasSuffix("\n"), recv(client.fd, &byte, 1, 0) == 1 { text.append(Character(UnicodeScalar(byte))) }
        return text
    }

    static func pid(in text: String) -> String? {
        text.split(separator: "\n").first { $0.hasPrefix("pid=") }.map { String($0.dropFirst(4)) }
    }

    /// Two handlers at once, each tagged with its own pid (the shell's
    /// `$$`, as the client reads it); quotes, backslashes and control
    /// characters escaped; a line written in pieces is one line; a tail
    /// without newline is logged at the handler's exit.
    @Test func linesAreTaggedWithTheirServiceAndWriter() throws {
        let port = try freePort()
        let handler = script("talk.sh", """
            echo pid=$$
            read go
            printf 'hello from %s\\n' $$ >&2
            printf 'quote " back \\\\ bell \\007 tab\\t end\\n' >&2
            printf 'in ' >&2; printf 'pieces\\n' >&2
            printf 'no newline %s' $$ >&2
            """)
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait - /bin/sh sh \(handler)\n", arguments: [])
        let service = "127.0.0.1:\(port)/tcp"
        let clients = try (0..<2).map { _ in try ClientSocket.tcp("127.0.0.1", port) }
        var pids: [String] = []
        for client in clients { pids.append(try #require(Self.pid(in: Self.firstLine(client)))) }
        for client in clients { try client.send("go\n") }
        for client in clients { _ = try client.receiveAll() }
        for pid in pids {
            try daemon.waitForLog("event=stderr service=\(service) pid=\(pid) line=\"no newline \(pid)\"")
            let mine = daemon.log.split(separator: "\n").filter { $0.contains(" pid=\(pid) ") && $0.contains("event=stderr") }
            #expect(mine == [
                "level=info event=stderr service=\(service) pid=\(pid) line=\"hello from \(pid)\"",
                #"level=info event=stderr service=\#(service) pid=\#(pid) line="quote \" back \\ bell \x07 tab\t end""#,
                "level=info event=stderr service=\(service) pid=\(pid) line=\"in pieces\"",
                "level=info event=stderr service=\(service) pid=\(pid) line=\"no newline \(pid)\"",
            ].map { Substring($0) }, "\(daemon.log)")
        }
        #expect(exitCode(try daemon.stop()) == 0)
    }

    /// A 100 KB line is cut at 1024 bytes and marked (the rest of it
    /// dropped); a single 300 KB write succeeds for its writer, whose first
    /// 64 KiB are read.
    @Test func longLinesAreCutAndMarked() throws {
        let port = try freePort()
        let handler = script("long.sh", """
            head -c 100000 /dev/zero | tr '\\0' a >&2
            printf '\\nafter the long line\\n' >&2
            \(Fixtures.python.map { "\($0) -c 'import os; print(\"wrote=%d\" % os.write(2, b\"b\" * 300000 + b\"\\n\"))'" } ?? "echo wrote=300001")
            """)
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait - /bin/sh sh \(handler)\n", arguments: [])
        let text = try tcpExchange("127.0.0.1", port)
        #expect(text == "wrote=300001\n", "one 300 KB write is taken whole")
        try daemon.waitForLog("line=\"after the long line\"")
        if Fixtures.python != nil { try daemon.waitForLog("line=bbb") }
        let lines = daemon.log.split(separator: "\n").filter { $0.contains("event=stderr") }
        let cut = " line=\(String(repeating: "a", count: 1024)) truncated=1"
        #expect(lines.filter { $0.contains("line=aaa") }.map { $0.hasSuffix(cut) } == [true], "one line, cut and marked")
        daemon.signal(SIGUSR1)
        try daemon.waitForLog("stderr_lines=\(lines.count) stderr_cut=\(Fixtures.python != nil ? 2 : 1)")
        if Fixtures.python != nil {
            let big = lines.filter { $0.contains("line=bbb") }
            #expect(big.map { $0.hasSuffix(" line=\(String(repeating: "b", count: 1024)) truncated=1") } == [true])
        }
        #expect(exitCode(try daemon.stop()) == 0)
    }

    /// A handler that passes descriptors over its stderr (SCM_RIGHTS)
    /// leaves none in inetd; its line is logged as any other.
    @Test(.enabled(if: Fixtures.python != nil, "no python3 at /usr/bin or /usr/local/bin"))
    func descriptorsPassedOverStderrAreNotKept() throws {
        let port = try freePort()
        let handler = scripts.write("pass.py", """
            import array, socket
            stderr = socket.socket(fileno=2)
            stderr.sendmsg([b"with descriptors\\n"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [0, 1] * 8))])
            print("sent", flush=True)
            """)
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait - \(Fixtures.python!) python3 \(handler)\n",
                                       arguments: [])
        #expect(try tcpExchange("127.0.0.1", port) == "sent\n")
        try daemon.waitForLog("line=\"with descriptors\"")
        let settled = daemon.openFDs().count
        for _ in 0..<5 { _ = try tcpExchange("127.0.0.1", port) }
        try daemon.waitForLog("line=\"with descriptors\"", times: 6)
        #expect(daemon.openFDs().count == settled, "\(daemon.openFDs())")
        #expect(exitCode(try daemon.stop()) == 0)
    }

    /// A reload that removes a service while its handler runs: the
    /// handler's later lines are still logged as that service's, and the
    /// socket pair closes when it exits.
    @Test func aRemovedServiceKeepsItsStderrUntilItsLastHandlerExits() throws {
        let port = try freePort(), other = try freePort()
        let handler = script("late.sh", "echo pid=$$\nread go\necho 'after the reload' >&2\n")
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait - /bin/sh sh \(handler)\n", arguments: [])
        let client = try ClientSocket.tcp("127.0.0.1", port)
        let pid = try #require(Self.pid(in: Self.firstLine(client)))
        daemon.rewriteConfig("127.0.0.1:\(other) stream tcp nowait - \(Binaries.probe) probe\n")
        try daemon.reload()
        let reloaded = daemon.openFDs().count
        try client.send("go\n")
        _ = try client.receiveAll()
        try daemon.waitForLog("event=stderr service=127.0.0.1:\(port)/tcp pid=\(pid) line=\"after the reload\"")
        try daemon.waitUntil("the removed service's socket pair closed") { daemon.openFDs().count == reloaded - 2 }
        #expect(exitCode(try daemon.stop()) == 0)
    }

    /// `stderr=inherit`: inetd's own stderr, the bytes as written.
    @Test func inheritGivesTheRawDescriptor() throws {
        let port = try freePort()
        let handler = script("raw.sh", "printf 'raw \\033 bytes\\n' >&2\necho done\n")
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait,stderr=inherit - /bin/sh sh \(handler)\n",
                                       arguments: [])
        #expect(try tcpExchange("127.0.0.1", port) == "done\n")
        try daemon.waitForLog("\nraw \u{1B} bytes\n")
        #expect(!daemon.log.contains("event=stderr"))
        #expect(exitCode(try daemon.stop()) == 0)
    }

    /// `wait,listen-fds`: a long-lived server's stdout and stderr are both
    /// tagged, and so are its workers, which are not inetd's children.
    @Test(.enabled(if: Fixtures.python != nil, "no python3 at /usr/bin or /usr/local/bin"))
    func listenFdsServerAndItsWorkersAreTagged() throws {
        let port = try freePort()
        let server = scripts.write("server.py", """
            import os, socket, sys
            listener = socket.socket(fileno=3)
            connection, _ = listener.accept()
            print("out-line", flush=True)
            os.write(2, b"err-line\\n")
            worker = os.fork()
            if worker == 0:
                os.write(2, b"worker-line\\n")
                os._exit(0)
            os.waitpid(worker, 0)
            connection.sendall(b"pid=%d\\nworker=%d\\n" % (os.getpid(), worker))
            connection.close()
            """)
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp wait,listen-fds - \(Fixtures.python!) python3 \(server)\n",
                                       arguments: [])
        let text = try tcpExchange("127.0.0.1", port)
        let pid = try #require(Self.pid(in: text))
        let worker = try #require(text.split(separator: "\n").first { $0.hasPrefix("worker=") }?.dropFirst(7))
        let service = "127.0.0.1:\(port)/tcp"
        try daemon.waitForLog("event=stderr service=\(service) pid=\(worker) line=worker-line")
        try daemon.waitForLog("event=stderr service=\(service) pid=\(pid) line=out-line")
        try daemon.waitForLog("event=stderr service=\(service) pid=\(pid) line=err-line")
        #expect(exitCode(try daemon.stop()) == 0)
    }

    /// inetd's stderr stalled while one handler floods its stderr without
    /// end: another service's clients are all served promptly (the flood
    /// gets a bounded share of each turn), and once the reader is back the
    /// lines lost are counted.
    @Test func aFloodIntoAStalledLogStopsNoService() throws {
        let flood = try freePort(), other = try freePort()
        let flooder = script("flood.sh", "echo pid=$$\nexec yes flood >&2\n")
        let daemon = try StalledDaemon(config: """
            127.0.0.1:\(flood) stream tcp nowait - /bin/sh sh \(flooder)
            127.0.0.1:\(other) stream tcp nowait - \(Binaries.probe) probe report

            """, socket: false)
        let client = try ClientSocket.tcp("127.0.0.1", flood)
        let pid = try #require(Self.pid(in: Self.firstLine(client)).flatMap { pid_t($0) })
        defer { kill(-pid, SIGKILL) }
        let started = Date()
        var served = 0
        for _ in 0..<40 {
            guard (try? ProbeReport(tcpExchange("127.0.0.1", other))) != nil else { break }
            served += 1
        }
        let elapsed = Date().timeIntervalSince(started)
        #expect(served == 40 && elapsed < 5, "\(served) clients served in \(elapsed) s during the flood")
        kill(-pid, SIGKILL)
        // The reader is back: the next line that gets through says how
        // many were lost (the flood's queue is still being logged).
        var log: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = Date().addingTimeInterval(10)
        while LogBackpressureTests.droppedCount(String(decoding: log, as: UTF8.self)) == 0, Date() < deadline {
            var pfd = pollfd(fd: daemon.readEnd, events: Int16(POLLIN), revents: 0)
            _ = poll(&pfd, 1, 100)
            let n = read(daemon.readEnd, &buffer, buffer.count)
            if n > 0 { log += buffer.prefix(n) }
        }
        let output = String(decoding: log, as: UTF8.self)
        #expect(LogBackpressureTests.droppedCount(output) > 0, "\(output.suffix(300))")
        #expect(exitCode(try daemon.stop()) == 0)
    }
}

extension RunningDaemon {
    /// A handler descriptor is its service's stderr socket: a socket (its
    /// `socket:[inode]` link), not inetd's own stderr, whose other end
    /// inetd holds.
    func isServiceStderr(_ link: String?) -> Bool {
        guard let link, link.hasPrefix("socket:") else { return false }
        let mine = openFDs()
        return mine[2] != link && mine.values.contains(link)
    }
}
