import Glibc

/// What waited on a handed-over socket when its handler started: enough to
/// tell, when the handler exits 0 at once, whether it consumed any of it.
enum PendingInput {
    /// A TCP listener: its accept queue's length.
    case acceptQueue(Int)
    /// A datagram socket: the datagram at the head of its queue. Boxed
    /// (indirect): inline, its 132-byte address made every listener 141
    /// bytes larger, for a case only dgram hand-overs use.
    indirect case datagram(DatagramHead)
    case noDatagram
    /// A unix stream or seqpacket listener: its queue as sock_diag tells it.
    indirect case unixQueue(UnixListenerQueue)
    /// A unix listener whose queue sock_diag would not tell (a kernel
    /// without unix_diag): only whether a connection waits.
    case connections
    case unknown
}

/// A datagram as the crash-loop rule tells it from another: its length, its
/// source and the kernel's arrival stamp (`Socket.peekDatagramHead`).
struct DatagramHead {
    var length: Int
    var source: PeerBuffer
    /// Nanoseconds since the epoch; 0 when the datagram carries no stamp.
    var arrival: Int64

    /// The datagram at the head of the socket's queue, left there; nil when
    /// none waits.
    static func peek(_ fd: FileDescriptor) throws(SystemError) -> DatagramHead? {
        var source = PeerBuffer()
        guard let head = try Socket.peekDatagramHead(fd, source: &source) else { return nil }
        return DatagramHead(length: head.length, source: source, arrival: head.arrival)
    }

    /// Whether `now` is this datagram, still at the head. A stamp is the
    /// kernel's, so a datagram sent later with the same length and source
    /// is another one; where neither has a stamp (unix datagrams), length
    /// and source are all there is to compare.
    func isStill(_ now: DatagramHead) -> Bool {
        guard now.length == length, now.source.sameAddress(as: source) else { return false }
        if arrival == 0, now.arrival == 0 { return true }
        return now.arrival == arrival
    }
}

/// The crash-loop rule (SPEC section 5, docs/DESIGN.md "Crash-loop
/// back-off"), for handlers that hold sockets: wait services and nowait
/// dgram. Each socket keeps the evidence of progress (`Listener`); the count
/// and the back-off are the service's (`ServiceState`); the loop wires them
/// (`Daemon`).
enum CrashLoop {
    /// A failure this soon after the start counts towards a crash loop.
    static let quickExitMilliseconds: Int64 = 1_000
    /// Quick failures in a row before starts are delayed.
    static let quickFailuresBeforeBackoff = 3
    /// A handler that lived this long resets the back-off delay.
    static let healthyMilliseconds: Int64 = 10_000
    static let firstBackoffMilliseconds: Int64 = 1_000
    static let maxBackoffMilliseconds: Int64 = 60_000

    /// What a handler that exited did with one socket it was given.
    enum Progress {
        /// Input waited when it started, and some of it is gone.
        case consumed
        /// Input waited when it started, and all of it is still there.
        case untouched
        /// Nothing waited when it started.
        case idle
    }

    /// A handler exited 0 without doing its work when it consumed nothing
    /// from any socket it was given and left input on one: started again,
    /// it would find that input and exit again, forever. A socket that was
    /// idle shows nothing either way: the second socket of a
    /// `wait,listen-fds` line with no client proves no progress.
    static func stalled(_ sockets: [Progress]) -> Bool {
        !sockets.contains(.consumed) && sockets.contains(.untouched)
    }
}

extension Listener {
    /// Notes what waits on the socket, just before a handler gets it.
    func notePendingInput(now: Int64) {
        handedOverAt = now
        arrivals = 0
        guard let fd else {
            pendingAtStart = .unknown
            return
        }
        switch (endpoint.kind, endpoint.socketType) {
        case (_, .dgram):
            do {
                pendingAtStart = try DatagramHead.peek(fd).map { .datagram($0) } ?? .noDatagram
            } catch {
                pendingAtStart = .unknown
            }
        case (.tcp, _):
            pendingAtStart = (try? Socket.acceptQueueLength(fd)).map { .acceptQueue($0) } ?? .unknown
        case (_, _):
            if let queue = (try? Socket.unixListenerQueue(fd)) ?? nil {
                pendingAtStart = .unixQueue(queue)
            } else {
                pendingAtStart = .connections
            }
        }
    }

    /// Only a TCP listener (and a unix one sock_diag does not tell) needs its
    /// arrivals counted (`Daemon.countArrivals`): the rest tell what their
    /// handler consumed by the input itself.
    var needsArrivalCount: Bool {
        switch pendingAtStart {
        case .acceptQueue, .connections: return true
        default: return false
        }
    }

    /// What the handler that exited did with this socket's input. Where
    /// inetd cannot tell, the input counts as consumed: a handler is never
    /// held back on a guess.
    func progress() -> CrashLoop.Progress {
        guard let fd else { return .consumed }
        switch pendingAtStart {
        case .acceptQueue(let before):
            guard let now = try? Socket.acceptQueueLength(fd) else { return .consumed }
            if now < before + arrivals || (before > 0 && now == 0) { return .consumed }
            return before > 0 ? .untouched : .idle
        case .datagram(let start):
            guard let now = (try? DatagramHead.peek(fd)) ?? nil else { return .consumed }
            return start.isStill(now) ? .untouched : .consumed
        case .noDatagram:
            return .idle
        case .unixQueue(let start):
            guard start.count > 0 else { return .idle }
            guard let now = (try? Socket.unixListenerQueue(fd)) ?? nil else { return .consumed }
            return start.stillHeads(now) ? .untouched : .consumed
        case .connections:
            return arrivals <= 0 && ((try? Socket.isReadable(fd)) ?? false) ? .untouched : .consumed
        case .unknown:
            return .consumed
        }
    }
}

extension ServiceState {
    /// Counts a handler's exit (SPEC 5): a failure within 1 s adds one to
    /// the quick failures, any other exit clears them. An exit that is no
    /// failure (0, having consumed its input) ends the episode, and so does
    /// a handler that lived 10 s: the next back-off starts again at 1 s.
    /// True when the count calls for a back-off.
    func countExit(failed: Bool, lived: Int64) -> Bool {
        let quickFailure = failed && lived < CrashLoop.quickExitMilliseconds
        if quickFailure { quickFailures += 1 } else { quickFailures = 0 }
        if !failed || lived >= CrashLoop.healthyMilliseconds { backoffMilliseconds = 0 }
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
    /// A TCP listener's queue length alone cannot tell a worker that took 5
    /// connections while 5 more arrived from one that took none. So during
    /// its handler's first second, each arrival wakes the loop once
    /// (edge-triggered) and is counted. Datagram sockets and unix listeners
    /// need no count: the head of their queue tells.
    func countArrivals(_ listener: Listener) {
        guard listener.needsArrivalCount else { return }
        listener.countingArrivals = true
        // Watching a socket with input waiting reports it at once (`reconcile`
        // follows): that first event is no arrival.
        if case .acceptQueue(0) = listener.pendingAtStart {} else { listener.arrivals = -1 }
    }

    /// An edge-triggered event on a handed-over listener: one arrival (or
    /// several, merged); counting ends once the handler is past its first
    /// second.
    func arrived(_ listener: Listener) {
        listener.arrivals += 1
        if monotonicMilliseconds() - listener.handedOverAt >= CrashLoop.quickExitMilliseconds {
            listener.countingArrivals = false
            reconcile(listener)
        }
    }

    /// The exit of a handler holding `sockets`: a quick failure, or a quick
    /// exit 0 that consumed nothing it was given and left input behind,
    /// counts; the third in a row starts a back-off.
    func account(exitOf sockets: [Listener], state: ServiceState, status: ExitStatus, lived: Int64) {
        let quick = lived < CrashLoop.quickExitMilliseconds
        let stalled = status.isSuccess && quick && CrashLoop.stalled(sockets.map { $0.progress() })
        guard state.countExit(failed: !status.isSuccess || stalled, lived: lived) else { return }
        let what = stalled ? "exited 0 without consuming its input" : "\(status)"
        backOff(state, reason: "handler \(what) after \(lived) ms, \(state.quickFailures) times in a row")
    }

    /// Takes every socket of a service out of the loop until its back-off ends.
    func backOff(_ state: ServiceState, reason: String) {
        let resume = state.startBackOff(now: monotonicMilliseconds())
        deadlines.schedule(.resume(ObjectIdentifier(state)), at: resume)
        listeners.forEachListener(of: state) { reconcile($0) }
        log.warn("backoff", ("service", state.label), ("delay_ms", "\(state.backoffMilliseconds)"),
                 ("reason", reason))
    }

    /// The end of a service's timed hold, a back-off (`resumeAt`) or a
    /// rate window (`rateResumeAt`): its sockets are polled again, unless
    /// another reason holds them. A timer that fired before the hold's time
    /// (the hold was moved since) is set again.
    func endHold(_ hold: ReferenceWritableKeyPath<ServiceState, Int64?>, of id: ObjectIdentifier, timer: Timer,
                 now: Int64) {
        guard let state = services.first(where: { ObjectIdentifier($0) == id }), let resume = state[keyPath: hold] else {
            return
        }
        guard now >= resume else {
            deadlines.schedule(timer, at: resume)
            return
        }
        state[keyPath: hold] = nil
        listeners.forEachListener(of: state) { reconcile($0) }
    }
}
