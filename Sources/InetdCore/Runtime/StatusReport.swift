/// STATUS=: the one line `systemctl status` shows (SPEC 1), made of three
/// counts that SIGUSR1's dump gives in full.
struct StatusLine: Equatable {
    var services: Int
    /// Sockets of the running configuration without a bound socket (a bind
    /// that failed and is retried every 60 s).
    var notBound: Int
    var handlers: Int

    /// "9 services, 1 not bound, 3 handlers".
    var text: String {
        "\(services) service\(services == 1 ? "" : "s"), \(notBound) not bound, "
            + "\(handlers) handler\(handlers == 1 ? "" : "s")"
    }
}

/// When STATUS= goes out: with each READY=1 (start, reload), then after a
/// change, at most once a second, so that a busy service does not send one
/// datagram per connection. What was sent last, and when.
struct StatusReport {
    static let spacingMilliseconds: Int64 = 1_000
    private(set) var sent: StatusLine?
    private var sentAt: Int64 = .min / 2

    /// When a change seen `now` may be sent: at once, or a second after
    /// the last one.
    func earliest(now: Int64) -> Int64 { max(now, sentAt + Self.spacingMilliseconds) }

    /// Whether `line` differs from what the supervisor last got.
    func isNews(_ line: StatusLine) -> Bool { line != sent }

    mutating func record(_ line: StatusLine, at now: Int64) {
        sent = line
        sentAt = now
    }
}

extension Daemon {
    var statusLine: StatusLine {
        StatusLine(services: services.count, notBound: listeners.count - listeners.boundCount, handlers: children.count)
    }

    /// The line sent with READY=1 now, recorded as sent.
    func statusForReady() -> String {
        let line = statusLine
        status.record(line, at: monotonicMilliseconds())
        return line.text
    }

    /// Each turn: a handler started or ended since the last STATUS=. Two
    /// integers compared; counting the unbound sockets waits for the timer.
    func noteHandlerCount() {
        guard readiness.reportsStatus, let sent = status.sent, sent.handlers != children.count else { return }
        statusMayHaveChanged()
    }

    /// A bind retry or a rebind may have changed what is bound.
    func statusMayHaveChanged() {
        guard readiness.reportsStatus, deadlines.due(.status) == nil else { return }
        deadlines.schedule(.status, at: status.earliest(now: monotonicMilliseconds()))
    }

    /// The `.status` timer: the line, unless nothing changed after all (a
    /// handler started and ended within the second).
    func sendStatus(now: Int64) {
        let line = statusLine
        guard status.isNews(line) else { return }
        readiness.status(line.text)
        status.record(line, at: now)
    }
}
