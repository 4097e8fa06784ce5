import Foundation
import Glibc
import Testing

/// The built-in services, served inside the loop (SPEC 4).
@Suite struct BuiltinTests {
    /// Ports for each built-in over TCP and UDP, and a running inetd.
    struct Builtins {
        var ports: [String: UInt16] = [:]
        let daemon: RunningDaemon

        init(options: String = "") throws {
            var lines: [String] = []
            for name in ["echo", "discard", "chargen", "daytime", "time"] {
                let port = try freePort()
                ports[name] = port
                lines.append("127.0.0.1:\(port) stream tcp nowait\(options) - internal \(name)")
                lines.append("127.0.0.1:\(port) dgram udp wait - internal \(name)")
            }
            daemon = try RunningDaemon(config: lines.joined(separator: "\n") + "\n")
        }

        subscript(_ name: String) -> UInt16 { ports[name]! }
    }

    @Test func tcpEchoReturnsWhatWasSentThenCloses() throws {
        let b = try Builtins()
        let client = try ClientSocket.tcp("127.0.0.1", b["echo"])
        let line = String(repeating: "0123456789abcdef", count: 1000)  // larger than the buffer
        try client.send(line)
        client.shutdownWrite()
        #expect(try client.receiveAll() == line)
        #expect(b.daemon.count("event=spawn") == 0, "nothing was spawned")
    }

    @Test func tcpDiscardReadsAndAnswersNothing() throws {
        let b = try Builtins()
        let client = try ClientSocket.tcp("127.0.0.1", b["discard"])
        try client.send("into the void")
        client.shutdownWrite()
        #expect(try client.receiveAll().isEmpty)
    }

    @Test func tcpChargenSendsTheRotatingPattern() throws {
        let b = try Builtins()
        let client = try ClientSocket.tcp("127.0.0.1", b["chargen"])
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while data.count < 148 {
            let n = recv(client.fd, &chunk, chunk.count, 0)
            #expect(n > 0)
            if n <= 0 { break }
            data += chunk.prefix(n)
        }
        let first = String(decoding: data[0..<74], as: UTF8.self)
        let second = String(decoding: data[74..<148], as: UTF8.self)
        #expect(first == String(decoding: (0..<72).map { UInt8(32 + $0) }, as: UTF8.self) + "\r\n")
        #expect(second == String(decoding: (0..<72).map { UInt8(32 + ($0 + 1) % 95) }, as: UTF8.self) + "\r\n")
    }

    @Test func tcpDaytimeAndTime() throws {
        let b = try Builtins()
        let daytime = try tcpExchange("127.0.0.1", b["daytime"])
        #expect(daytime.hasSuffix("\r\n"))
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        #expect(daytime.contains(" \(parts.tm_year + 1900)\r\n"), "\(daytime)")

        let client = try ClientSocket.tcp("127.0.0.1", b["time"])
        var bytes = [UInt8](repeating: 0, count: 8)
        let n = recv(client.fd, &bytes, 8, CInt(MSG_WAITALL))
        #expect(n == 4)
        let seconds = bytes[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let expected = UInt32(truncatingIfNeeded: Int64(time(nil)) + 2_208_988_800)
        #expect(expected &- seconds < 5)
    }

    @Test func udpBuiltinsAnswerOrdinaryLoopbackClients() throws {
        let b = try Builtins()
        #expect(try udpExchange("127.0.0.1", b["echo"], send: "ping") == "ping")
        #expect(try udpExchange("127.0.0.1", b["daytime"], send: "x").hasSuffix("\r\n"))
        let chargen = try udpExchange("127.0.0.1", b["chargen"], send: "x")
        #expect(chargen.count <= 512)
        #expect(chargen.isEmpty || chargen.hasPrefix(" !\"#$"))
    }

    @Test(.enabled(if: getuid() == 0, "a source port below 1024 needs root"))
    func udpBuiltinsIgnorePrivilegedSourcePorts() throws {
        let b = try Builtins()
        // A datagram from port 1000, then one from an ordinary port: once the
        // second is answered, the first was read and dropped before it.
        let privileged = try ClientSocket(family: AF_INET, type: CInt(SOCK_DGRAM.rawValue))
        var one: CInt = 1
        setsockopt(privileged.fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
        try #require(privileged.bind(makeAddress("127.0.0.1", 1000)!) == 0, "port 1000 is in use")
        try privileged.connect(makeAddress("127.0.0.1", b["echo"])!)
        try privileged.send("from a privileged port")
        #expect(try udpExchange("127.0.0.1", b["echo"], send: "ordinary") == "ordinary")
        var buffer = [UInt8](repeating: 0, count: 64)
        #expect(recv(privileged.fd, &buffer, buffer.count, CInt(MSG_DONTWAIT)) == -1, "no answer to port 1000")
    }

    @Test func aClientThatNeverReadsDoesNotStopOthers() throws {
        let b = try Builtins()
        let stuck = try ClientSocket.tcp("127.0.0.1", b["chargen"])
        // chargen fills this client's socket buffers; the loop goes on.
        for i in 0..<20 {
            let client = try ClientSocket.tcp("127.0.0.1", b["echo"])
            try client.send("line \(i)")
            client.shutdownWrite()
            #expect(try client.receiveAll() == "line \(i)")
        }
    }

    @Test func idleConnectionsAreDropped() throws {
        let b = try Builtins(options: ",timeout=1")
        let client = try ClientSocket.tcp("127.0.0.1", b["discard"])
        // Nothing sent: inetd closes the connection after about a second.
        #expect(try client.receiveAll().isEmpty)
    }

    @Test func concurrencyCapMakesClientsWaitInTheBacklog() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "127.0.0.1:\(port) stream tcp nowait,max=1 - internal echo\n")
        let first = try ClientSocket.tcp("127.0.0.1", port)
        try first.send("first")
        var buffer = [UInt8](repeating: 0, count: 16)
        #expect(recv(first.fd, &buffer, 16, 0) == 5, "the first is served")
        // The second connects (the kernel's backlog) but gets no answer
        // until the first is gone.
        let second = try ClientSocket.tcp("127.0.0.1", port)
        try second.send("second")
        second.shutdownWrite()
        // A round trip on the first connection: the loop has run past the
        // second's arrival, and left it unaccepted.
        try first.send("again")
        #expect(recv(first.fd, &buffer, 16, 0) == 5)
        #expect(recv(second.fd, &buffer, 16, CInt(MSG_DONTWAIT)) == -1, "the second waits")
        first.close()
        #expect(try second.receiveAll() == "second")
        _ = daemon
    }
}
