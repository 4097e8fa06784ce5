import Glibc

/// What waited on a handed-over socket when its handler started: enough to
/// tell, when the handler exits 0 at once, whether it consumed any of it.
enum PendingInput {
    /// A TCP listener: its accept queue's length.
    case acceptQueue(Int)
    /// A datagram socket: the head datagram's length and source. Boxed
    /// (indirect): inline, its 132-byte address made every listener 141
    /// bytes larger, for a case only dgram hand-overs use.
    indirect case datagram(length: Int, source: PeerBuffer)
    /// A unix stream or seqpacket listener: the kernel gives no queue length.
    case connections
    case unknown
}

/// The crash-loop rule (SPEC section 5, docs/DESIGN.md "Crash loops"), for
/// handlers that hold sockets: wait services and nowait dgram. Each socket
/// keeps the evidence of progress (`Listener`); the count and the back-off
/// are the service's (`ServiceState`); the loop wires them (`Daemon`).
enum CrashLoop {
    /// A failure this soon after the start counts towards a crash loop.
    static let quickExitMilliseconds: Int64 = 1_000
    /// Quick failures in a row before starts are delayed.
    static let quickFailuresBeforeBackoff = 3
    /// A handler that lived this long resets the back-off delay.
    static let healthyMilliseconds: Int64 = 10_000
    static let firstBackoffMilliseconds: Int64 = 1_000
    static let maxBackoffMilliseconds: Int64 = 60_000
}

extension Listener {
    /// Notes what waits on the socket, just before a handler gets it.
    func notePendingInput(now: Int64) {
        handedOverAt = now
        arrivals = 0
        guard let fd else { return }
        switch (endpoint.kind, endpoint.socketType) {
        case (_, .dgram):
            var source = PeerBuffer()
            if let length = try? Socket.peekDatagram(fd, source: &source) {
                pendingAtStart = .datagram(length: length, source: source)
            } else {
                pendingAtStart = .unknown
            }
        case (.tcp, _):
            pendingAtStart = (try? Socket.acceptQueueLength(fd)).map { .acceptQueue($0) } ?? .unknown
        case (_, _):
            pendingAtStart = .connections
        }
    }

    /// True when a handler that exited 0 left the socket's input as it found
    /// it: started again, it would find the same input and exit again, forever.
    func madeNoProgress() -> Bool {
        guard let fd else { return false }
        switch pendingAtStart {
        case .acceptQueue(let before):
            guard let now = try? Socket.acceptQueueLength(fd) else { return false }
            return now > 0 && now >= before + arrivals
        case .datagram(let length, let source):
            var head = PeerBuffer()
            guard let now = try? Socket.peekDatagram(fd, source: &head) else { return false }
            return now == length && head.sameAddress(as: source)
        case .connections:
            return arrivals <= 0 && ((try? Socket.isReadable(fd)) ?? false)
        case .unknown:
            return false
        }
    }
}

extension ServiceState {
    /// Counts a handler's exit: a quick failure adds one, anything else
    /// clears the count. True when the count calls for a back-off.
    func countExit(quickFailure: Bool, lived: Int64) -> Bool {
        if quickFailure { quickFailures += 1 } else { quickFailures = 0 }
        if lived >= CrashLoop.healthyMilliseconds { backoffMilliseconds = 0 }
        return quickFailure && quickFailures >= CrashLoop.quickFailuresBeforeBackoff
    }

    /// Starts a back-off: 1 s, doubling to 60 s. Returns when it ends.
    func startBackOff(now: Int64) -> Int64 {
        let next = backoffMilliseconds == 0 ? CrashLoop.firstBackoffMilliseconds : backoffMilliseconds * 2
        backoffMilliseconds = min(next, CrashLoop.maxBackoffMilliseconds)
        let resume = now + backoffMilliseconds
        resumeAt = resume
        return resume
    }
}

extension Daemon {
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
        if monotonicMilliseconds() - listener.handedOverAt >= CrashLoop.quickExitMilliseconds { unpoll(listener) }
    }

    /// The exit of a handler holding `sockets`: a quick failure, or a quick
    /// exit 0 that took input from none of them, counts; the third in a row
    /// starts a back-off.
    func account(exitOf sockets: [Listener], state: ServiceState, status: ExitStatus, lived: Int64) {
        let quick = lived < CrashLoop.quickExitMilliseconds
        let stalled = status.isSuccess && quick && sockets.allSatisfy { $0.madeNoProgress() }
        guard state.countExit(quickFailure: quick && (!status.isSuccess || stalled), lived: lived) else { return }
        let what = stalled ? "exited 0 without consuming its input" : "\(status)"
        backOff(state, reason: "handler \(what) after \(lived) ms, \(state.quickFailures) times in a row")
    }

    /// Takes every socket of a service out of the loop until its back-off ends.
    func backOff(_ state: ServiceState, reason: String) {
        let resume = state.startBackOff(now: monotonicMilliseconds())
        deadlines.schedule(.resume(ObjectIdentifier(state)), at: resume)
        listeners.forEachListener(of: state) { if !$0.held { unpoll($0) } }
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
        listeners.forEachListener(of: state) { poll($0) }
    }
}
