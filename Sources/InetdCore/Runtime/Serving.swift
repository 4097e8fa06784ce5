import Glibc

/// nowait stream services: one handler per connection.
extension Daemon {
    /// Connections one listener may accept in one turn; the listener is
    /// level-triggered, so the rest are taken next turn, after every other
    /// ready event has had its share. A spawn costs about 35-45 us of the
    /// loop (docs/benchmarks.md; the child execs on its own, overlapped):
    /// a few hundred microseconds at most, and one epoll_wait more per
    /// budget is well under 1 % of what the connections themselves cost.
    static let spawnAcceptBudget = 8

    /// One handler for each pending connection, at most `spawnAcceptBudget`
    /// a turn.
    func acceptAll(_ listener: Listener) {
        guard let fd = listener.fd else { return }
        var peer = PeerBuffer()
        var budget = Self.spawnAcceptBudget
        while budget > 0 {
            budget -= 1
            // At its cap or over its rate the socket leaves the loop: clients
            // wait in the backlog until a handler exits (`handlerExited`) or
            // the next start is allowed (`endHold`).
            guard accepting(listener) else { return }
            guard spawnSlotReady(for: listener) else { return }
            let accepted: Socket.Accepted
            do {
                accepted = try Socket.accept(fd, peer: &peer)
            } catch {
                switch error.errno {
                case ECONNABORTED, EPROTO, EPERM, ENETDOWN, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH, ENETUNREACH:
                    continue  // that connection is gone; others may wait
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    shed(listener, error)
                default:
                    // Level-triggered: left in the loop, a lasting error
                    // would be hit again on every turn.
                    log.error("accept_failed", ("service", listener.state.label), ("error", "\(error)"))
                    backOff(listener.state, reason: "\(error)")
                }
                return
            }
            guard case .connection(let connection) = accepted else { return }
            listener.state.accepted += 1
            let unix = listener.endpoint.kind == .unix
            if let policy = listener.state.limits.proxy {
                switch proxyDisposition(policy, peer: &peer, unix: unix) {
                case .readHeader:
                    // Served once its header is read, now or in the loop
                    // (`HeaderReading.swift`), or refused and closed here.
                    if !awaitHeader(connection, peer: &peer, on: listener, policy: policy) { connection.close() }
                    continue
                case .refuse:
                    refuseHeader(listener.state, peer: &peer, reason: "not from a proxy-from= source")
                    connection.close()
                    continue
                case .serveAsItself:
                    break
                }
            }
            if case .admitted(let source) = admit(connection, peer: &peer, state: listener.state, unix: unix) {
                serve(connection, peer: &peer, on: listener, source: source)
            }
            connection.close()
        }
    }

    /// Whether the listener may take one more connection now: its phase,
    /// judged anew after each (a spawn may have reached the cap or used the
    /// last token); if not, epoll is made to agree.
    func accepting(_ listener: Listener) -> Bool {
        let now = phase(of: listener)
        if now == .listening { return true }
        if now == .atCap {
            listener.state.counters.atCap += 1
            if log.verbose { log.debug("at_cap", ("service", listener.state.label)) }
        }
        reconcile(listener)
        return false
    }

    /// Out of descriptors: give up the reserve, accept one connection and
    /// close it on purpose, so the loop does not spin on a full backlog.
    func shed(_ listener: Listener, _ error: SystemError) {
        descriptors.withReserveReleased {
            var peer = PeerBuffer()
            guard let fd = listener.fd, case .connection(let c)? = try? Socket.accept(fd, peer: &peer) else { return }
            c.close()
            if log.admit(.error, "connection_shed", service: listener.state.label) {
                log.error("connection_shed", ("service", listener.state.label), ("peer", peer.address().description),
                          ("error", "\(error)"))
            }
        }
    }

    /// One handler for one connection (`Launch.connection`).
    func serve(_ connection: FileDescriptor, peer: inout PeerBuffer, on listener: Listener, source: SourceKey?,
               proxied: ProxiedEndpoints? = nil) {
        let state = listener.state
        guard let program = state.program else { return releaseSource(source) }
        launch(.connection(connection, peer: peer, on: listener, source: source, proxied: proxied), state, program)
    }

    /// `LISTEN_PID=` and a pid of up to 20 digits, with its NUL.
    static let listenPIDCapacity = 32

    /// UCSPI variables: PROTO and the TCP addresses, IPv4-mapped peers
    /// shown as IPv4; for unix, the peer's ids from SO_PEERCRED
    /// (ucspi-unix's names). A client a PROXY header named is the TCP
    /// client whatever the listener, the address it reached is TCPLOCAL*,
    /// and an IP balancer is PROXYREMOTEIP and PROXYREMOTEPORT.
    func connectionVariables(_ connection: FileDescriptor, peer: inout PeerBuffer, listener: Listener,
                             proxied: ProxiedEndpoints?, into variables: inout VariableWriter) {
        if proxied == nil, listener.endpoint.kind == .unix {
            variables.add("PROTO", "UNIX")
            if let credentials = try? PeerCredentials.of(connection) {
                variables.add("UNIXREMOTEEUID", number: credentials.uid)
                variables.add("UNIXREMOTEEGID", number: credentials.gid)
                variables.add("UNIXREMOTEPID", number: credentials.pid)
            }
            return
        }
        withUnsafeBytes(of: &peer.storage) { remote in
            let v6 = VariableWriter.isIPv6(remote) && !VariableWriter.isMappedIPv4(remote)
            variables.add("PROTO", v6 ? "TCP6" : "TCP")
            variables.add(address: "TCPREMOTEIP", port: "TCPREMOTEPORT", from: remote)
        }
        if var proxied {
            withUnsafeBytes(of: &proxied.local.storage) { variables.add(address: "TCPLOCALIP", port: "TCPLOCALPORT", from: $0) }
            if proxied.balancer.ipAddress != nil {
                withUnsafeBytes(of: &proxied.balancer.storage) {
                    variables.add(address: "PROXYREMOTEIP", port: "PROXYREMOTEPORT", from: $0)
                }
            }
            return
        }
        if listener.endpoint.address.isWildcard {
            var local = PeerBuffer()
            if (try? Socket.localAddress(connection, into: &local)) != nil {
                withUnsafeBytes(of: &local.storage) { variables.add(address: "TCPLOCALIP", port: "TCPLOCALPORT", from: $0) }
                return
            }
        }
        listener.endpoint.address.withSockaddrBytes { variables.add(address: "TCPLOCALIP", port: "TCPLOCALPORT", from: $0) }
    }
}
