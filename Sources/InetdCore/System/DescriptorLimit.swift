import Glibc
import _InetdSystem

/// The process's descriptor limit (RLIMIT_NOFILE).
struct DescriptorLimit: Equatable {
    var soft: Int
    var hard: Int

    /// The limit now. C equivalent: `getrlimit(RLIMIT_NOFILE)`.
    static func current() throws(SystemError) -> DescriptorLimit {
        var limit = rlimit()
        _ = try syscall("getrlimit") { getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) }
        return DescriptorLimit(soft: Int(clamping: limit.rlim_cur), hard: Int(clamping: limit.rlim_max))
    }

    /// Raises the soft limit to the hard one (an unprivileged process may),
    /// as OpenBSD's inetd does, and returns the limit before and after.
    /// C equivalent: `getrlimit`, then `setrlimit(RLIMIT_NOFILE)` with
    /// `rlim_cur = rlim_max`.
    static func raiseSoftToHard() throws(SystemError) -> (before: DescriptorLimit, after: DescriptorLimit) {
        var limit = rlimit()
        _ = try syscall("getrlimit") { getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) }
        let before = DescriptorLimit(soft: Int(clamping: limit.rlim_cur), hard: Int(clamping: limit.rlim_max))
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = try syscall("setrlimit") { setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) }
        }
        return (before, try current())
    }
}

/// How many descriptors this process has open, counted in /proc/self/fd
/// (the descriptor used to read the directory is not counted). Throws
/// EMFILE when none is left to read it with. C equivalent: `open(2)` with
/// O_DIRECTORY, `fdopendir(3)`, `readdir(3)`, `closedir(3)`.
func openDescriptorCount() throws(SystemError) -> Int {
    let fd = try FileDescriptor.open("/proc/self/fd", O_RDONLY | O_DIRECTORY)
    guard let directory = fdopendir(fd.rawValue) else {
        let code = inetd_errno()
        fd.close()
        throw SystemError(call: "fdopendir", errno: code)
    }
    defer { closedir(directory) }  // closes fd too
    var count = 0
    while let entry = readdir(directory) {
        // "." and ".." apart, every name is a descriptor number.
        if entry.pointee.d_name.0 != 0x2E { count += 1 }
    }
    return count - 1  // the directory's own descriptor
}
