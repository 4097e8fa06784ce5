import Glibc
import _InetdSystem

/// The services inetd answers itself (SPEC 4), inside the event loop: no
/// process is spawned, nothing blocks. A TCP client costs one descriptor and
/// one bounded buffer, and is dropped once idle; a UDP request is answered
/// only when its source cannot be another datagram service (the echo and
/// chargen loop of CERT CA-1996-01).
extension Daemon {
    /// Connections a built-in listener may accept in one turn (as
    /// `spawnAcceptBudget`): an accept costs about a tenth of a spawn.
    static let builtinAcceptBudget = 32
    /// SO_SNDBUF and SO_RCVBUF of a built-in connection (the kernel doubles
    /// it, to 64 KiB): what a client that never reads can pin in inetd's
    /// socket. Not less: on loopback (64 KiB segments) a receive buffer cut
    /// to 16 KiB under data already in flight stalled the sender on
    /// zero-window probes (3 MB in 2 s instead of about 900 MB/s).
    static let builtinSocketBuffer: CInt = 32 << 10

    // MARK: - TCP

    /// Accepts the pending connections of a TCP built-in, at most
    /// `builtinAcceptBudget` a turn (the rest next turn) and up to the
    /// service's concurrency cap; at the cap the socket leaves the loop and
    /// clients wait in the backlog.
    func acceptBuiltin(_ listener: Listener, _ kind: BuiltinKind) {
        guard let fd = listener.fd else { return }
        let state = listener.state
        var peer = PeerBuffer()
        var budget = Self.builtinAcceptBudget
        while budget > 0 {
            budget -= 1
            // At its cap or over its rate: clients wait in the backlog.
            guard accepting(listener) else { return }
            let accepted: Socket.Accepted
            do {
                accepted = try Socket.accept(fd, peer: &peer, nonBlocking: true)
            } catch {
                if error.errno == EMFILE || error.errno == ENFILE { shed(listener, error) }
                return
            }
            guard case .connection(let connection) = accepted else { return }
            state.accepted += 1
            guard case .admitted(let source) = admit(connection, peer: &peer, state: state, unix: false) else {
                connection.close()
                continue
            }
            countStart(state)
            if log.verbose { log.debug("connection", ("service", state.label), ("peer", peer.address().description), ("builtin", kind.rawValue)) }
            switch kind {
            case .daytime, .time:
                let reply = kind == .time ? BuiltinKind.timeReply() : BuiltinKind.daytimeReply()
                _ = reply.withUnsafeBytes { try? Socket.send(connection, $0) }
                connection.close()
                releaseSource(source)
            case .echo, .discard, .chargen:
                open(connection, kind, state, source: source)
            }
        }
    }

    func open(_ connection: FileDescriptor, _ kind: BuiltinKind, _ state: ServiceState, source: SourceKey?) {
        let token = connections.reserve()
        let now = monotonicMilliseconds()
        let builtin = BuiltinConnection(fd: connection, kind: kind, state: state, token: token, now: now)
        builtin.source = source
        do {
            try Socket.capBuffers(connection, bytes: Self.builtinSocketBuffer)
            try enterLoop(builtin, now: now)
        } catch {
            log.error("builtin_failed", ("service", state.label), ("error", "\(error)"))
            connection.close()
            connections.release(token)
            releaseSource(source)
            return
        }
    }

    /// A connection the loop serves itself joins the epoll set and the
    /// table, and the idle check runs while any is open. On failure nothing
    /// is registered: the caller releases its token and closes it.
    func enterLoop(_ connection: LoopConnection, now: Int64) throws(SystemError) {
        try epoll.add(connection.fd, token: connection.token.rawValue, events: connection.interest)
        connections.insert(connection)
        deadlines.scheduleIfUnset(.idleConnections, at: now + 1000)
    }

    /// One wake-up of a built-in connection: its I/O (`BuiltinConnection`),
    /// then its end or the events it wants next.
    func serveBuiltin(_ c: BuiltinConnection, _ events: Epoll.Events) {
        c.lastActivity = monotonicMilliseconds()
        guard c.serve(events, scratch: datagrams.buffer), !c.isDone else { return finish(c) }
        let wanted = c.wantedEvents
        if wanted != c.interest {
            c.interest = wanted
            do {
                try epoll.modify(c.fd, token: c.token.rawValue, events: wanted)
            } catch {
                finish(c)
            }
        }
    }

    /// Closes a connection the loop holds; its service may accept again.
    func finish(_ c: LoopConnection) {
        try? epoll.remove(c.fd)
        c.fd.close()
        connections.remove(c)
        if let builtin = c as? BuiltinConnection { releaseSource(builtin.source) }
        listeners.forEachListener(of: c.state) { reconcile($0) }
    }

    /// Drops connections idle for longer than their service's `timeout=`
    /// (60 s by default); checked once a second while any is open, and once
    /// more after the last one closed.
    func closeIdleConnections(now: Int64) {
        for case let c as BuiltinConnection in connections.all where now - c.lastActivity >= c.idleLimitMilliseconds {
            if log.verbose { log.debug("builtin_idle", ("service", c.state.label)) }
            finish(c)
        }
        dropLateHeaders(now: now)
        // The buffers of a burst's connections are freed as each closes, but
        // glibc keeps the pages in its heap: 10,000 connections left 42 MB
        // resident until the next reload trimmed it. Once the burst is over,
        // they go back: malloc_trim, at most once a second and only after 64
        // or more have closed. Its cost is the kernel's freeing of the pages,
        // about 6-15 ms for 40 MB on a loaded 2-core machine, in proportion
        // for less.
        if connections.burstEnded {
            connections.shrink()
            releaseFreeHeap()
        }
        if connections.count > 0 { deadlines.schedule(.idleConnections, at: now + 1000) }
    }

    // MARK: - UDP

    /// Answers the datagrams waiting on a UDP built-in, at most 64 a turn so
    /// that a flood cannot hold the loop (a recvfrom and a sendto each, at
    /// most 64 KiB: a few ms at worst; the receive queue holds only a few
    /// datagrams that large).
    func answerDatagrams(_ listener: Listener, _ kind: BuiltinKind) {
        guard let fd = listener.fd else { return }
        let state = listener.state
        let buffer = datagrams.buffer
        for _ in 0..<64 {
            // Over its rate: datagrams wait in the receive queue.
            guard accepting(listener) else { return }
            var peer = PeerBuffer()
            guard case .done(let got)? = try? Socket.receiveDatagram(fd, into: buffer, from: &peer) else { return }
            state.accepted += 1
            guard datagrams.acceptableSource(&peer) else {
                if log.verbose { log.debug("builtin_dropped", ("service", state.label), ("peer", peer.address().description)) }
                continue
            }
            guard admitDatagram(from: &peer, state: state) else { continue }
            countStart(state)
            switch kind {
            case .echo: datagrams.reply(fd, &peer, UnsafeRawBufferPointer(rebasing: buffer[0..<got]))
            case .discard: break
            case .chargen:
                let length = Int.random(in: 0...512)
                chargenPattern.withUnsafeBytes { datagrams.reply(fd, &peer, UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
            case .daytime: BuiltinKind.daytimeReply().withUnsafeBytes { datagrams.reply(fd, &peer, $0) }
            case .time: BuiltinKind.timeReply().withUnsafeBytes { datagrams.reply(fd, &peer, $0) }
            }
        }
    }
}
