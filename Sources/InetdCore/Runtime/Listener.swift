/// One bound (or to-be-bound) socket of a service, and its place in the loop.
final class Listener {
    let endpoint: Endpoint
    var state: ServiceState
    /// nil until bound: binding is retried every 60 s.
    var fd: FileDescriptor?
    let token: EventToken
    /// What epoll watches on this socket now; nil: not in the set. Only
    /// `Daemon.reconcile` changes it, to what the phase calls for.
    var registered: Epoll.Events?
    /// In the epoll set to accept (or receive): `ListenerPhase.listening`.
    var polled: Bool { registered == ListenerPhase.listening.watch }
    /// A handler holds this socket (wait, nowait dgram): it comes back into
    /// the loop when the child table says that handler was reaped.
    var held = false
    /// Every child slot was lent when it was to spawn: out of the loop until
    /// one is free (`Daemon.retryWaitingForSlot`).
    var waitingForSlot = false
    /// When the holder got the socket, and what waited on it then.
    var handedOverAt: Int64 = 0
    var pendingAtStart = PendingInput.unknown
    /// Counting arrivals for the holder's first second, watched
    /// edge-triggered (`Daemon.countArrivals`).
    var countingArrivals = false
    var arrivals = 0
    /// Adopted from what inetd was started with (LISTEN_FDS), not bound
    /// here: never shut down at its close (a holder may still use it), and
    /// a unix socket's file is not inetd's (no chmod, chown or unlink).
    var inherited = false
    /// The last bind error logged, so that a retry failing the same way
    /// logs nothing.
    var lastBindError: String? {
        get { rare?.lastBindError }
        set {
            if rare == nil, newValue == nil { return }
            rarelySet().lastBindError = newValue
        }
    }
    /// A unix socket's file as bound (its directory, held open, its name
    /// there, device and inode): the only file that inetd chmods, chowns or
    /// unlinks for this listener.
    var socketFile: UnixSocketFile? { rare?.socketFile }

    /// Records (or, with nil, forgets) the socket file. A method, not a
    /// setter: a settable property's synthesized modify accessor keeps a
    /// copy of the value in its coroutine frame, and this one is too large
    /// for the inline frame (malloc and free on every access).
    func keepSocketFile(_ file: UnixSocketFile?) {
        if rare == nil, file == nil { return }
        rarelySet().socketFile = file
    }

    /// What few listeners hold (a failed bind, a unix socket's file), kept
    /// apart: inline, they made every listener 40 bytes larger (168 -> 136,
    /// one allocation size smaller).
    private final class Rare {
        var lastBindError: String?
        var socketFile: UnixSocketFile?
    }
    private var rare: Rare?

    private func rarelySet() -> Rare {
        if let rare { return rare }
        let made = Rare()
        rare = made
        return made
    }

    /// The endpoint as logs show it, formatted each time: only binding,
    /// its errors and `-d`'s closing lines name it, once per socket.
    var name: String { endpoint.description }

    init(endpoint: Endpoint, state: ServiceState, token: EventToken) {
        self.endpoint = endpoint
        self.state = state
        self.token = token
    }

    /// The built-in this socket serves, if it is one.
    var builtin: BuiltinKind? { state.builtin }
}
