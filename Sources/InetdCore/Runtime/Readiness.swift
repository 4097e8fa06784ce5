import Glibc
import _InetdSystem

/// Tells the supervisor how the daemon stands: a newline on the s6
/// notification fd once, and sd_notify datagrams when NOTIFY_SOCKET is set:
/// READY=1, RELOADING=1 and READY=1 around a reload, STOPPING=1, STATUS=
/// and WATCHDOG=1 (SPEC 1).
///
/// Nothing here may stop or slow the daemon: a notification that cannot be
/// delivered at once is dropped and logged, never waited for.
struct Readiness {
    private var notifyFD: FileDescriptor?
    private let notifySocket: String?
    private let log: Log
    /// Whether the last datagram failed: one warning per run of failures,
    /// and one line when delivery works again.
    private let socketState = NotifySocketState()
    /// How often WATCHDOG=1 goes out; nil when no watchdog is asked of inetd.
    let watchdogMilliseconds: Int64?

    /// Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID; handlers never
    /// get them (`HandlerVariables.isReserved`).
    init(notifyFD: FileDescriptor?, log: Log) {
        self.notifyFD = notifyFD
        self.log = log
        let socket = CurrentProcess.environmentValue("NOTIFY_SOCKET")
        notifySocket = socket
        reportsStatus = !(socket?.isEmpty ?? true)
        let watchdog = Watchdog.decide(usec: CurrentProcess.environmentValue("WATCHDOG_USEC"),
                                       pid: CurrentProcess.environmentValue("WATCHDOG_PID"), ownPID: CurrentProcess.id)
        switch watchdog {
        case .off:
            watchdogMilliseconds = nil
        case .on(let interval, let ping):
            if !reportsStatus {
                log.warn("watchdog_off", ("reason", "WATCHDOG_USEC is set but NOTIFY_SOCKET is not"))
                watchdogMilliseconds = nil
            } else {
                log.info("watchdog", ("interval_us", "\(interval)"), ("ping_ms", "\(ping)"))
                watchdogMilliseconds = ping
            }
        case .otherProcess(let pid):
            log.info("watchdog_off", ("reason", "WATCHDOG_PID=\(pid) is another process"))
            watchdogMilliseconds = nil
        case .invalid(let reason):
            log.warn("watchdog_off", ("reason", reason))
            watchdogMilliseconds = nil
        }
    }

    /// Whether STATUS= has anywhere to go: read each loop turn.
    let reportsStatus: Bool

    /// Every socket that can be bound is bound.
    mutating func ready(status: String) {
        if let fd = notifyFD {
            notifyFD = nil
            writeNewline(fd)
            fd.close()
        }
        send("READY=1\nSTATUS=\(status)")
    }

    /// The s6 newline on the --notify-fd descriptor. The descriptor came from
    /// the user: one not open for writing is reported here, not written to
    /// (the syscall seam treats EBADF as a bug); any other failure (EPIPE,
    /// EAGAIN on a full non-blocking pipe) is a warning too.
    private func writeNewline(_ fd: FileDescriptor) {
        do throws(SystemError) {
            guard try fd.isOpenForWriting() else {
                log.warn("notify_failed", ("fd", "\(fd.rawValue)"), ("error", "not open for writing"))
                return
            }
            // A full pipe must not hold start-up: the write end is inetd's
            // alone from here on (it is closed right after), so O_NONBLOCK on
            // its file description touches no one else's reads.
            try fd.setNonBlocking(true)
            var newline: UInt8 = 0x0A
            try withUnsafeBytes(of: &newline) { (raw) throws(SystemError) in try fd.writeAll(raw) }
        } catch {
            log.warn("notify_failed", ("fd", "\(fd.rawValue)"), ("error", "\(error)"))
        }
    }

    func reloading() { send("RELOADING=1\nMONOTONIC_USEC=\(monotonicMicroseconds())") }
    func reloaded(status: String) { send("READY=1\nSTATUS=\(status)") }
    func stopping() { send("STOPPING=1") }
    func status(_ text: String) { send("STATUS=\(text)") }
    /// Sent from the loop only, never from a timer of its own: a loop that
    /// is stuck stops pinging, which is what the watchdog is for.
    func watchdog() { send("WATCHDOG=1") }

    /// One datagram to $NOTIFY_SOCKET (a path, or `@name` for the abstract
    /// namespace), as sd_notify(3) sends it, but with MSG_DONTWAIT: a
    /// listener that does not read fills its queue (max_dgram_qlen, 10 by
    /// default) and a blocking sendto would then hang the daemon.
    private func send(_ message: String) {
        guard let path = notifySocket, !path.isEmpty else { return }
        var name = Array(path.utf8)
        if name.first == UInt8(ascii: "@") { name[0] = 0 }
        guard name.count < Socket.unixNameCapacity else {
            failed(path, "path too long")
            return
        }
        do {
            let fd = try Socket.open(domain: AF_UNIX, type: CInt(SOCK_DGRAM.rawValue))
            defer { fd.close() }
            let payload = Array(message.utf8)
            // A closure with a value: one of Void with throws(SystemError)
            // crashes Swift 6.3.1's IRGen when Array's rethrows calls it.
            _ = try payload.withUnsafeBytes { (raw) throws(SystemError) -> Int in
                try Socket.sendDatagram(fd, raw, toUnixName: name)
            }
        } catch {
            failed(path, "\(error)")
            return
        }
        if socketState.failing {
            socketState.failing = false
            log.info("notify_recovered", ("socket", path))
        }
    }

    /// Logs the first failure of a run; later ones until a success are
    /// dropped silently, so a stuck supervisor cannot flood the log.
    private func failed(_ path: String, _ error: String) {
        guard !socketState.failing else { return }
        socketState.failing = true
        log.warn("notify_failed", ("socket", path), ("error", error),
                 ("action", "notifications dropped until one gets through"))
    }
}

/// Readiness's mutable part, shared by its non-mutating senders.
private final class NotifySocketState {
    var failing = false
}
