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
        return earlier(earlier(bindRetryAt, stopDeadline), earlier(earliestResume, idleCheckAt))
    }

    func runTimers() {
        guard let due = nextDeadline, monotonicMilliseconds() >= due else { return }
        let now = monotonicMilliseconds()
        if let at = stopDeadline, now >= at { killRemaining() }
        if stopping { return }
        if let at = idleCheckAt, now >= at { closeIdleConnections(now: now) }
        if let at = bindRetryAt, now >= at {
            bindRetryAt = nil
            for listener in byEndpoint.values where listener.fd == nil { bind(listener) }
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
    func beginStop(_ signal: Signal) {
        guard !stopping else { return }
        stopping = true
        readiness.stopping()
        log.info("stopping", ("signal", signal.name))
        for listener in Array(byEndpoint.values) { close(listener) }
        for case let c? in connections { finish(c) }
        let waitHandlers = children.filter { $0.value.state.wait }.map(\.key)
        for pid in waitHandlers { try? sendSignal(SIGTERM, to: pid) }
        if waitHandlers.isEmpty {
            finished = true
        } else {
            stopDeadline = monotonicMilliseconds() + Self.stopGraceMilliseconds
        }
        reapDuringStop()
    }

    func reapDuringStop() {
        reap()
        if stopping, !children.values.contains(where: { $0.state.wait }) { finished = true }
    }

    func killRemaining() {
        for (pid, child) in children where child.state.wait {
            log.warn("kill", ("service", child.state.label), ("pid", "\(pid)"), ("reason", "no exit 10 s after SIGTERM"))
            try? sendSignal(SIGKILL, to: pid)
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
