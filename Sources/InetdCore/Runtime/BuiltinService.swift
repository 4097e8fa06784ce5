import Glibc
import _InetdSystem

/// The services inetd answers itself (SPEC 4), inside the event loop: no
/// process is spawned, nothing blocks. A TCP client costs one descriptor and
/// one bounded buffer, and is dropped once idle; a UDP request is answered
/// only when its source cannot be another datagram service (the echo and
/// chargen loop of CERT CA-1996-01).
/// RFC 864's pattern: 95 lines of 72 printable characters, each starting one
/// character later than the one before, every line ended by CR LF.
let chargenPattern: [UInt8] = {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(95 * 74)
    for line in 0..<95 {
        for column in 0..<72 { bytes.append(UInt8(32 + (line + column) % 95)) }
        bytes.append(0x0D)
        bytes.append(0x0A)
    }
    return bytes
}()

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
        let cap = state.builtinCap
        var peer = PeerBuffer()
        var budget = Self.builtinAcceptBudget
        while listener.polled, budget > 0 {
            budget -= 1
            if cap > 0, connections.active(state) >= cap {
                unpoll(listener)
                return
            }
            let accepted: Socket.Accepted
            do {
                accepted = try Socket.accept(fd, peer: &peer, nonBlocking: true)
            } catch {
                if error.errno == EMFILE || error.errno == ENFILE { shed(listener, error) }
                return
            }
            guard case .connection(let connection) = accepted else { return }
            state.accepted += 1
            switch kind {
            case .daytime, .time:
                let reply = kind == .time ? timeReply() : daytimeReply()
                _ = reply.withUnsafeBytes { try? Socket.send(connection, $0) }
                connection.close()
            case .echo, .discard, .chargen:
                open(connection, kind, state)
            }
        }
    }

    func open(_ connection: FileDescriptor, _ kind: BuiltinKind, _ state: ServiceState) {
        let token = connections.reserve()
        let builtin = BuiltinConnection(fd: connection, kind: kind, state: state, token: token,
                                        now: monotonicMilliseconds())
        do {
            try Socket.capBuffers(connection, bytes: Self.builtinSocketBuffer)
            try epoll.add(connection, token: token.rawValue, events: builtin.interest)
        } catch {
            log.error("builtin_failed", ("service", state.label), ("error", "\(error)"))
            connection.close()
            connections.release(token)
            return
        }
        connections.insert(builtin)
        deadlines.scheduleIfUnset(.idleConnections, at: monotonicMilliseconds() + 1000)
    }

    func serveBuiltin(_ c: BuiltinConnection, _ events: Epoll.Events) {
        c.lastActivity = monotonicMilliseconds()
        if !events.isDisjoint(with: Epoll.Events.input) {
            guard readInput(c) else { return finish(c) }
        }
        if c.kind == .echo, c.pending > 0 || events.contains(.writable) {
            guard flushEcho(c) else { return finish(c) }
        } else if c.kind == .chargen, events.contains(.writable) {
            guard writeChargen(c) else { return finish(c) }
        }
        // echo ends once the client has closed and everything went back;
        // discard and chargen end when the client closes.
        if c.inputClosed, c.kind != .echo || c.pending == 0 { return finish(c) }
        var wanted: Epoll.Events = [.error, .hangUp]
        if !c.inputClosed && (c.kind != .echo || c.pending < BuiltinConnection.bufferSize) { wanted.insert(.readable) }
        if c.kind == .chargen || c.pending > 0 { wanted.insert(.writable) }
        if wanted != c.interest {
            c.interest = wanted
            do {
                try epoll.modify(c.fd, token: c.token.rawValue, events: wanted)
            } catch {
                finish(c)
            }
        }
    }

    /// Reads at most once per wake-up (echo: up to its free room; discard:
    /// up to 64 KiB, more than its capped receive buffer holds), so that a
    /// client that sends without pause cannot hold the loop: the socket is
    /// level-triggered and the rest is read next turn. False when the
    /// connection failed.
    func readInput(_ c: BuiltinConnection) -> Bool {
        if c.kind == .echo {
            let room = BuiltinConnection.bufferSize - c.pending
            guard room > 0 else { return true }
            let free = UnsafeMutableRawBufferPointer(rebasing: c.buffer[c.pending..<(c.pending + room)])
            guard let got = try? Socket.receive(c.fd, into: free) else { return false }
            if case .done(let n) = got { if n > 0 { c.pending += n } else { c.inputClosed = true } }
            return true
        }
        guard let got = try? Socket.receive(c.fd, into: datagrams.buffer) else { return false }
        if case .done(0) = got { c.inputClosed = true }
        return true
    }

    func flushEcho(_ c: BuiltinConnection) -> Bool {
        guard c.pending > 0 else { return true }
        guard let sent = try? Socket.send(c.fd, UnsafeRawBufferPointer(rebasing: c.buffer[0..<c.pending])) else { return false }
        guard case .done(let n) = sent else { return true }
        // copyMemory is memmove: the ranges may overlap.
        if n < c.pending { c.buffer.baseAddress!.copyMemory(from: c.buffer.baseAddress! + n, byteCount: c.pending - n) }
        c.pending -= n
        return true
    }

    func writeChargen(_ c: BuiltinConnection) -> Bool {
        let end = min(chargenPattern.count, c.chargenOffset + BuiltinConnection.bufferSize)
        let sent = chargenPattern.withUnsafeBytes { pattern in
            try? Socket.send(c.fd, UnsafeRawBufferPointer(rebasing: pattern[c.chargenOffset..<end]))
        }
        guard let sent else { return false }
        guard case .done(let n) = sent else { return true }
        c.chargenOffset = (c.chargenOffset + n) % chargenPattern.count
        return true
    }

    /// Closes a built-in connection; its service may accept again.
    func finish(_ c: BuiltinConnection) {
        try? epoll.remove(c.fd)
        c.fd.close()
        connections.remove(c)
        for listener in listeners.listeners(of: c.state) { poll(listener) }
    }

    /// Drops connections idle for longer than their service's `timeout=`
    /// (60 s by default); checked once a second while any is open.
    func closeIdleConnections(now: Int64) {
        for c in connections.all where now - c.lastActivity >= c.idleLimitMilliseconds {
            if log.verbose { log.debug("builtin_idle", ("service", c.state.label)) }
            finish(c)
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
            var peer = PeerBuffer()
            guard case .done(let got)? = try? Socket.receiveDatagram(fd, into: buffer, from: &peer) else { return }
            state.accepted += 1
            guard acceptableSource(&peer) else {
                if log.verbose { log.debug("builtin_dropped", ("service", state.label), ("peer", peer.address().description)) }
                continue
            }
            switch kind {
            case .echo: reply(fd, &peer, UnsafeRawBufferPointer(rebasing: buffer[0..<got]))
            case .discard: break
            case .chargen:
                let length = Int.random(in: 0...512)
                chargenPattern.withUnsafeBytes { reply(fd, &peer, UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
            case .daytime: daytimeReply().withUnsafeBytes { reply(fd, &peer, $0) }
            case .time: timeReply().withUnsafeBytes { reply(fd, &peer, $0) }
            }
        }
    }

    func reply(_ fd: FileDescriptor, _ peer: inout PeerBuffer, _ bytes: UnsafeRawBufferPointer) {
        _ = try? Socket.sendDatagram(fd, bytes, to: peer)
    }

    /// No reply to a privileged or built-in source port, nor to an address
    /// that is broadcast, multicast, unspecified or IPv4-mapped.
    func acceptableSource(_ peer: inout PeerBuffer) -> Bool {
        withUnsafeBytes(of: &peer.storage) { raw in
            let port = UInt16(bigEndian: raw.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            if port < 1024 || BuiltinKind.wellKnownPorts.contains(port) || datagrams.ports.contains(port) { return false }
            switch raw.load(as: sa_family_t.self) {
            case sa_family_t(AF_INET):
                let first = raw[4]
                // 0/8 (unspecified), 224/4 multicast, 240/4 and the broadcast address.
                return first != 0 && first < 224
            case sa_family_t(AF_INET6):
                let address = raw[8..<24]
                if address.allSatisfy({ $0 == 0 }) || raw[8] == 0xFF { return false }
                // ::ffff:a.b.c.d and the deprecated ::a.b.c.d.
                if raw[8..<18].allSatisfy({ $0 == 0 }) {
                    if raw[18] == 0xFF, raw[19] == 0xFF { return false }
                    if raw[18] == 0, raw[19] == 0, !(raw[20..<23].allSatisfy { $0 == 0 } && raw[23] == 1) { return false }
                }
                return true
            default:
                return false
            }
        }
    }

    // MARK: - Answers

    /// RFC 867: the local date and time as text.
    func daytimeReply() -> [UInt8] {
        WallClock.daytime()
    }

    /// RFC 868: seconds since 1900-01-01 as 32 bits, big-endian.
    func timeReply() -> [UInt8] {
        withUnsafeBytes(of: WallClock.rfc868Seconds().bigEndian) { Array($0) }
    }
}
