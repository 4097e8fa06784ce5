import Foundation
import Glibc

/// A unix datagram socket standing in for systemd's NOTIFY_SOCKET: what
/// inetd sends there, one datagram at a time, with when it arrived.
final class NotifyStandIn {
    let path: String
    private let socket: ClientSocket

    init(in directory: TemporaryDirectory, name: String = "notify.sock") throws {
        path = directory.path + "/" + name
        socket = try ClientSocket(family: AF_UNIX, type: CInt(SOCK_DGRAM.rawValue))
        guard socket.bind(unixAddress(path)) == 0 else { throw HarnessError("bind \(path): \(errno)") }
    }

    /// The next datagram within `timeout` seconds, and its arrival on
    /// CLOCK_MONOTONIC (microseconds); nil when none came.
    func next(timeout: Double) -> (text: String, at: Int64)? {
        var pfd = pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, CInt(timeout * 1000)) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(socket.fd, &buffer, buffer.count, CInt(MSG_DONTWAIT))
        guard n >= 0 else { return nil }
        return (String(decoding: buffer.prefix(n), as: UTF8.self), monotonicMicroseconds())
    }

    /// Datagrams until one satisfies `match`, within `timeout` seconds:
    /// that one, and those before it.
    func await(_ what: String, timeout: Double = 10, _ match: (String) -> Bool) throws -> (found: String, before: [String]) {
        let deadline = Date().addingTimeInterval(timeout)
        var before: [String] = []
        while true {
            let left = deadline.timeIntervalSinceNow
            guard left > 0, let datagram = next(timeout: left) else {
                throw HarnessError("no \(what) on NOTIFY_SOCKET within \(timeout) s; got \(before)")
            }
            if match(datagram.text) { return (datagram.text, before) }
            before.append(datagram.text)
        }
    }

    /// Every datagram already queued, dropped.
    func drain() { _ = collect(for: 0) }

    /// The datagrams queued now and those that arrive within `seconds`,
    /// with their arrival times.
    func collect(for seconds: Double) -> [(text: String, at: Int64)] {
        let deadline = Date().addingTimeInterval(seconds)
        var got: [(text: String, at: Int64)] = []
        while let datagram = next(timeout: max(0, deadline.timeIntervalSinceNow)) { got.append(datagram) }
        return got
    }
}

/// `NAME=value` fields of one sd_notify datagram.
func notifyFields(_ datagram: String) -> [String: String] {
    var fields: [String: String] = [:]
    for line in datagram.split(separator: "\n") {
        guard let equals = line.firstIndex(of: "=") else { continue }
        fields[String(line[..<equals])] = String(line[line.index(after: equals)...])
    }
    return fields
}

func monotonicMicroseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
}

/// The state letter of /proc/PID/stat (`R`, `S`, `T` stopped, `Z`), nil
/// when the process is gone.
func processState(_ pid: pid_t) -> Character? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return nil }
    return stat[stat.index(close, offsetBy: 2)...].first
}
