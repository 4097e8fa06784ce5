/// Why a listener is in the epoll set or not, as one value. Each fact it is
/// judged from has one owner (`ListenerPhase.Facts`); this type only orders
/// them, and says what epoll watches in each phase. `Daemon.reconcile` is
/// the one place that makes epoll agree with it.
enum ListenerPhase: Equatable, CustomStringConvertible {
    /// Not bound: a bind is retried every 60 s.
    case unbound
    /// inetd is stopping: nothing is accepted any more.
    case stopping
    /// A handler holds the socket (wait, nowait dgram). During the handler's
    /// first second a TCP listener is watched edge-triggered, to count
    /// arrivals for the crash-loop rule (`CrashLoop.swift`).
    case handedOver(countingArrivals: Bool)
    /// Another socket of its `wait,listen-fds` line is held: one line, one
    /// holder.
    case lineHeld
    /// Its service backs off (a crash loop, a failed hand-over).
    case backingOff
    /// Its service has used its `rate=` for now: polled again when the
    /// next start is allowed (`TokenBucket`).
    case overRate
    /// Its service runs as many handlers or connections as its `max=`.
    case atCap
    /// Every child slot is lent to a child not yet exec'd; looked at again
    /// shortly (`Launch.swift`).
    case waitingForSlot
    case listening

    /// What each phase is judged from, read from the fact's owner.
    struct Facts: Equatable {
        var bound = true
        var stopping = false
        /// `Listener.held`, set by a hand-over, cleared at its handler's exit.
        var held = false
        /// `Listener.countingArrivals`: the holder's first second.
        var countingArrivals = false
        /// A socket of its `wait,listen-fds` line is held (`ListenerTable`).
        var lineHeld = false
        /// `ServiceState.resumeAt` is set.
        var backingOff = false
        /// `ServiceState.rateResumeAt` is set.
        var overRate = false
        /// The service's handlers (`ChildTable`) or built-in connections
        /// (`ConnectionTable`) are at its cap.
        var atCap = false
        /// `Listener.waitingForSlot`.
        var waitingForSlot = false
    }

    /// The one decision. A reason that lasts longer comes first: a held
    /// socket is not polled whatever else holds, and a back-off outlasts a
    /// handler's exit, which ends the cap; a rate's window outlasts a
    /// handler's exit too.
    init(_ facts: Facts) {
        if !facts.bound { self = .unbound }
        else if facts.stopping { self = .stopping }
        else if facts.held { self = .handedOver(countingArrivals: facts.countingArrivals) }
        else if facts.lineHeld { self = .lineHeld }
        else if facts.backingOff { self = .backingOff }
        else if facts.overRate { self = .overRate }
        else if facts.atCap { self = .atCap }
        else if facts.waitingForSlot { self = .waitingForSlot }
        else { self = .listening }
    }

    /// What epoll watches in this phase; nil: the socket is not in the set,
    /// and its clients wait in the kernel's backlog.
    var watch: Epoll.Events? {
        switch self {
        case .listening: return .input
        case .handedOver(countingArrivals: true): return [.readable, .edgeTriggered]
        default: return nil
        }
    }

    /// As SIGUSR1's `state=` shows it.
    var description: String {
        switch self {
        case .unbound: return "unbound"
        case .stopping: return "stopping"
        case .handedOver: return "handed-over"
        case .lineHeld: return "line-held"
        case .backingOff: return "backoff"
        case .overRate: return "over-rate"
        case .atCap: return "at-cap"
        case .waitingForSlot: return "waiting-for-slot"
        case .listening: return "listening"
        }
    }
}
