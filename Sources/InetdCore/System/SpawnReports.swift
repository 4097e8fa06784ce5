import Glibc
import _InetdSystem

/// Where a child that failed after its spawn returned announces it: an
/// eventfd the loop polls, so that inetd reads the failure while the child
/// still holds its descriptors. A signal would not do: the child may have
/// given up the ids that let it signal inetd.
struct SpawnReports: ~Copyable {
    let fd: FileDescriptor

    /// C: `eventfd(2)` with EFD_CLOEXEC | EFD_NONBLOCK, moved with
    /// `fcntl(F_DUPFD_CLOEXEC)` above every descriptor a child is given, so
    /// that no child's dup3 replaces it. Below (a descriptor limit of 64 or
    /// less), children do not use it and their failures are read at reap.
    init() throws(SystemError) {
        let low = try syscall("eventfd") { eventfd(0, CInt(EFD_CLOEXEC) | CInt(EFD_NONBLOCK)) }
        if let high = try? syscall("fcntl", { fcntl(low, F_DUPFD_CLOEXEC, INETD_SPAWN_MAX_FDS) }) {
            FileDescriptor(rawValue: low).close()
            fd = FileDescriptor(rawValue: high)
        } else {
            fd = FileDescriptor(rawValue: low)
        }
        inetd_spawn_set_report_fd(fd.rawValue)
    }

    deinit {
        inetd_spawn_set_report_fd(-1)
        fd.close()
    }

    /// Resets the count, so the descriptor stops being readable.
    func drain() {
        var count: UInt64 = 0
        _ = try? withUnsafeMutableBytes(of: &count) { (raw) throws(SystemError) -> Int in try fd.read(into: raw) }
    }
}
