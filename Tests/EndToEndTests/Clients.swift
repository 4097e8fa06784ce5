import Foundation
import Glibc

/// A port free on 127.0.0.1 and ::1 for both TCP and UDP when asked.
func freePort() throws -> UInt16 {
    for _ in 0..<50 {
        // Close-on-exec: an inetd another test starts meanwhile must not
        // inherit the probe socket and hold the port.
        let fd = socket(AF_INET, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let port = UInt16(bigEndian: addr.sin_port)
        if portIsFree(port) { return port }
    }
    throw HarnessError("no free port")
}

private func portIsFree(_ port: UInt16) -> Bool {
    for (family, type, host) in [(AF_INET, SOCK_DGRAM, "127.0.0.1"), (AF_INET6, SOCK_STREAM, "::1"), (AF_INET6, SOCK_DGRAM, "::1")] {
        guard let address = makeAddress(host, port) else { return false }
        let fd = socket(family, CInt(type.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        defer { close(fd) }
        let ok = address.withUnsafeBytes { raw in
            bind(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count)) == 0
        }
        if !ok { return false }
    }
    return true
}

/// sockaddr bytes for an IPv4 or IPv6 literal.
func makeAddress(_ host: String, _ port: UInt16) -> [UInt8]? {
    var sin = sockaddr_in()
    if inet_pton(AF_INET, host, &sin.sin_addr) == 1 {
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        return withUnsafeBytes(of: &sin) { Array($0) }
    }
    var sin6 = sockaddr_in6()
    if inet_pton(AF_INET6, host, &sin6.sin6_addr) == 1 {
        sin6.sin6_family = sa_family_t(AF_INET6)
        sin6.sin6_port = port.bigEndian
        return withUnsafeBytes(of: &sin6) { Array($0) }
    }
    return nil
}

func unixAddress(_ path: String) -> [UInt8] {
    var sun = sockaddr_un()
    sun.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &sun.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
    return withUnsafeBytes(of: &sun) { Array($0.prefix(MemoryLayout<sa_family_t>.size + path.utf8.count + 1)) }
}

/// A client socket with send and receive time-outs, so no test hangs.
final class ClientSocket {
    private(set) var fd: CInt

    init(family: CInt, type: CInt, timeout: Int = 10) throws {
        fd = socket(family, type | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: \(errno)") }
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }
    deinit { close() }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// A TCP client connected to host:port.
    static func tcp(_ host: String, _ port: UInt16) throws -> ClientSocket {
        let client = try ClientSocket(family: host.contains(":") ? AF_INET6 : AF_INET, type: CInt(SOCK_STREAM.rawValue))
        try client.connect(makeAddress(host, port)!)
        return client
    }

    /// bind(2) to raw sockaddr bytes; the return value of the call.
    @discardableResult
    func bind(_ address: [UInt8]) -> CInt {
        address.withUnsafeBytes { Glibc.bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count)) }
    }

    func connect(_ address: [UInt8]) throws {
        let rc = address.withUnsafeBytes { raw in
            Glibc.connect(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
        guard rc == 0 else { throw HarnessError("connect: \(String(cString: strerror(errno)))") }
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard Glibc.send(fd, bytes, bytes.count, CInt(MSG_NOSIGNAL)) == bytes.count else { throw HarnessError("send: \(errno)") }
    }

    func shutdownWrite() { shutdown(fd, CInt(SHUT_WR)) }

    /// Reads until EOF (stream) or one datagram.
    func receiveAll(datagram: Bool = false) throws -> String {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n < 0 { throw HarnessError("recv: \(String(cString: strerror(errno))) after \(data.count) bytes") }
            if n == 0 { break }
            data += buffer.prefix(n)
            if datagram { break }
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Connects over TCP, optionally sends, and reads until the server closes.
func tcpExchange(_ host: String, _ port: UInt16, send text: String? = nil) throws -> String {
    let family = host.contains(":") ? AF_INET6 : AF_INET
    let client = try ClientSocket(family: family, type: CInt(SOCK_STREAM.rawValue))
    try client.connect(makeAddress(host, port)!)
    if let text { try client.send(text) }
    return try client.receiveAll()
}

/// Sends one datagram and returns the first reply.
func udpExchange(_ host: String, _ port: UInt16, send text: String) throws -> String {
    let family = host.contains(":") ? AF_INET6 : AF_INET
    let client = try ClientSocket(family: family, type: CInt(SOCK_DGRAM.rawValue))
    try client.connect(makeAddress(host, port)!)
    try client.send(text)
    return try client.receiveAll(datagram: true)
}

func unixExchange(_ path: String, type: CInt = CInt(SOCK_STREAM.rawValue)) throws -> String {
    let client = try ClientSocket(family: AF_UNIX, type: type)
    try client.connect(unixAddress(path))
    return try client.receiveAll()
}

/// A probe handler's report: its `key=value` lines, `env=` lines apart.
struct ProbeReport {
    var fields: [String: String] = [:]
    var environment: [String: String] = [:]

    init(_ text: String) throws {
        guard text.contains("\nend\n") else { throw HarnessError("incomplete probe report: \(text)") }
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<eq])
            let value = String(line[line.index(after: eq)...])
            if key == "env", let inner = value.firstIndex(of: "=") {
                environment[String(value[..<inner])] = String(value[value.index(after: inner)...])
            } else {
                fields[key] = value
            }
        }
    }

    subscript(_ key: String) -> String? { fields[key] }
    var pid: Int { Int(fields["pid"] ?? "") ?? -1 }
}
