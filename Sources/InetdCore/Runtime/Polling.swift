/// Whether each listener is in the epoll set, and how: the phase
/// (`ListenerPhase`) judged from the facts of their owners, and the one
/// place epoll is made to agree with it. Whoever changes a fact (a
/// hand-over, a handler's exit, a back-off, a cap, a slot, a bind) calls
/// `reconcile` on the listeners it concerns.
extension Daemon {
    /// The facts, read from their owners, and the phase they make.
    func phase(of listener: Listener) -> ListenerPhase {
        let state = listener.state
        return ListenerPhase(ListenerPhase.Facts(
            bound: listener.fd != nil, stopping: shutdown.stopping, held: listener.held,
            countingArrivals: listener.countingArrivals,
            lineHeld: state.holdsAllSockets && listeners.anyHeld(of: state),
            backingOff: state.resumeAt != nil, overRate: state.rateResumeAt != nil, atCap: atCap(state),
            waitingForSlot: listener.waitingForSlot))
    }

    /// A nowait service at its `max=` (default 64): as many handlers
    /// running (`ChildTable`), or for a built-in as many connections open
    /// (`ConnectionTable`). Services that hand their socket over run one
    /// handler per socket at most.
    func atCap(_ state: ServiceState) -> Bool {
        let cap = state.maxConcurrent
        guard cap > 0 else { return false }
        if state.builtin != nil { return connections.active(state) >= cap }
        // A `proxy` line's connections waiting for their header count too.
        return !state.handsOverSocket && children.active(state) + connections.active(state) >= cap
    }

    /// Makes epoll watch what the listener's phase calls for: the one place
    /// a listener enters the epoll set, changes how it is watched, or leaves.
    func reconcile(_ listener: Listener) {
        apply(phase(of: listener).watch, to: listener)
    }

    /// Takes a listener out of the epoll set before its descriptor closes:
    /// a handler's copy keeps the file description open, and with it the
    /// registration, which closing inetd's descriptor alone would leave.
    func withdraw(_ listener: Listener) {
        apply(nil, to: listener)
    }

    /// Every socket of the listener's line when one handler holds them all
    /// (`wait,listen-fds`), else the listener alone.
    func reconcileLine(of listener: Listener) {
        if listener.state.holdsAllSockets {
            listeners.forEachListener(of: listener.state) { reconcile($0) }
        } else {
            reconcile(listener)
        }
    }

    private func apply(_ wanted: Epoll.Events?, to listener: Listener) {
        guard wanted != listener.registered else { return }
        guard let fd = listener.fd else {
            listener.registered = nil
            return
        }
        do {
            switch (listener.registered, wanted) {
            case (nil, let events?): try epoll.add(fd, token: listener.token.rawValue, events: events)
            case (_?, let events?): try epoll.modify(fd, token: listener.token.rawValue, events: events)
            case (_?, nil): try epoll.remove(fd)
            case (nil, nil): break
            }
            listener.registered = wanted
        } catch {
            log.error("poll_failed", ("service", listener.state.label), ("error", "\(error)"))
        }
    }
}
