import Glibc

extension Daemon {
    /// epoll_wait's timeout: until the earliest bind retry, back-off end or
    /// stop deadline; -1 when nothing is due.
    /// Kept without scanning the listeners, so that a wake-up costs the same
    /// with one service or a thousand.
    func millisecondsToNextTimer() -> CInt {
        guard let next = nextDeadline else { return -1 }
        return CInt(clamping: max(0, next - monotonicMilliseconds()))
    }

    /// The earliest timer, without building a collection on every turn.
    var nextDeadline: Int64? {
        func earlier(_ a: Int64?, _ b: Int64?) -> Int64? {
            guard let a else { return b }
            guard let b else { return a }
            return min(a, b)
        }
        return earlier(earlier(earlier(bindRetryAt, stopDeadline), earlier(earliestResume, idleCheckAt)), stopCheckAt)
    }

    func runTimers() {
        guard let due = nextDeadline, monotonicMilliseconds() >= due else { return }
        let now = monotonicMilliseconds()
        if let at = stopDeadline, now >= at { killRemaining() }
        if let at = stopCheckAt, now >= at {
            stopCheckAt = nil
            reapDuringStop()
        }
        if stopping { return }
        if let at = idleCheckAt, now >= at { closeIdleConnections(now: now) }
        if let at = bindRetryAt, now >= at {
            bindRetryAt = nil
            bindRoom = descriptorsForBinding()
            // In file order, so that the same lines win as at start.
            for endpoint in endpointOrder {
                if let listener = byEndpoint[endpoint], listener.fd == nil { bind(listener) }
            }
        }
        if let at = earliestResume, now >= at {
            earliestResume = nil
            for listener in byEndpoint.values {
                guard let resume = listener.resumeAt else { continue }
                if now >= resume {
                    listener.resumeAt = nil
                    poll(listener)
                } else {
                    earliestResume = min(earliestResume ?? resume, resume)
                }
            }
        }
    }

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
        guard !stopping else { return }
        stopping = true
        readiness.stopping()
        log.info("stopping", ("signal", signal.name))
        // Timers that no longer apply: left due, they would spin the loop.
        bindRetryAt = nil
        earliestResume = nil
        idleCheckAt = nil
        for listener in Array(byEndpoint.values) { close(listener) }
        for case let c? in connections { finish(c) }
        for (pid, child) in children where child.wait {
            stopGroups[pid] = child.state.label
            do {
                try signalProcessGroup(SIGTERM, pid)
            } catch {
                try? sendSignal(SIGTERM, to: pid)
            }
        }
        if stopGroups.isEmpty {
            finished = true
        } else {
            stopDeadline = monotonicMilliseconds() + Self.stopGraceMilliseconds
        }
        reapDuringStop()
    }

    /// Done when no wait handler is left and no process of their groups
    /// runs. Group members are not inetd's children (no SIGCHLD tells of
    /// their end): looked at again every 100 ms.
    func reapDuringStop() {
        reap()
        guard stopping, !children.values.contains(where: { $0.wait }) else { return }
        for pgid in stopGroups.keys where !processGroupIsAlive(pgid) { stopGroups[pgid] = nil }
        if stopGroups.isEmpty {
            stopCheckAt = nil
            finished = true
        } else {
            stopCheckAt = monotonicMilliseconds() + 100
        }
    }

    func killRemaining() {
        for (pgid, label) in stopGroups where processGroupIsAlive(pgid) {
            log.warn("kill", ("service", label), ("pgid", "\(pgid)"), ("reason", "no exit 10 s after SIGTERM"))
            try? signalProcessGroup(SIGKILL, pgid)
        }
        stopGroups = [:]
        for (pid, child) in children where child.wait {
            try? sendSignal(SIGKILL, to: pid)  // had it left its group
            var status: CInt = 0
            _ = try? syscall("waitpid") { waitpid(pid, &status, 0) }
            children[pid] = nil
        }
        finished = true
    }

    /// SIGUSR1: one line per socket with its state and its service's counters.
    func dumpState() {
        for endpoint in endpointOrder {
            guard let listener = byEndpoint[endpoint] else { continue }
            let state = listener.state
            let condition: String
            if listener.fd == nil { condition = "unbound" }
            else if listener.holder != nil { condition = "handed-over" }
            else if listener.resumeAt != nil { condition = "backoff" }
            else { condition = "listening" }
            log.info("state", ("service", state.label), ("address", endpoint.description), ("state", condition),
                     ("active", "\(state.active)"), ("accepted", "\(state.accepted)"), ("spawned", "\(state.spawned)"),
                     ("exec_failures", "\(state.execFailures)"))
        }
        log.info("state", ("children", "\(children.count)"), ("services", "\(services.count)"))
    }
}
