import Glibc

/// `proxy` lines: a connection from a trusted balancer waits in the loop
/// (`PendingHeader`, in `ConnectionTable`) until its PROXY header is whole,
/// then is judged and served as the client the header names. The header is
/// peeked until whole and then exactly its bytes are taken: the handler
/// reads what the client sent, from its first byte.
extension Daemon {
    /// Connections waiting for a header, all services together. Each costs
    /// a descriptor and about 200 bytes; past this the newest is closed at
    /// once, counted and logged. Per service they also count against
    /// `max=`, so a service's silent connections hold only its own clients
    /// back.
    static let maxAwaitingHeaders = 1024

    enum ProxyDisposition { case readHeader, serveAsItself, refuse }

    /// Whether a connection's header is read: from a source `proxy-from=`
    /// names (any source without it; any peer of a unix line, whom the
    /// socket's mode and owner admit), yes; from elsewhere it is served as
    /// itself, or refused with `proxy=required`.
    func proxyDisposition(_ policy: ProxyPolicy, peer: inout PeerBuffer, unix: Bool) -> ProxyDisposition {
        guard !unix, let trusted = policy.trusted else { return .readHeader }
        if let address = peer.ipAddress, trusted.admits(address) { return .readHeader }
        return policy.required ? .refuse : .serveAsItself
    }

    /// Reads an accepted connection's header, serving its client when it is
    /// whole, or takes the connection into the loop until the rest comes.
    /// False when the connection was refused: the caller closes it (counted
    /// and logged here). A balancer sends its header as it connects, so it
    /// is usually whole at once, and the loop registers nothing.
    func awaitHeader(_ connection: FileDescriptor, peer: inout PeerBuffer, on listener: Listener,
                     policy: ProxyPolicy) -> Bool {
        let state = listener.state
        switch peekHeader(connection) {
        case .whole(let header):
            headerArrived(connection, header, on: listener, balancer: &peer)
            return true
        case .failed(let reason):
            refuseHeader(state, peer: &peer, reason: reason)
            return false
        case .partial:
            break
        }
        guard connections.awaitingHeaders < Self.maxAwaitingHeaders else {
            refuseHeader(state, peer: &peer, reason: "too many connections waiting for a header")
            return false
        }
        let now = monotonicMilliseconds()
        let token = connections.reserve()
        let pending = PendingHeader(fd: connection, listener: listener, token: token, balancer: peer, now: now,
                                    deadline: now + policy.timeoutMilliseconds)
        do {
            try enterLoop(pending, now: now)
        } catch {
            connections.release(token)
            log.error("proxy_failed", ("service", state.label), ("error", "\(error)"))
            return false
        }
        // The rest may have come between the peek and the registration,
        // and an edge-triggered registration reports only what comes after.
        readHeader(pending)
        return true
    }

    enum HeaderSoFar {
        case whole(ProxyHeader)
        case partial
        case failed(String)
    }

    /// What has arrived of a connection's header, left in place.
    func peekHeader(_ fd: FileDescriptor) -> HeaderSoFar {
        let window = UnsafeMutableRawBufferPointer(rebasing: datagrams.buffer[0..<ProxyHeader.maxLength])
        let got: Int
        switch try? Socket.peek(fd, into: window) {
        case .done(let n)?: got = n
        case .wouldBlock?: return .partial
        case nil: return .failed("connection failed before its header")
        }
        guard got > 0 else { return .failed("closed before its header was whole") }
        switch ProxyHeader.parse(UnsafeRawBufferPointer(rebasing: window[0..<got])) {
        case .incomplete: return .partial
        case .invalid(let failure): return .failed(failure.description)
        case .header(let header): return .whole(header)
        }
    }

    /// A connection in the loop woke: its header whole, it is served; bad
    /// or cut, closed; a part waits for the next edge (or the deadline).
    func readHeader(_ pending: PendingHeader) {
        switch peekHeader(pending.fd) {
        case .partial: return
        case .failed(let reason): dropHeader(pending, reason: reason)
        case .whole(let header):
            leaveLoop(pending)
            headerArrived(pending.fd, header, on: pending.listener, balancer: &pending.balancer)
        }
    }

    /// The header is whole: its bytes are taken off the connection, which is
    /// judged and served as the client the header names, then closed here.
    private func headerArrived(_ connection: FileDescriptor, _ header: ProxyHeader, on listener: Listener,
                               balancer: inout PeerBuffer) {
        let state = listener.state
        let taken = (try? Socket.consume(connection, header.length, scratch: datagrams.buffer)) ?? 0
        defer {
            connection.close()
            handlerExited(state)
        }
        guard taken == header.length else {
            return refuseHeader(state, peer: &balancer, reason: "header bytes could not be taken")
        }
        var peer = balancer
        var proxied: ProxiedEndpoints?
        if let addresses = header.addresses {
            peer = PeerBuffer(addresses.source, port: addresses.sourcePort)
            proxied = ProxiedEndpoints(local: PeerBuffer(addresses.destination, port: addresses.destinationPort),
                                       balancer: balancer)
        }
        let unixPeer = listener.endpoint.kind == .unix && proxied == nil
        guard case .admitted(let source) = admit(connection, peer: &peer, state: state, unix: unixPeer) else { return }
        serve(connection, peer: &peer, on: listener, source: source, proxied: proxied)
    }

    /// Closes a connection whose header did not come right: counted, and
    /// logged once per episode.
    func dropHeader(_ pending: PendingHeader, reason: String) {
        leaveLoop(pending)
        pending.fd.close()
        refuseHeader(pending.state, peer: &pending.balancer, reason: reason)
        handlerExited(pending.state)
    }

    /// Headers past their time; called with the idle check, once a second
    /// while any connection is in the loop.
    func dropLateHeaders(now: Int64) {
        for case let pending as PendingHeader in connections.all where now >= pending.deadline {
            dropHeader(pending, reason: "no header within \((pending.deadline - pending.lastActivity) / 1000) s")
        }
    }

    private func leaveLoop(_ pending: PendingHeader) {
        try? epoll.remove(pending.fd)
        connections.remove(pending)
    }

    func refuseHeader(_ state: ServiceState, peer: inout PeerBuffer, reason: String) {
        state.counters.proxyRefused += 1
        guard log.admit(.warn, "proxy_refused", service: state.label) else { return }
        log.warn("proxy_refused", ("service", state.label), ("peer", peer.address().description), ("reason", reason),
                 ("action", "closed"))
    }
}
