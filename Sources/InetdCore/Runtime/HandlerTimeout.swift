import Glibc

/// `timeout=SECONDS` on a nowait line (SPEC 2): a handler still running then
/// gets SIGTERM with its whole process group (it is a session leader, so its
/// pid is the group's id, and what it started in the background is in it),
/// and the group gets SIGKILL 5 s later. Each is an entry in `Deadlines`,
/// set at the spawn and cancelled at the reap.
extension Daemon {
    static let timeoutGraceMilliseconds: Int64 = 5_000

    /// At a spawn: the handler's time runs out `timeout=` seconds from now.
    func startTimeout(_ pid: pid_t, _ state: ServiceState, now: Int64) {
        guard let seconds = state.handlerTimeoutSeconds else { return }
        deadlines.schedule(.handlerTimeout(pid), at: now + Int64(seconds) * 1000)
    }

    /// At the reap: a handler that ended in time needs no signal.
    func cancelTimeout(_ pid: pid_t) {
        deadlines.cancel(.handlerTimeout(pid))
    }

    /// The handler's time is out: SIGTERM to its group, SIGKILL 5 s later.
    /// Logged once per episode per service: a client can cause it at will.
    func handlerTimedOut(_ pid: pid_t) {
        guard let child = children.child(pid) else { return }  // reaped since
        try? signalProcessGroup(SIGTERM, pid)
        deadlines.schedule(.handlerKill(pid), at: monotonicMilliseconds() + Self.timeoutGraceMilliseconds)
        let label = child.state.label
        if log.admit(.warn, "timeout", service: label) {
            log.warn("timeout", ("service", label), ("pid", "\(pid)"),
                     ("seconds", "\(child.state.handlerTimeoutSeconds ?? 0)"), ("action", "SIGTERM, SIGKILL in 5 s"))
        }
    }

    /// 5 s after the SIGTERM: SIGKILL to whatever of the group still runs,
    /// the handler itself or what it left behind. The group's id cannot
    /// have been reused while any process of the group lives.
    func handlerKilled(_ pgid: pid_t) {
        guard children.child(pgid) != nil || processGroupIsAlive(pgid) else { return }
        try? signalProcessGroup(SIGKILL, pgid)
    }
}
