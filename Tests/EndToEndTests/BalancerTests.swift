import Foundation
import Glibc
import Testing

/// HAProxy (Debian's package, which `.ci/run` installs) in front of inetd
/// with `send-proxy` and `send-proxy-v2`, over IPv4 and IPv6 (issue 17).
/// The handler must see the client, not HAProxy; rules and limits must
/// judge the client.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/haproxy"), "needs haproxy (.ci/run installs it)"))
struct BalancerTests {
    /// A running HAProxy whose frontends forward to inetd, stopped with the
    /// test.
    final class Balancer {
        let process = Process()
        let output = Pipe()

        /// Each frontend forwards to inetd on its `backend` port.
        init(frontends: [(bind: String, send: String, backend: UInt16)], dir: TemporaryDirectory) throws {
            var config = """
                global
                    maxconn 200
                defaults
                    mode tcp
                    timeout connect 5s
                    timeout client 30s
                    timeout server 30s

                """
            for (i, frontend) in frontends.enumerated() {
                config += """
                    frontend f\(i)
                        bind \(frontend.bind)
                        default_backend b\(i)
                    backend b\(i)
                        server inetd 127.0.0.1:\(frontend.backend) \(frontend.send)

                    """
            }
            let file = dir.write("haproxy.cfg", config)
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/haproxy")
            process.arguments = ["-db", "-q", "-f", file]
            process.standardOutput = output
            process.standardError = output
            try process.run()
        }

        deinit {
            process.terminate()
            process.waitUntilExit()
        }

        /// What HAProxy has printed so far (alerts; -q silences the rest).
        func outputText() -> String {
            let handle = output.fileHandleForReading
            let fd = handle.fileDescriptor
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            var text = ""
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(fd, &buffer, buffer.count)
                if n <= 0 { break }
                text += String(decoding: buffer.prefix(n), as: UTF8.self)
            }
            return text
        }
    }

    /// Waits until `port` is in LISTEN in /proc/net/tcp or tcp6 (HAProxy's
    /// frontend is up), without connecting: a probe through the balancer
    /// would start a handler of its own.
    static func waitForListener(_ port: UInt16) throws {
        let hex = String(format: ":%04X ", port)
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
                let text = (try? String(contentsOfFile: table, encoding: .utf8)) ?? ""
                // local_address, rem_address, st: LISTEN is 0A.
                for line in text.split(separator: "\n") {
                    let fields = line.split(separator: " ")
                    if fields.count > 3, fields[1].hasSuffix(hex.dropLast()), fields[3] == "0A" { return }
                }
            }
            usleep(20_000)
        }
        throw HarnessError("nothing listens on port \(port)")
    }

    /// Connects from `source` to host:port, sends `text` and closes its
    /// sending side (if it sent anything), and reads all.
    static func exchange(from source: String, to host: String, _ port: UInt16, send text: [UInt8] = []) throws -> String {
        let client = try ClientSocket(family: host.contains(":") ? AF_INET6 : AF_INET, type: CInt(SOCK_STREAM.rawValue))
        guard client.bind(makeAddress(source, 0)!) == 0 else { throw HarnessError("bind \(source)") }
        try client.connect(makeAddress(host, port)!)
        var at = 0
        while at < text.count {
            let sent = text[at...].withUnsafeBytes { Glibc.send(client.fd, $0.baseAddress, $0.count, CInt(MSG_NOSIGNAL)) }
            guard sent > 0 else { break }
            at += sent
        }
        // Half-closing at once, before HAProxy has its server connection,
        // can make HAProxy drop the session: a client that sends nothing
        // waits for the server instead.
        if !text.isEmpty { client.shutdownWrite() }
        return (try? client.receiveAll()) ?? ""
    }

    @Test func theHandlerSeesTheClientThroughV1AndV2OverIPv4AndIPv6() throws {
        let port = try freePort(), dir = TemporaryDirectory()
        let script = dir.write("report", ProxyTests.reporter)
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait,proxy,proxy-from=127.0.0.1 - /bin/sh sh \(script)\n")
        let v6 = hostHasIPv6()
        var fronts = [try freePort(), try freePort()]
        var frontends = [(bind: "127.0.0.1:\(fronts[0])", send: "send-proxy", backend: port),
                         (bind: "127.0.0.1:\(fronts[1])", send: "send-proxy-v2", backend: port)]
        if v6 {
            fronts += [try freePort(), try freePort()]
            frontends += [(bind: "[::1]:\(fronts[2])", send: "send-proxy", backend: port),
                          (bind: "[::1]:\(fronts[3])", send: "send-proxy-v2", backend: port)]
        }
        let balancer = try Balancer(frontends: frontends, dir: dir)
        for front in fronts { try Self.waitForListener(front) }
        for front in fronts.prefix(2) {
            let reply = try Self.exchange(from: "127.0.0.5", to: "127.0.0.1", front, send: Array("hello".utf8))
            #expect(reply.hasPrefix("TCP 127.0.0.5 "), "the client, not HAProxy: \(reply)")
            #expect(reply.contains(" 127.0.0.1 \(front) 127.0.0.1 "), "the address it reached, then HAProxy's: \(reply)")
            #expect(reply.hasSuffix("\nhello"), "its bytes, untouched: \(reply)")
        }
        for front in fronts.dropFirst(2) {
            let reply = try Self.exchange(from: "::1", to: "::1", front, send: Array("hello".utf8))
            #expect(reply.hasPrefix("TCP6 ::1 ") && reply.contains(" ::1 \(front) 127.0.0.1 "),
                    "\(reply.debugDescription)\nHAProxy: \(balancer.outputText())\ninetd:\n\(daemon.log)")
        }
        #expect(daemon.count("event=proxy_refused") == 0, "\(daemon.log)")
        _ = balancer
    }

    /// Two clients behind one balancer are two sources for `per-ip=1`; the
    /// same client twice is one; a `deny` of a client holds through it; and
    /// 1 MiB after the header arrives byte for byte.
    @Test func rulesAndLimitsJudgeTheClientBehindTheBalancer() throws {
        let (slow, sum) = (try freePort(), try freePort())
        let dir = TemporaryDirectory()
        let script = dir.write("slow", "echo \"$TCPREMOTEIP\"\nsleep 2\n")
        let daemon = try RunningDaemon(config: """
            127.0.0.1:\(slow) stream tcp nowait,proxy=required,proxy-from=127.0.0.1,per-ip=1,deny=127.0.0.7 - /bin/sh sh \(script)
            127.0.0.1:\(sum) stream tcp nowait,proxy=required,proxy-from=127.0.0.1 - /usr/bin/cksum cksum

            """)
        let (f1, sumFront) = (try freePort(), try freePort())
        let balancer = try Balancer(frontends: [(bind: "127.0.0.1:\(f1)", send: "send-proxy-v2", backend: slow),
                                                (bind: "127.0.0.1:\(sumFront)", send: "send-proxy-v2", backend: sum)],
                                    dir: dir)
        try Self.waitForListener(f1)
        try Self.waitForListener(sumFront)
        let first = try ClientSocket(family: AF_INET, type: CInt(SOCK_STREAM.rawValue))
        #expect(first.bind(makeAddress("127.0.0.5", 0)!) == 0)
        try first.connect(makeAddress("127.0.0.1", f1)!)
        try daemon.waitUntil("the first client's handler runs") { childCount(of: daemon.pid) == 1 }
        #expect(try Self.exchange(from: "127.0.0.5", to: "127.0.0.1", f1) == "", "the same client: over per-ip")
        #expect(try Self.exchange(from: "127.0.0.6", to: "127.0.0.1", f1) == "127.0.0.6\n", "another client: its own source")
        #expect(try Self.exchange(from: "127.0.0.7", to: "127.0.0.1", f1) == "", "denied through the balancer")
        #expect(try first.receiveAll() == "127.0.0.5\n")
        try daemon.waitForLog("event=source_limited service=127.0.0.1:\(slow)/tcp peer=127.0.0.5:")
        try daemon.waitForLog("event=access_denied service=127.0.0.1:\(slow)/tcp peer=127.0.0.7:")
        var payload = [UInt8](repeating: 0, count: 1 << 20)
        var rng = SplitMix64(seed: 1717)
        for i in payload.indices { payload[i] = UInt8(truncatingIfNeeded: rng.next()) }
        let file = dir.path + "/payload"
        FileManager.default.createFile(atPath: file, contents: Data(payload))
        let expected = try runShell("/usr/bin/cksum < \(file)")
        #expect(try Self.exchange(from: "127.0.0.5", to: "127.0.0.1", sumFront, send: payload) == expected)
        _ = balancer
    }
}
