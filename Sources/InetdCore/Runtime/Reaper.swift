import Glibc

extension Daemon {
    /// A handler holding the socket (wait, nowait dgram) that exits this soon
    /// after starting counts towards a crash loop.
    static let quickExitMilliseconds: Int64 = 1_000
    /// Quick exits in a row before starts are delayed.
    static let quickExitsBeforeBackoff = 3
    /// A handler that lived this long resets the back-off.
    static let healthyMilliseconds: Int64 = 10_000
    static let maxBackoffMilliseconds: Int64 = 60_000

    /// Reaps every exited child, ours or adopted (inetd may be PID 1), until
    /// none is left. C equivalent: `waitpid(-1, WNOHANG)` in a loop.
    func reap() {
        while true {
            var status: CInt = 0
            let pid: pid_t
            do {
                pid = try syscall("waitpid") { waitpid(-1, &status, WNOHANG) }
            } catch {
                if error.errno != ECHILD { log.error("reap_failed", ("error", "\(error)")) }
                return
            }
            if pid == 0 { return }
            guard let child = children.removeValue(forKey: pid) else {
                // Not ours: an orphan adopted while inetd is PID 1.
                if log.verbose { log.debug("reaped", ("pid", "\(pid)"), ("status", Self.describe(status))) }
                continue
            }
            finished(child, pid: pid, status: status)
        }
    }

    func finished(_ child: Child, pid: pid_t, status: CInt) {
        let state = child.state
        state.active -= 1
        let lived = monotonicMilliseconds() - child.started
        let normal = Self.exitedNormally(status)
        if log.verbose || !normal {
            log.write(normal ? .debug : .warn, "exit", [("service", state.label), ("pid", "\(pid)"),
                                                        ("status", Self.describe(status)), ("duration_ms", "\(lived)")])
        }

        guard let listener = child.listener, listener.holder == pid else { return }
        listener.holder = nil
        guard byEndpoint[listener.endpoint] === listener, listener.fd != nil else { return }
        // Any handler given the socket can exit without touching its input,
        // and would be started again at once for the same input.
        if listener.handsOverSocket {
            if lived < Self.quickExitMilliseconds {
                listener.quickExits += 1
                if listener.quickExits >= Self.quickExitsBeforeBackoff {
                    backOff(listener, reason: "handler exited after \(lived) ms, \(listener.quickExits) times in a row")
                }
            } else {
                listener.quickExits = 0
                if lived >= Self.healthyMilliseconds { listener.backoffMilliseconds = 0 }
            }
        }
        do {
            try listener.fd?.setNonBlocking(true)
        } catch {
            log.error("takeback_failed", ("service", state.label), ("error", "\(error)"))
        }
        poll(listener)
    }

    /// Takes a socket out of the loop for a while: 1 s, doubling to 60 s.
    func backOff(_ listener: Listener, reason: String) {
        let next = listener.backoffMilliseconds == 0 ? 1_000 : listener.backoffMilliseconds * 2
        listener.backoffMilliseconds = min(next, Self.maxBackoffMilliseconds)
        let resume = monotonicMilliseconds() + listener.backoffMilliseconds
        listener.resumeAt = resume
        earliestResume = min(earliestResume ?? resume, resume)
        unpoll(listener)
        log.warn("backoff", ("service", listener.state.label), ("delay_ms", "\(listener.backoffMilliseconds)"),
                 ("reason", reason))
    }

    static func exitedNormally(_ status: CInt) -> Bool {
        (status & 0x7F) == 0 && ((status >> 8) & 0xFF) == 0
    }

    /// `exit 0`, `exit 3`, `signal SIGSEGV`.
    static func describe(_ status: CInt) -> String {
        if status & 0x7F == 0 { return "exit \((status >> 8) & 0xFF)" }
        let signal = status & 0x7F
        if let name = strsignal(signal) { return "signal \(signal) (\(String(cString: name)))" }
        return "signal \(signal)"
    }
}
