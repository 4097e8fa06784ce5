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
/// handlers that hold sockets: wait services and nowait dgram. The count and
/// the back-off are the service's; what waited is each socket's.
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
            try epoll.add(fd, token: listener.token.rawValue, events: [.readable, .edgeTriggered])
            listener.countingArrivals = true
            // Registering a socket with input waiting reports it at once:
            // that first event is no arrival.
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

    /// True when a handler that exited 0 left the input of `listener` as it
    /// found it: started again, it would find the same input and exit again,
    /// forever.
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

    /// Counts a quick failure, or clears the count, when a handler holding
    /// `sockets` exits; the third quick failure in a row starts a back-off.
    /// A handler that exited 0 made progress if it took input from any of
    /// its sockets.
    func account(exitOf sockets: [Listener], state: ServiceState, status: CInt, lived: Int64) {
        let quick = lived < Self.quickExitMilliseconds
        let succeeded = Self.exitedNormally(status)
        let stalled = succeeded && quick && sockets.allSatisfy { madeNoProgress($0) }
        if quick && (!succeeded || stalled) {
            state.quickFailures += 1
            if state.quickFailures >= Self.quickFailuresBeforeBackoff {
                let what = stalled ? "exited 0 without consuming its input" : Self.describe(status)
                backOff(state, reason: "handler \(what) after \(lived) ms, \(state.quickFailures) times in a row")
            }
        } else {
            state.quickFailures = 0
        }
        if lived >= Self.healthyMilliseconds { state.backoffMilliseconds = 0 }
    }

    /// Takes every socket of a service out of the loop for a while: 1 s,
    /// doubling to 60 s.
    func backOff(_ state: ServiceState, reason: String) {
        let next = state.backoffMilliseconds == 0 ? 1_000 : state.backoffMilliseconds * 2
        state.backoffMilliseconds = min(next, Self.maxBackoffMilliseconds)
        let resume = monotonicMilliseconds() + state.backoffMilliseconds
        state.resumeAt = resume
        deadlines.schedule(.resume(ObjectIdentifier(state)), at: resume)
        for listener in listeners.listeners(of: state) where !listener.held { unpoll(listener) }
        log.warn("backoff", ("service", state.label), ("delay_ms", "\(state.backoffMilliseconds)"),
                 ("reason", reason))
    }

    /// A back-off's end: the service's sockets are polled again.
    func endBackOff(of id: ObjectIdentifier, now: Int64) {
        guard let state = services.first(where: { ObjectIdentifier($0) == id }), let resume = state.resumeAt else { return }
        guard now >= resume else {
            deadlines.schedule(.resume(id), at: resume)
            return
        }
        state.resumeAt = nil
        for listener in listeners.listeners(of: state) { poll(listener) }
    }
}
