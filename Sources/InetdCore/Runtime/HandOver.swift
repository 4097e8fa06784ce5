import Glibc
import _InetdSystem

/// wait services (stream or dgram) and nowait dgram: the handler gets the
/// socket itself, in blocking mode, and the socket leaves the loop until the
/// handler is reaped (SPEC 3). Connections that arrive meanwhile queue in the
/// kernel's backlog: none is refused across a handler's restart.
extension Daemon {
    /// Hands `listener`'s socket to a new handler; for `wait,listen-fds`,
    /// every bound socket of the line, on fds 3 and up.
    func handOver(_ listener: Listener) {
        let state = listener.state
        guard let program = state.program, listener.fd != nil else { return }
        guard admitPendingDatagrams(listener) else { return }
        guard spawnSlotReady(for: listener) else { return }
        let sockets = state.holdsAllSockets ? listeners.listeners(of: state).filter { $0.fd != nil } : [listener]
        // One line, one holder: a socket of the line is still held (a reload
        // added this one while a handler held the others).
        guard !sockets.contains(where: \.held) else {
            reconcile(listener)
            return
        }
        let now = monotonicMilliseconds()
        for socket in sockets {
            socket.held = true
            do {
                try socket.fd?.setNonBlocking(false)
            } catch {
                log.error("handover_failed", ("service", state.label), ("error", "\(error)"))
            }
            socket.notePendingInput(now: now)
            countArrivals(socket)
            reconcile(socket)
        }
        launch(state.listenFDs ? .activation(sockets) : .socket(listener), state, program)
    }

    /// A nowait dgram line with `allow=`/`deny=`: the datagram that would
    /// start the handler is judged by its source, and a refused one is
    /// dropped, at most 64 a turn (the socket is level-triggered: the rest
    /// wake the next turn). True when an admitted datagram waits at the
    /// head. A handler that reads on past it gets what follows unjudged,
    /// as the socket is its own then (docs/limits.md).
    func admitPendingDatagrams(_ listener: Listener) -> Bool {
        let state = listener.state
        guard state.limits.access != nil, !state.wait, listener.endpoint.socketType == .dgram,
              let fd = listener.fd else { return true }
        for _ in 0..<64 {
            guard var head = (try? DatagramHead.peek(fd)) ?? nil else { return false }
            if admitDatagram(from: &head.source, state: state) { return true }
            _ = try? Socket.discardDatagram(fd)
        }
        return false
    }

    /// After a failed hand-over, the input that woke the loop is consumed, so
    /// that it cannot wake the loop again: one connection closed, or one
    /// datagram discarded.
    func dropPending(_ listener: Listener) {
        guard let fd = listener.fd else { return }
        if listener.endpoint.socketType == .dgram {
            _ = try? Socket.discardDatagram(fd)
        } else {
            var peer = PeerBuffer()
            if case .connection(let c)? = try? Socket.accept(fd, peer: &peer) { c.close() }
        }
    }

    /// A handler holding sockets exited: they come back into the loop,
    /// non-blocking again, unless a reload removed them meanwhile.
    func takeBack(_ child: Child, pid: pid_t, status: ExitStatus, lived: Int64) {
        let state = child.state
        let current = giveBack(child.sockets, of: state)
        guard !current.isEmpty else { return }
        if current.contains(where: { $0.fd.map(Socket.isShutDown) ?? false }) {
            handOverBrokeSockets(current, state: state)
            return
        }
        account(exitOf: current, state: state, status: status, lived: lived)
        // Each socket is polled under the state it has now: a reload that
        // kept the socket but changed its line gave it a new one. The other
        // sockets of a `wait,listen-fds` line (bound or added by a reload
        // while this handler held these) waited for this exit.
        for socket in current { reconcileLine(of: socket) }
    }

    /// The sockets a handler held come back to inetd, at its exit or when
    /// it did not start: no longer held nor counting arrivals, and
    /// non-blocking again (`O_NONBLOCK` lives on the file description the
    /// handler shared). Returns the ones still bound in the table; a reload
    /// may have closed the others.
    func giveBack(_ sockets: [Listener], of state: ServiceState) -> [Listener] {
        for socket in sockets {
            socket.held = false
            socket.countingArrivals = false
        }
        let current = sockets.filter { listeners.isCurrent($0) && $0.fd != nil }
        for socket in current {
            do {
                try socket.fd?.setNonBlocking(true)
            } catch {
                log.error("takeback_failed", ("service", state.label), ("error", "\(error)"))
            }
        }
        return current
    }

    /// A handler shut down a socket it was given: a failed hand-over. The
    /// sockets that no longer listen are bound anew, and the service backs
    /// off (its handler would do it again), logged once per episode; the
    /// others are polled when the back-off ends.
    func handOverBrokeSockets(_ sockets: [Listener], state: ServiceState) {
        for socket in sockets {
            guard let fd = socket.fd, Socket.isShutDown(fd) else { continue }
            rebind(socket)
            if log.admit(.warn, "socket_shut_down", service: socket.state.label) {
                log.warn("socket_shut_down", ("service", socket.state.label), ("address", socket.name),
                         ("action", socket.fd == nil ? "closed, bind retried" : "bound anew"))
            }
        }
        backOff(state, reason: "a handler shut its socket down")
    }
}
