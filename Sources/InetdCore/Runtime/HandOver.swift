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
        let sockets = state.listenFDs && state.wait
            ? listeners.listeners(of: state).filter { $0.fd != nil && !$0.held } : [listener]
        let now = monotonicMilliseconds()
        for socket in sockets {
            unpoll(socket)
            do {
                try socket.fd?.setNonBlocking(false)
            } catch {
                log.error("handover_failed", ("service", state.label), ("error", "\(error)"))
            }
            socket.notePendingInput(now: now)
            countArrivals(socket)
        }
        let result = spawnHolder(program, state, listener, sockets)
        switch result {
        case .success(let pid):
            for socket in sockets { socket.held = true }
            if state.listenFDs && state.wait { state.holder = pid }
            started(pid, state, holding: sockets)
            if log.verbose { log.debug("handover", ("service", state.label), ("pid", "\(pid)"), ("sockets", "\(sockets.count)")) }
        case .failure(let error):
            state.execFailures += 1
            for socket in sockets {
                unpoll(socket)  // ends the count of arrivals
                try? socket.fd?.setNonBlocking(true)
            }
            dropPending(listener)
            backOff(state, reason: "\(error)")
            if log.admit(.error, "spawn_failed", service: state.label) {
                log.error("spawn_failed", ("service", state.label), ("error", "\(error)"),
                          ("action", "pending input dropped, retry in \(state.backoffMilliseconds) ms"))
            }
        }
    }

    /// Classic: the socket on fds 0 and 1 (PROTO for nowait dgram).
    /// Socket activation: /dev/null on 0, inetd's stderr on 1 and 2, the
    /// sockets from 3 up, and LISTEN_FDS, LISTEN_PID (written by the child),
    /// LISTEN_FDNAMES.
    private func spawnHolder(_ program: PreparedProgram, _ state: ServiceState, _ listener: Listener,
                             _ sockets: [Listener]) -> Result<pid_t, SpawnError> {
        guard state.listenFDs else {
            let fd = listener.fd!.rawValue
            let wait = state.wait
            let proto: StaticString = listener.endpoint.kind == .unix ? "UNIX" : "UDP"
            return program.spawn(fds: (fd, fd, 2)) { variables in
                if !wait { variables.add("PROTO", proto) }
            }
        }
        let fds = [devNull.rawValue, 2, 2] + sockets.compactMap { $0.fd?.rawValue }
        let name = state.fdName
        return fds.withUnsafeBufferPointer { list in
            program.spawn(fds: list) { variables in
                variables.add("LISTEN_FDS", number: sockets.count)
                variables.reserve("LISTEN_PID", capacity: Self.listenPIDCapacity)
                variables.add("LISTEN_FDNAMES", repeating: name, count: sockets.count)
            }
        }
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
        if state.holder == pid { state.holder = nil }
        let current = child.sockets.filter { listeners.isCurrent($0) && $0.fd != nil }
        for socket in child.sockets { socket.held = false }
        guard !current.isEmpty else { return }
        account(exitOf: current, state: state, status: status, lived: lived)
        for socket in current {
            unpoll(socket)  // ends the count of arrivals, if still on
            do {
                try socket.fd?.setNonBlocking(true)
            } catch {
                log.error("takeback_failed", ("service", state.label), ("error", "\(error)"))
            }
        }
        // Each socket is polled under the state it has now: a reload that
        // kept the socket but changed its line gave it a new one.
        for socket in current { poll(socket) }
        // A socket of a `wait,listen-fds` line bound while the handler held
        // the others waited for this exit.
        if state.listenFDs { listeners.forEachListener(of: state) { poll($0) } }
    }

    // MARK: - Polling

    /// Puts a listener into the epoll set, unless it is unbound, held by a
    /// handler, its service is in back-off or holds it through a
    /// `wait,listen-fds` handler, or inetd is stopping.
    func poll(_ listener: Listener) {
        let state = listener.state
        guard !listener.polled, !shutdown.stopping, let fd = listener.fd, !listener.held,
              state.resumeAt == nil, state.holder == nil else { return }
        do {
            try epoll.add(fd, token: listener.token.rawValue)
            listener.polled = true
        } catch {
            log.error("poll_failed", ("service", state.label), ("error", "\(error)"))
        }
    }

    /// Takes the socket out of the epoll set, whether polled or counting
    /// arrivals: a handler's copy keeps the file description open, so
    /// closing inetd's descriptor alone would leave it registered.
    func unpoll(_ listener: Listener) {
        guard listener.polled || listener.countingArrivals, let fd = listener.fd else { return }
        listener.polled = false
        listener.countingArrivals = false
        do {
            try epoll.remove(fd)
        } catch {
            log.error("unpoll_failed", ("service", listener.state.label), ("error", "\(error)"))
        }
    }
}
