import Glibc

extension Daemon {
    /// Reaps every exited child, ours or adopted (inetd may be PID 1), until
    /// none is left. C equivalent: `waitpid(-1, WNOHANG)` in a loop.
    func reap() {
        collectLateSpawnFailures()
        while true {
            let pid: pid_t, status: CInt
            do {
                guard let reaped = try ChildProcess.reapAny() else { return }
                (pid, status) = reaped
            } catch {
                if error.errno != ECHILD { log.error("reap_failed", ("error", "\(error)")) }
                return
            }
            cancelTimeout(pid)
            if upgradeCheckExited(pid, status: status) { continue }
            guard let child = children.remove(pid) else {
                // Not ours: an orphan adopted while inetd is PID 1.
                if log.verbose { log.debug("reaped", ("pid", "\(pid)"), ("status", "\(ExitStatus(status))")) }
                continue
            }
            releaseSource(child.source)
            finished(child, pid: pid, status: status)
        }
    }

    /// A nowait handler is gone: a service held at its cap accepts again.
    func handlerExited(_ state: ServiceState) {
        listeners.forEachListener(of: state) { if !$0.polled { reconcile($0) } }
    }

    func finished(_ child: Child, pid: pid_t, status raw: CInt) {
        let state = child.state
        stderrAfterExit(of: pid, state)
        let lived = monotonicMilliseconds() - child.started
        let status = ExitStatus(raw)
        // At stop, a handler ended by the SIGTERM or SIGKILL inetd sent it
        // did what it was asked: not a warning.
        let stopped = shutdown.stopping && (status.signal == SIGTERM || status.signal == SIGKILL)
        let normal = status.isSuccess || stopped
        // Without -d, abnormal exits are a client's to cause: one line per
        // episode. With -d, every exit has its line (SPEC section 1).
        if log.verbose || (!normal && log.admit(.warn, "exit", service: state.label)) {
            log.write(normal ? .debug : .warn, "exit", [("service", state.label), ("pid", "\(pid)"),
                                                        ("status", "\(status)"), ("duration_ms", "\(lived)")])
        }
        if child.sockets.isEmpty { handlerExited(state) } else { takeBack(child, pid: pid, status: status, lived: lived) }
    }
}
