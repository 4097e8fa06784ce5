import Glibc

extension Daemon {
    /// SIGTERM, SIGINT: stop accepting, close every listener, ask wait
    /// handlers to stop (SIGTERM, then SIGKILL after 10 s) and leave nowait
    /// handlers to finish their connection.
    ///
    /// A wait handler is signalled with its whole process group: it is a
    /// session leader (setsid), so its pid is the group's id, and what it
    /// started in the background holds the listener too (on fd 0). Signalled
    /// alone, such a child kept the port bound after inetd exited. inetd exits
    /// once no process of those groups runs, or at the SIGKILL 10 s later.
    func beginStop(_ signal: Signal) {
        guard !shutdown.stopping else { return }
        shutdown.stopping = true
        readiness.stopping()
        log.info("stopping", ("signal", signal.name))
        // Timers that no longer apply: left due, they would spin the loop.
        // The watchdog still does: a stop can wait 10 s for wait handlers.
        deadlines = Deadlines()
        armWatchdog(now: monotonicMilliseconds())
        for listener in Array(listeners.all) { close(listener) }
        for c in connections.all { finish(c) }
        for (pid, child) in children.waitHandlers {
            shutdown.groups[pid] = child.state.label
            do {
                try signalProcessGroup(SIGTERM, pid)
            } catch {
                try? sendSignal(SIGTERM, to: pid)
            }
        }
        if shutdown.groups.isEmpty {
            shutdown.finished = true
        } else {
            deadlines.schedule(.stopGrace, at: monotonicMilliseconds() + Self.stopGraceMilliseconds)
        }
        reapDuringStop()
    }

    /// Done when no wait handler is left and no process of their groups
    /// runs. Group members are not inetd's children (no SIGCHLD tells of
    /// their end): looked at again every 100 ms.
    func reapDuringStop() {
        reap()
        guard shutdown.stopping, !children.hasWaitHandlers else { return }
        for pgid in shutdown.groups.keys where !processGroupIsAlive(pgid) { shutdown.groups[pgid] = nil }
        if shutdown.groups.isEmpty {
            deadlines.cancel(.stopCheck)
            shutdown.finished = true
        } else {
            deadlines.schedule(.stopCheck, at: monotonicMilliseconds() + 100)
        }
    }

    func killRemaining() {
        for (pgid, label) in shutdown.groups where processGroupIsAlive(pgid) {
            log.warn("kill", ("service", label), ("pgid", "\(pgid)"), ("reason", "no exit 10 s after SIGTERM"))
            try? signalProcessGroup(SIGKILL, pgid)
        }
        shutdown.groups = [:]
        for (pid, _) in children.waitHandlers {
            try? sendSignal(SIGKILL, to: pid)  // had it left its group
            _ = try? ChildProcess.waitFor(pid)
            _ = children.remove(pid)
        }
        shutdown.finished = true
    }
}
