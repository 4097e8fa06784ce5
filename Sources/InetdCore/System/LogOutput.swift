import Glibc
import _InetdSystem

/// Where log lines go: standard error, written without ever blocking.
///
/// O_NONBLOCK lives on the open file description, and handlers share inetd's
/// as their own fd 2: setting it there would make their stderr non-blocking
/// too. So each write is non-blocking by other means, chosen once at start:
///
/// - a socket (journald's stream socket, a socketpair): `send(2)` with
///   MSG_DONTWAIT, non-blocking for that call alone;
/// - a pipe, FIFO, terminal or other character device: `/proc/self/fd/2`
///   opened again with O_NONBLOCK, a new open file description of the same
///   pipe or device, which handlers never see (close-on-exec);
/// - a regular file or block device: fd 2 itself (O_NONBLOCK means nothing
///   there, and sharing the file offset with handlers keeps their lines and
///   inetd's from overwriting each other);
/// - when the reopen fails (no /proc): `poll(2)` for POLLOUT with a zero
///   timeout before each write, which cannot tell how much room there is
///   (best effort; a line of up to PIPE_BUF fits a pipe that polls writable
///   unless a handler fills it in between).
struct LogOutput {
    enum Mode: Equatable {
        case socket
        case reopened(FileDescriptor)
        case direct
        case polled
    }

    let mode: Mode

    /// Looks at fd 2 and picks the mode. C: `fstat(2)`, `open(2)`.
    static func standardError() -> LogOutput {
        var info = stat()
        guard (try? syscall("fstat") { fstat(2, &info) }) != nil else { return LogOutput(mode: .polled) }
        switch info.st_mode & S_IFMT {
        case S_IFSOCK:
            return LogOutput(mode: .socket)
        case S_IFREG, S_IFBLK:
            return LogOutput(mode: .direct)
        default:
            // O_NOCTTY: reopening a terminal must not make it inetd's
            // controlling terminal.
            let flags = O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY
            if let fd = try? syscall("open", { Glibc.open("/proc/self/fd/2", flags) }) {
                return LogOutput(mode: .reopened(FileDescriptor(rawValue: fd)))
            }
            return LogOutput(mode: .polled)
        }
    }

    /// Writes what it can of `bytes` without blocking: the count written,
    /// possibly short; 0 when the reader is not keeping up (EAGAIN, or no
    /// room in polled mode). Other failures (EPIPE: no reader left) are
    /// thrown. C: `send(2)`, `write(2)`, `poll(2)`.
    func write(_ bytes: UnsafeRawBufferPointer) throws(SystemError) -> Int {
        do {
            switch mode {
            case .socket:
                return try syscall("send") {
                    Glibc.send(2, bytes.baseAddress, bytes.count, CInt(MSG_DONTWAIT) | CInt(MSG_NOSIGNAL))
                }
            case .reopened(let fd):
                return try syscall("write") { Glibc.write(fd.rawValue, bytes.baseAddress, bytes.count) }
            case .direct:
                return try syscall("write") { Glibc.write(2, bytes.baseAddress, bytes.count) }
            case .polled:
                var pfd = pollfd(fd: 2, events: Int16(POLLOUT), revents: 0)
                let ready = try syscall("poll") { Glibc.poll(&pfd, 1, 0) }
                guard ready == 1, pfd.revents & Int16(POLLOUT) != 0 else { return 0 }
                // One pipe buffer at most: more could block once the room
                // poll saw is used up.
                let count = min(bytes.count, Int(PIPE_BUF))
                return try syscall("write") { Glibc.write(2, bytes.baseAddress, count) }
            }
        } catch {
            if error.errno == EAGAIN || error.errno == EWOULDBLOCK { return 0 }
            throw error
        }
    }
}
