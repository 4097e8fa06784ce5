import Glibc

/// What a handler gets, by mode (SPEC 3's table): which descriptor goes on
/// which number, which variables are added, and which sockets it holds
/// until its exit. `Daemon.launch` is the one path every handler starts by.
enum Launch {
    /// nowait stream: the connection on 0 and 1 (and 2 with
    /// `stderr=socket`), or on 3 for `nowait,listen-fds`; the UCSPI
    /// variables of its client.
    /// `source` is counted by the per-source limits while the handler runs;
    /// `proxied`, what a PROXY header said beyond the client.
    case connection(FileDescriptor, peer: PeerBuffer, on: Listener, source: SourceKey?, proxied: ProxiedEndpoints?)
    /// wait, and nowait dgram: the socket on 0 and 1 (PROTO for nowait dgram).
    case socket(Listener)
    /// `wait,listen-fds` (every bound socket of the line) and
    /// `nowait,listen-fds` dgram: /dev/null on 0, the handler stderr on 1 and 2,
    /// the sockets from 3 up, LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES.
    case activation([Listener])

    /// The sockets the handler holds: out of the loop until it exits.
    var held: [Listener] {
        switch self {
        case .connection: return []
        case .socket(let listener): return [listener]
        case .activation(let sockets): return sockets
        }
    }
}

extension Daemon {
    /// A child that has not exec'd this long after its clone is killed and
    /// counted as a failed spawn: between its setuid and its execve any
    /// process of the handler's uid can stop it (docs/DESIGN.md "Spawning").
    static let execBoundMilliseconds: Int64 = 2_000
    /// With every child slot lent, how long the loop may wait for a child
    /// to exec (one takes about 60 us), once per episode...
    static let slotWaitMicroseconds: Int64 = 1_000
    /// ... and then how soon a listener that left the loop looks again.
    static let slotRetryMilliseconds: Int64 = 1

    /// Starts the handler `launch` describes and enters it in the child
    /// table, the only place a handler enters it. A spawn that fails is
    /// logged and counted (`spawnFailed`). Allocates nothing for a
    /// connection and formats no text unless a line is logged.
    func launch(_ launch: Launch, _ state: ServiceState, _ program: PreparedProgram) {
        var peerAddress: SocketAddress?
        var connectionFD: FileDescriptor?
        var source: SourceKey?
        let result: Result<pid_t, SpawnError>
        countStart(state)
        switch launch {
        case .connection(let connection, var peer, let listener, let counted, let proxied):
            result = spawnConnection(program, state, connection, &peer, listener, proxied)
            peerAddress = peer.address()
            connectionFD = connection
            source = counted
        case .socket(let listener):
            let fd = listener.fd?.rawValue ?? -1
            var fds: (CInt, CInt, CInt) = (fd, fd, handlerStderr(state))
            let proto: StaticString = listener.endpoint.kind == .unix ? "UNIX" : "UDP"
            let wait = state.wait
            result = withUnsafeBytes(of: &fds) { raw in
                program.spawn(fds: raw.bindMemory(to: CInt.self)) { variables in
                    if !wait { variables.add("PROTO", proto) }
                }
            }
        case .activation(let sockets):
            let stderr = handlerStderr(state)
            let fds = [devNull.rawValue, stderr, stderr] + sockets.map { $0.fd?.rawValue ?? -1 }
            let name = state.fdName
            result = fds.withUnsafeBufferPointer { list in
                program.spawn(fds: list) { variables in
                    variables.add("LISTEN_FDS", number: sockets.count)
                    variables.reserve("LISTEN_PID", capacity: Self.listenPIDCapacity)
                    variables.add("LISTEN_FDNAMES", repeating: name, count: sockets.count)
                }
            }
        }
        let held = launch.held
        switch result {
        case .success(let pid):
            let now = monotonicMilliseconds()
            state.spawned += 1
            children.add(pid, Child(state: state, wait: state.wait, sockets: held, started: now, peer: peerAddress,
                                    source: source))
            if case .connection = launch { startTimeout(pid, state, now: now) }
            deadlines.scheduleIfUnset(.execBound, at: now + Self.execBoundMilliseconds)
            if log.verbose {
                if let peerAddress {
                    log.debug("connection", ("service", state.label), ("peer", peerText(peerAddress, connectionFD)),
                              ("pid", "\(pid)"))
                } else {
                    log.debug("handover", ("service", state.label), ("pid", "\(pid)"), ("sockets", "\(held.count)"))
                }
            }
        case .failure(let error):
            releaseSource(source)
            spawnFailed(state, error, peer: peerAddress, connection: connectionFD, holding: held)
        }
    }

    /// The connection on 0 and 1, or on 3 for `nowait,listen-fds` (SPEC 3).
    private func spawnConnection(_ program: PreparedProgram, _ state: ServiceState, _ connection: FileDescriptor,
                                 _ peer: inout PeerBuffer, _ listener: Listener,
                                 _ proxied: ProxiedEndpoints?) -> Result<pid_t, SpawnError> {
        let c = connection.rawValue
        // stderr=socket, asked for on the line, holds for listen-fds too.
        let stderr = state.stderrMode == .socket ? c : handlerStderr(state)
        guard state.listenFDs else {
            var fds: (CInt, CInt, CInt) = (c, c, stderr)
            return withUnsafeBytes(of: &fds) { raw in
                program.spawn(fds: raw.bindMemory(to: CInt.self)) { variables in
                    connectionVariables(connection, peer: &peer, listener: listener, proxied: proxied, into: &variables)
                }
            }
        }
        var fds: (CInt, CInt, CInt, CInt) = (devNull.rawValue, handlerStderr(state), stderr, c)
        return withUnsafeBytes(of: &fds) { raw in
            program.spawn(fds: raw.bindMemory(to: CInt.self)) { variables in
                variables.add("LISTEN_FDS", "1")
                variables.reserve("LISTEN_PID", capacity: Self.listenPIDCapacity)
                variables.add("LISTEN_FDNAMES", bytes: state.fdName)
                connectionVariables(connection, peer: &peer, listener: listener, proxied: proxied, into: &variables)
            }
        }
    }

    /// How a log line names a client: its address, or for a unix peer its
    /// uid and pid (SO_PEERCRED, while the connection is open); formatted
    /// only for a line that is written.
    func peerText(_ address: SocketAddress?, _ connection: FileDescriptor?) -> String {
        if let address, address.family != .unix { return address.description }
        if let connection, let credentials = try? PeerCredentials.of(connection) {
            return "uid \(credentials.uid) pid \(credentials.pid)"
        }
        return address == nil ? "-" : "unix"
    }

    /// A handler that did not start, whether the spawn failed at once or
    /// its child failed or was killed before exec: logged and counted. A connection is
    /// closed with the child; the sockets a holder was given come back,
    /// after a back-off and without the input that woke the loop, which
    /// would otherwise wake it again at once for a program that cannot start.
    func spawnFailed(_ state: ServiceState, _ error: SpawnError, peer: SocketAddress?, connection: FileDescriptor? = nil,
                     holding sockets: [Listener]) {
        state.execFailures += 1
        guard !sockets.isEmpty else {
            if log.admit(.error, "spawn_failed", service: state.label) {
                log.error("spawn_failed", ("service", state.label), ("program", state.programName),
                          ("peer", peerText(peer, connection)), ("error", "\(error)"), ("action", "connection closed"))
            }
            return
        }
        let current = giveBack(sockets, of: state)
        if let waiting = current.first(where: { $0.fd.map { (try? Socket.isReadable($0)) == true } ?? false }) {
            dropPending(waiting)
        }
        backOff(state, reason: "\(error)")
        // A reload may have given a socket another line since.
        for socket in current where socket.state !== state { reconcileLine(of: socket) }
        if log.admit(.error, "spawn_failed", service: state.label) {
            log.error("spawn_failed", ("service", state.label), ("program", state.programName), ("error", "\(error)"),
                      ("action", "pending input dropped, retry in \(state.backoffMilliseconds) ms"))
        }
    }

    /// Children that failed after their spawn returned (a missing program,
    /// a bad user): failed spawns, not handlers. Each keeps its descriptors
    /// open until its failure has been read here, then exits 127 and is
    /// reaped as no handler.
    func collectLateSpawnFailures() {
        while let (pid, error) = PreparedProgram.nextLateFailure() { childDidNotStart(pid, error) }
    }

    /// Children not exec'd `execBoundMilliseconds` after their clone:
    /// killed, and failed spawns. The loop never waits on a child; this is
    /// the bound on how long a child may hold its slot and its descriptors.
    func killOverdueSpawns() {
        var next: Int64?
        while let (pid, error) = PreparedProgram.nextOverdue(bound: Self.execBoundMilliseconds, next: &next) {
            childDidNotStart(pid, error)
        }
        if let next { deadlines.schedule(.execBound, at: next) }
    }

    private func childDidNotStart(_ pid: pid_t, _ error: SpawnError) {
        if upgradeCheckDidNotStart(pid, error) { return }
        guard let child = children.remove(pid) else { return }
        releaseSource(child.source)
        cancelTimeout(pid)
        child.state.spawned -= 1
        spawnFailed(child.state, error, peer: child.peer, holding: child.sockets)
        if child.sockets.isEmpty { handlerExited(child.state) }
    }

    /// True when the next spawn will find a child slot. With every slot
    /// lent to a child still setting up, the loop waits for one at most
    /// `slotWaitMicroseconds`, and only when no listener waits already (a
    /// stopped child would make every wait last its bound); then `listener`
    /// leaves the loop (its clients wait in the backlog) and looks again
    /// shortly. Called before the accept: a connection taken is served.
    func spawnSlotReady(for listener: Listener) -> Bool {
        if PreparedProgram.slotFree { return true }
        if slotWaiters.isEmpty, PreparedProgram.waitForSlot(microseconds: Self.slotWaitMicroseconds) { return true }
        waitForSpawnSlot(listener)
        return false
    }

    private func waitForSpawnSlot(_ listener: Listener) {
        if !listener.waitingForSlot {
            listener.waitingForSlot = true
            slotWaiters.append(listener)
        }
        reconcile(listener)
        deadlines.scheduleIfUnset(.spawnSlot, at: monotonicMilliseconds() + Self.slotRetryMilliseconds)
        if log.admit(.warn, "spawn_deferred", service: listener.state.label) {
            log.warn("spawn_deferred", ("service", listener.state.label),
                     ("reason", "every child slot is lent to a child not yet exec'd"))
        }
    }

    /// The slot timer: the waiting listeners are polled again once a slot
    /// is free.
    func retryWaitingForSlot(now: Int64) {
        guard PreparedProgram.slotFree else {
            deadlines.schedule(.spawnSlot, at: now + Self.slotRetryMilliseconds)
            return
        }
        let waiting = slotWaiters
        slotWaiters.removeAll()
        for listener in waiting {
            listener.waitingForSlot = false
            if listeners.isCurrent(listener) { reconcile(listener) }
        }
    }
}
