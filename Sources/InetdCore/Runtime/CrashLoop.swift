import Glibc

/// What waited on a handed-over socket when its handler started: enough to
/// tell, when the handler exits 0 at once, whether it consumed any of it.
enum PendingInput {
    /// A TCP listener: its accept queue's length.
    case acceptQueue(Int)
    /// A datagram socket: the head datagram's length and source.
    case datagram(length: Int, source: PeerBuffer)
    /// A unix stream or seqpacket listener: the kernel gives no queue length.
    case connections
    case unknown
}

/// The crash-loop rule (SPEC section 5, docs/DESIGN.md "Crash loops"), for
/// handlers that hold a socket: wait services and nowait dgram.
extension Daemon {
    /// A failure this soon after the start counts towards a crash loop.
    static let quickExitMilliseconds: Int64 = 1_000
    /// Quick failures in a row before starts are delayed.
    static let quickFailuresBeforeBackoff = 3
    /// A handler that lived this long resets the back-off delay.
    static let healthyMilliseconds: Int64 = 10_000
    static let maxBackoffMilliseconds: Int64 = 60_000

    /// Notes what waits on `listener`'s socket, just before a handler gets it.
    func notePendingInput(_ listener: Listener) {
        guard let fd = listener.fd else { return }
        listener.arrivals = 0
        switch (listener.endpoint.kind, listener.endpoint.socketType) {
        case (_, .dgram):
            var source = PeerBuffer()
            if let length = try? Socket.peekDatagram(fd, source: &source) {
                listener.pendingAtStart = .datagram(length: length, source: source)
            } else {
                listener.pendingAtStart = .unknown
            }
        case (.tcp, _):
            listener.pendingAtStart = (try? Socket.acceptQueueLength(fd)).map { .acceptQueue($0) } ?? .unknown
        case (_, _):
            listener.pendingAtStart = .connections
        }
    }

    /// A listener's queue length alone cannot tell a worker that took 5
    /// connections while 5 more arrived from one that took none. So during
    /// its handler's first second, each arrival wakes the loop once
    /// (edge-triggered) and is counted. Datagram sockets need no count: the
    /// head datagram tells.
    func countArrivals(_ listener: Listener) {
        guard listener.endpoint.socketType != .dgram, let fd = listener.fd else { return }
        do {
            try epoll.watchArrivals(fd, token: listener.token)
            listener.countingArrivals = true
            // Registering a socket with input waiting reports it at once:
            // that first event is no arrival. (The loop woke for this input.)
            if case .acceptQueue(0) = listener.pendingAtStart {} else { listener.arrivals = -1 }
        } catch {
            log.error("poll_failed", ("service", listener.state.label), ("error", "\(error)"))
        }
    }

    /// An edge-triggered event on a handed-over listener: one arrival (or
    /// several, merged); counting ends once the handler is past its first
    /// second.
    func arrived(_ listener: Listener) {
        listener.arrivals += 1
        if monotonicMilliseconds() - listener.handedOverAt >= Self.quickExitMilliseconds { unpoll(listener) }
    }

    /// True when a handler that exited 0 left its input as it found it:
    /// started again, it would find the same input and exit again, forever.
    func madeNoProgress(_ listener: Listener) -> Bool {
        guard let fd = listener.fd else { return false }
        switch listener.pendingAtStart {
        case .acceptQueue(let before):
            guard let now = try? Socket.acceptQueueLength(fd) else { return false }
            return now > 0 && now >= before + listener.arrivals
        case .datagram(let length, let source):
            var head = PeerBuffer()
            guard let now = try? Socket.peekDatagram(fd, source: &head) else { return false }
            return now == length && head.sameAddress(as: source)
        case .connections:
            return listener.arrivals <= 0 && ((try? Socket.isReadable(fd)) ?? false)
        case .unknown:
            return false
        }
    }

    /// Counts a quick failure, or clears the count, when the handler holding
    /// `listener` exits; the third quick failure in a row starts a back-off.
    func account(exitOf listener: Listener, status: CInt, lived: Int64) {
        let quick = lived < Self.quickExitMilliseconds
        let succeeded = Self.exitedNormally(status)
        let stalled = succeeded && quick && madeNoProgress(listener)
        if quick && (!succeeded || stalled) {
            listener.quickFailures += 1
            if listener.quickFailures >= Self.quickFailuresBeforeBackoff {
                let what = stalled ? "exited 0 without consuming its input" : Self.describe(status)
                backOff(listener, reason: "handler \(what) after \(lived) ms, \(listener.quickFailures) times in a row")
            }
        } else {
            listener.quickFailures = 0
        }
        if lived >= Self.healthyMilliseconds { listener.backoffMilliseconds = 0 }
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
}
