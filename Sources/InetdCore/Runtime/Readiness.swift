import Glibc
import _InetdSystem

/// Tells the supervisor how the daemon stands: a newline on the s6
/// notification fd once, and sd_notify datagrams when NOTIFY_SOCKET is set.
struct Readiness {
    private var notifyFD: FileDescriptor?
    private let notifySocket: String?
    private let log: Log

    init(notifyFD: FileDescriptor?, log: Log) {
        self.notifyFD = notifyFD
        self.log = log
        if let value = getenv("NOTIFY_SOCKET") {
            notifySocket = String(cString: value)
        } else {
            notifySocket = nil
        }
    }

    /// Every socket that can be bound is bound.
    mutating func ready() {
        if let fd = notifyFD {
            var newline: UInt8 = 0x0A
            do {
                try withUnsafeBytes(of: &newline) { (raw) throws(SystemError) in try fd.writeAll(raw) }
            } catch {
                log.warn("notify_failed", ("error", "\(error)"))
            }
            fd.close()
            notifyFD = nil
        }
        send("READY=1")
    }

    func reloading() { send("RELOADING=1\nMONOTONIC_USEC=\(monotonicMicroseconds())") }
    func reloaded() { send("READY=1") }
    func stopping() { send("STOPPING=1") }

    /// One datagram to $NOTIFY_SOCKET (a path, or `@name` for the abstract
    /// namespace), as sd_notify(3) sends it.
    private func send(_ message: String) {
        guard let path = notifySocket, !path.isEmpty else { return }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes[0] == 0 ? 0 : 1))
        do {
            let fd = try Socket.open(domain: AF_UNIX, type: CInt(SOCK_DGRAM.rawValue))
            defer { fd.close() }
            let payload = Array(message.utf8)
            _ = try withUnsafePointer(to: &address) { (p) throws(SystemError) -> Int in
                try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { (sa) throws(SystemError) -> Int in
                    try syscall("sendto") { sendto(fd.rawValue, payload, payload.count, CInt(MSG_NOSIGNAL), sa, length) }
                }
            }
        } catch {
            log.warn("notify_failed", ("socket", path), ("error", "\(error)"))
        }
    }
}
