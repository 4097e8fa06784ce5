import Glibc
import Testing
@testable import InetdCore

/// Small runtime pieces, tested without sockets or processes.
@Suite struct RuntimePiecesTests {
    func logfmt(_ value: String) -> String {
        var line: [UInt8] = []
        Log.appendValue(value, to: &line)
        return String(decoding: line, as: UTF8.self)
    }

    @Test func logValuesAreQuotedOnlyWhenNeededAndCannotForgeALine() {
        #expect(logfmt("plain") == "plain")
        #expect(logfmt("") == "\"\"")
        #expect(logfmt("two words") == "\"two words\"")
        #expect(logfmt("a=b") == "\"a=b\"")
        #expect(logfmt("say \"hi\"") == "\"say \\\"hi\\\"\"")
        #expect(logfmt("line\nlevel=error event=forged") == "\"line\\nlevel=error event=forged\"")
        #expect(logfmt("bell\u{07}") == "\"bell\\x07\"")
    }

    /// The NUL-terminated list of `NAME=value` strings, as Swift strings.
    func environmentStrings(_ envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> [String] {
        var found: [String] = []
        var i = 0
        while let entry = envp[i] {
            found.append(String(cString: entry))
            i += 1
        }
        return found
    }

    @Test func variableWriterFormatsAddressesFromSockaddrBytes() {
        let environment = HandlerEnvironment(["BASE=1"])
        var mapped = sockaddr_in6()
        mapped.sin6_family = sa_family_t(AF_INET6)
        mapped.sin6_port = UInt16(4321).bigEndian
        withUnsafeMutableBytes(of: &mapped.sin6_addr) { $0.copyBytes(from: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 192, 0, 2, 7]) }
        let entries = environment.with({ writer in
            writer.add("PROTO", "TCP")
            withUnsafeBytes(of: &mapped) { writer.add(address: "TCPREMOTEIP", port: "TCPREMOTEPORT", from: $0) }
        }) { envp, _ in environmentStrings(envp) }
        #expect(entries == ["BASE=1", "PROTO=TCP", "TCPREMOTEIP=192.0.2.7", "TCPREMOTEPORT=4321"])
    }

    @Test func variableWriterRefusesWhatDoesNotFit() {
        let environment = HandlerEnvironment([])
        let result: Int? = environment.with({ writer in
            for _ in 0..<(HandlerEnvironment.extraSlots + 1) { writer.add("X", "y") }
        }) { _, _ in 1 }
        #expect(result == nil)
    }

    @Test func socketActivationVariablesAreWrittenInPlace() {
        let environment = HandlerEnvironment([])
        let entries = environment.with({ writer in
            writer.add("LISTEN_FDS", number: 2)
            writer.reserve("LISTEN_PID", capacity: 32)
            writer.add("LISTEN_FDNAMES", repeating: Array("web".utf8), count: 2)
            writer.add("UNIXREMOTEEUID", number: 0)
        }) { envp, reserved -> [String] in
            #expect(reserved?.capacity == 32)
            // The child writes the pid into the reserved entry after clone.
            if let entry = reserved?.entry { strcpy(entry, "LISTEN_PID=4242") }
            return environmentStrings(envp)
        }
        #expect(entries == ["LISTEN_FDS=2", "LISTEN_PID=4242", "LISTEN_FDNAMES=web:web", "UNIXREMOTEEUID=0"])
    }

    @Test func variablesLargerThanTheScratchBufferMakeItGrow() {
        let environment = HandlerEnvironment(["BASE=1"])
        let name = [UInt8](repeating: UInt8(ascii: "n"), count: 255)
        let entries = environment.with({ writer in
            writer.add("LISTEN_FDS", number: 61)
            writer.reserve("LISTEN_PID", capacity: 32)
            writer.add("LISTEN_FDNAMES", repeating: name, count: 61)
        }) { envp, _ in environmentStrings(envp) }
        #expect(entries?.count == 4)
        #expect(entries?.last?.utf8.count == "LISTEN_FDNAMES=".utf8.count + 61 * 256 - 1)
        let small = environment.with({ writer in writer.add("PROTO", "TCP") }) { envp, _ in environmentStrings(envp) }
        #expect(small == ["BASE=1", "PROTO=TCP"], "the grown buffer serves the next handler too")
        let huge = environment.with({ writer in
            writer.add("X", bytes: [UInt8](repeating: 0x41, count: VariableScratch.maxCapacity))
        }) { _, _ in 1 }
        #expect(huge == nil, "past the largest buffer: refused")
    }

    @Test func defaultDescriptorNamesAreValidForSdListenFds() {
        #expect(ServiceState.validFDName("/run/a:b.sock") == Array("/run/a_b.sock".utf8))
        #expect(ServiceState.validFDName("/" + String(repeating: "x", count: 300)).count == 255)
        #expect(ServiceState.validFDName("8000") == Array("8000".utf8))
    }

    @Test func eventTokensRoundTripAndTellGenerationsApart() {
        let token = EventToken(.stderr, slot: 70_000, generation: 0x1FFF_FFFF)
        #expect(EventToken(rawValue: token.rawValue) == token)
        #expect(EventToken(rawValue: EventToken.signals.rawValue) == EventToken.signals)
        #expect(EventToken(.listener, slot: 3, generation: 1).rawValue != EventToken(.listener, slot: 3, generation: 2).rawValue)
        #expect(EventToken(.listener, slot: 3, generation: 1).rawValue != EventToken(.connection, slot: 3, generation: 1).rawValue)
        #expect(EventToken(rawValue: EventToken.spawnReports.rawValue) == EventToken.spawnReports)
        #expect(EventToken.spawnReports.rawValue != EventToken.signals.rawValue)
    }

    /// The listener table's endpoint index: found after any insertions and
    /// removals, with the table grown many times over and every listener
    /// moved by the removals before it (linear probing, backward shift).
    @Test func endpointIndexFindsWhatRemainsAfterRemovals() {
        let entry = ServiceEntry(line: 1, hosts: ["*"], service: "7", socketType: .stream,
                                 transport: Transport(kind: .tcp, families: .ipv4Only), wait: false, user: "-",
                                 program: .builtin("echo"), arguments: ["echo"])
        let state = ServiceState(service: Service(entry: entry, endpoints: [], identity: nil),
                                 environment: HandlerEnvironment([]))
        func endpoint(_ port: Int) -> Endpoint {
            Endpoint(socketType: .stream, kind: .tcp, address: .anyIPv4(port: UInt16(port)), ipv6Only: false)
        }
        var index = EndpointIndex()
        #expect(index[endpoint(1)] == nil)
        var listeners: [Int: Listener] = [:]
        for port in 1...500 {
            let listener = Listener(endpoint: endpoint(port), state: state,
                                    token: EventToken(.listener, slot: port, generation: 1))
            listeners[port] = listener
            index.insert(listener)
        }
        for port in stride(from: 1, through: 500, by: 3) {
            index.remove(endpoint(port))
            listeners[port] = nil
        }
        index.remove(endpoint(9_999))
        #expect(index.count == listeners.count)
        for port in 1...500 {
            #expect(index[endpoint(port)] === listeners[port], "port \(port)")
        }
        let replacement = Listener(endpoint: endpoint(2), state: state, token: EventToken(.listener, slot: 0, generation: 2))
        index.insert(replacement)
        #expect(index[endpoint(2)] === replacement)
        #expect(index.count == listeners.count)
    }

    @Test func deadlinesComeDueInOrderAndMoveWhenScheduledAgain() {
        var deadlines = Deadlines<String>()
        #expect(deadlines.earliest() == nil)
        deadlines.schedule("b", at: 200)
        deadlines.schedule("a", at: 100)
        deadlines.schedule("c", at: 300)
        deadlines.schedule("a", at: 250)  // moved later
        deadlines.scheduleIfUnset("b", at: 50)  // already set: unchanged
        deadlines.cancel("c")
        #expect(deadlines.earliest() == 200)
        #expect(deadlines.popDue(now: 199) == nil)
        #expect(deadlines.popDue(now: 1000) == "b")
        #expect(deadlines.popDue(now: 1000) == "a")
        #expect(deadlines.popDue(now: 1000) == nil, "c was cancelled")
        #expect(deadlines.earliest() == nil)
    }

    /// A per-handler timeout, cancelled at each reap, must not leave the
    /// heap holding every spawn: stale entries are dropped once they
    /// outnumber the live ones twice, and the order is kept.
    @Test func cancelledDeadlinesDoNotPileUp() {
        var deadlines = Deadlines<Int>()
        for pid in 0..<100_000 {
            deadlines.schedule(pid, at: Int64(1_000_000 + pid))
            if pid % 100 != 0 { deadlines.cancel(pid) }  // reaped in time
        }
        #expect(deadlines.heap.count <= 2 * 1_000 + 64, "\(deadlines.heap.count) entries for 1,000 live ones")
        #expect(deadlines.earliest() == 1_000_000)
        var popped: [Int] = []
        while let pid = deadlines.popDue(now: .max) { popped.append(pid) }
        #expect(popped == Array(stride(from: 0, to: 100_000, by: 100)))
    }

    @Test func addressRangesMatchByPrefix() {
        let net = AddressRange(bytes: [10, 1, 0, 0], prefix: 16)
        #expect(net.contains([10, 1, 200, 3]))
        #expect(!net.contains([10, 2, 0, 1]))
        #expect(!net.contains(Array(repeating: 0, count: 16)), "an IPv6 address is never in an IPv4 range")
        let odd = AddressRange(bytes: [192, 0, 2, 0], prefix: 25)
        #expect(odd.contains([192, 0, 2, 127]))
        #expect(!odd.contains([192, 0, 2, 128]))
        #expect(AddressRange(bytes: [0, 0, 0, 0], prefix: 0).contains([203, 0, 113, 9]))
    }

    @Test func chargenPatternFollowsRFC864() {
        #expect(chargenPattern.count == 95 * 74)
        #expect(chargenPattern[0] == 32 && chargenPattern[71] == 32 + 71)
        #expect(chargenPattern[72] == 0x0D && chargenPattern[73] == 0x0A)
        #expect(chargenPattern[74] == 33, "each line starts one character later")
        #expect(chargenPattern.allSatisfy { ($0 >= 32 && $0 <= 126) || $0 == 0x0D || $0 == 0x0A })
    }

    @Test func unixPathsMustFitSunPath() {
        #expect(SocketAddress(unixPath: "/run/x.sock")!.description == "/run/x.sock")
        #expect(SocketAddress(unixPath: String(repeating: "a", count: 200)) == nil)
    }

    @Test func literalsAndWildcardsMakeTheSameAddressesAsTheirBytes() {
        #expect(SocketAddress(literal: "127.77.9.18", port: 20001) == SocketAddress(ipv4: (127, 77, 9, 18), port: 20001))
        #expect(SocketAddress(literal: "::1", port: 7)?.description == "[::1]:7")
        #expect(SocketAddress.anyIPv4(port: 7).isWildcard && SocketAddress.anyIPv6(port: 7).isWildcard)
        #expect(SocketAddress.anyIPv6(port: 7) == SocketAddress(ipv6: [UInt8](repeating: 0, count: 16), port: 7))
        #expect(SocketAddress.isLiteral("10.0.0.1") && SocketAddress.isLiteral("fe80::1"))
        #expect(!SocketAddress.isLiteral("localhost") && !SocketAddress.isLiteral("10.0.0"))
        var hashes = Set<Endpoint>()
        hashes.insert(Endpoint(socketType: .stream, kind: .tcp, address: .anyIPv4(port: 7), ipv6Only: true))
        hashes.insert(Endpoint(socketType: .dgram, kind: .udp, address: .anyIPv4(port: 7), ipv6Only: true))
        #expect(hashes.count == 2, "the socket type and transport are part of an endpoint")
    }

    @Test func wholeFilesAreReadWhetherOrNotTheirSizeIsKnown() throws {
        let path = "/tmp/inetd-read-test-\(getpid())"
        let text = String(repeating: "127.0.0.1:7007 stream tcp nowait root /bin/cat cat\n", count: 2000)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        #expect(fd >= 0)
        _ = text.utf8.withContiguousStorageIfAvailable { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        defer { unlink(path) }
        #expect(try readWholeFile(path) == text)
        // procfs reports size 0: read in chunks until end of file.
        #expect(try readWholeFile("/proc/self/status").hasPrefix("Name:"))
        #expect(throws: FileReadError.self) { try readWholeFile(path + ".missing") }
    }
}
