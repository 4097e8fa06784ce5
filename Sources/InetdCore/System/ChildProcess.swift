import Glibc

/// Waiting for child processes, each call through the seam. A status is
/// the raw wait status (exit code or signal, as `waitpid(2)` packs them).
enum ChildProcess {
    /// One child that has exited, reaped: its pid and wait status; nil when
    /// children remain but none has exited. Throws ECHILD when there is no
    /// child at all. C equivalent: `waitpid(-1, &status, WNOHANG)`.
    static func reapAny() throws(SystemError) -> (pid: pid_t, status: CInt)? {
        var status: CInt = 0
        let pid = try syscall("waitpid") { waitpid(-1, &status, WNOHANG) }
        return pid == 0 ? nil : (pid, status)
    }

    /// Whether `pid` is this process's child, running or exited and not
    /// yet reaped; nothing is reaped. C equivalent: `waitid(P_PID, pid,
    /// WEXITED | WSTOPPED | WCONTINUED | WNOHANG | WNOWAIT)`, which fails
    /// with ECHILD for a process that is not.
    static func isChild(_ pid: pid_t) -> Bool {
        var info = siginfo_t()
        let flags = WEXITED | WSTOPPED | WCONTINUED | WNOHANG | WNOWAIT
        return (try? syscall("waitid") { waitid(P_PID, id_t(pid), &info, flags) }) != nil
    }

    /// Waits until the child `pid` exits, reaps it and returns its wait
    /// status. C equivalent: `waitpid(pid, &status, 0)`.
    @discardableResult
    static func waitFor(_ pid: pid_t) throws(SystemError) -> CInt {
        var status: CInt = 0
        _ = try syscall("waitpid") { waitpid(pid, &status, 0) }
        return status
    }
}
