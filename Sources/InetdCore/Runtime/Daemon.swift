import Glibc
import _InetdSystem

/// The superserver: one epoll loop over every listening socket and a
/// signalfd. Nothing in it blocks but epoll_wait.
public final class Daemon {
    public struct Settings {
        public var configPath: String
        public var verbose: Bool
        public var notifyFD: FileDescriptor?

        public init(configPath: String, verbose: Bool, notifyFD: FileDescriptor?) {
            self.configPath = configPath
            self.verbose = verbose
            self.notifyFD = notifyFD
        }
    }

    static let bindRetryMilliseconds: Int64 = 60_000
    static let stopGraceMilliseconds: Int64 = 10_000
    static let signalToken: UInt64 = 0

    let configPath: String
    let log: Log
    let lookup: any NameLookup = SystemLookup()
    var epoll: Epoll
    let signals: SignalChannel
    var readiness: Readiness
    /// What every handler inherits: inetd's environment, cleaned once.
    let environment = HandlerEnvironment(inheritableEnvironment())
    let devNull: FileDescriptor
    /// Held open so that a connection can still be accepted and shed at
    /// EMFILE instead of being left to wake the loop again and again.
    var reserveFD: FileDescriptor?
    /// RLIMIT_NOFILE after start-up raised the soft limit to the hard one.
    var descriptorLimit: DescriptorLimit?
    /// Descriptors that binding may still use, counted at the start of each
    /// binding pass; nil when /proc/self/fd cannot be read.
    var bindRoom: Int?

    /// Slot 0 is the signalfd; a listener's token names its slot.
    var listeners: [Listener?] = [nil]
    var freeSlots: [Int] = []
    var generation: UInt32 = 0
    var byEndpoint: [Endpoint: Listener] = [:]
    /// Endpoints in configuration order, for logs and the state dump.
    var endpointOrder: [Endpoint] = []
    var services: [ServiceState] = []
    var children: [pid_t: Child] = [:]
    /// TCP connections to built-in services; a token with `connectionFlag`
    /// names a slot here.
    var connections: [BuiltinConnection?] = []
    var freeConnectionSlots: [Int] = []
    var idleCheckAt: Int64?
    /// Ports of the UDP built-ins configured now: never answered.
    var builtinUDPPorts: Set<UInt16> = []
    /// One datagram at a time, for UDP built-ins.
    let datagramBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)

    var bindRetryAt: Int64?
    /// The earliest `resumeAt` of any listener in back-off.
    var earliestResume: Int64?
    var stopDeadline: Int64?
    /// Process groups of the wait handlers signalled at stop, until none of
    /// their processes is left; checked again at `stopCheckAt`.
    var stopGroups: [pid_t: String] = [:]
    var stopCheckAt: Int64?
    var stopping = false
    var finished = false
    /// Ready events of one epoll_wait, handled after it returns.
    var ready: [(UInt64, UInt32)] = []

    public init(_ settings: Settings) throws(SystemError) {
        configPath = settings.configPath
        log = Log(verbose: settings.verbose)
        // As OpenBSD's inetd: the soft descriptor limit (often 1024) up to
        // the hard one, so that sockets, connections and reloads do not run
        // out long before the system would let them.
        do {
            let (before, after) = try DescriptorLimit.raiseSoftToHard()
            descriptorLimit = after
            if before != after { inetd_spawn_set_handler_nofile(UInt(before.soft), UInt(before.hard)) }
            if before != after, log.verbose {
                log.debug("descriptor_limit", ("soft", "\(after.soft)"), ("hard", "\(after.hard)"),
                          ("raised_from", "\(before.soft)"))
            }
        } catch {
            log.warn("descriptor_limit", ("error", "\(error)"))
            descriptorLimit = try? DescriptorLimit.current()
        }
        signals = try SignalChannel()
        epoll = try Epoll()
        devNull = try FileDescriptor.open("/dev/null", O_RDWR)
        reserveFD = try FileDescriptor.open("/dev/null", O_RDONLY)
        readiness = Readiness(notifyFD: settings.notifyFD, log: log)
        try epoll.add(signals.fd, token: Self.signalToken)
    }

    /// Loads the configuration, binds, reports readiness and serves until
    /// SIGTERM or SIGINT. Returns the exit status.
    public func run() -> Int32 {
        // Start-up runs in phases (runtime and argument set-up, loading with
        // NSS look-ups, binding) whose code is not needed afterwards. Each
        // phase's code pages are released at its end (clean file pages: they
        // stay in the page cache and come back on use), so memory peaks at
        // the largest phase instead of at their sum. docs/benchmarks.md.
        _ = inetd_release_code_pages()
        let configuration: LoadedConfiguration
        do {
            configuration = try LoadedConfiguration.load(path: configPath, lookup: lookup, lookUpGroups: false)
        } catch {
            log.error("config_unreadable", ("file", configPath), ("error", "\(error)"))
            return 1
        }
        report(configuration)
        _ = inetd_release_code_pages()
        apply(configuration.services)
        readiness.ready()
        log.info("ready", ("config", configPath), ("services", "\(services.count)"),
                 ("sockets", "\(byEndpoint.values.filter { $0.fd != nil }.count)"))
        if services.isEmpty { log.warn("idle", ("reason", "no valid service; send SIGHUP after fixing the file")) }
        _ = inetd_release_code_pages()
        while !finished {
            do {
                try turn()
            } catch {
                log.error("loop_failed", ("error", "\(error)"))
                return 111
            }
        }
        log.flushSummaries()
        log.info("stopped")
        return 0
    }

    func report(_ configuration: LoadedConfiguration) {
        for diagnostic in configuration.diagnostics {
            if diagnostic.severity == .error {
                log.error("config_error", ("error", diagnostic.description))
            } else {
                log.warn("config_warning", ("warning", diagnostic.description))
            }
        }
    }

    /// One epoll_wait and the work it brings.
    func turn() throws(SystemError) {
        let timeout = log.timeout(millisecondsToNextTimer())
        ready.removeAll(keepingCapacity: true)
        try epoll.wait(timeout: timeout) { token, events in ready.append((token, events)) }
        log.tick()
        for (token, events) in ready {
            if token == Self.signalToken {
                try handleSignals()
                continue
            }
            if token & Self.connectionFlag != 0 {
                handleConnection(token, events)
                continue
            }
            let slot = Int(token & 0xFFFF_FFFF)
            // A token from a listener closed since (reload) no longer matches.
            guard slot < listeners.count, let listener = listeners[slot], listener.token == token else { continue }
            if listener.countingArrivals {
                arrived(listener)
                continue
            }
            guard listener.polled else { continue }
            if events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
                log.warn("socket_condition", ("service", listener.state.label), ("events", "\(events)"))
            }
            if let kind = listener.builtin {
                if listener.endpoint.socketType == .dgram { answerDatagrams(listener, kind) } else { acceptBuiltin(listener, kind) }
            } else if listener.handsOverSocket {
                handOver(listener)
            } else {
                acceptAll(listener)
            }
        }
        runTimers()
    }

    /// Handles what arrived in a fixed order: children are reaped before a
    /// reload or a stop looks at them.
    func handleSignals() throws(SystemError) {
        let received = try signals.drain()
        if received.contains(.child) { stopping ? reapDuringStop() : reap() }
        if received.contains(.user1) { dumpState() }
        if received.contains(.user2) {
            log.warn("signal_ignored", ("signal", Signal.user2.name), ("reason", "re-exec is not supported yet"))
        }
        if received.contains(.hangup), !stopping { reload() }
        if received.contains(.terminate) { beginStop(.terminate) }
        if received.contains(.interrupt) { beginStop(.interrupt) }
    }

    // MARK: - Serving

    /// nowait stream: one handler for each pending connection, at most
    /// `spawnAcceptBudget` a turn; the listener is level-triggered, so the
    /// rest are taken next turn, after the other ready events.
    func acceptAll(_ listener: Listener) {
        guard let fd = listener.fd else { return }
        var peer = PeerBuffer()
        var budget = Self.spawnAcceptBudget
        while listener.polled, budget > 0 {
            budget -= 1
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
                    backOff(listener, reason: "\(error)")
                }
                return
            }
            guard case .connection(let connection) = accepted else { return }
            serve(connection, peer: &peer, on: listener)
            connection.close()
        }
    }

    /// Out of descriptors: give up the reserve, accept one connection and
    /// close it on purpose, so the loop does not spin on a full backlog.
    func shed(_ listener: Listener, _ error: SystemError) {
        reserveFD?.close()
        reserveFD = nil
        var peer = PeerBuffer()
        if let fd = listener.fd, case .connection(let c)? = try? Socket.accept(fd, peer: &peer) {
            c.close()
            if log.admit(.error, "connection_shed", service: listener.state.label) {
                log.error("connection_shed", ("service", listener.state.label), ("peer", peer.address().description),
                          ("error", "\(error)"))
            }
        }
        reserveFD = try? FileDescriptor.open("/dev/null", O_RDONLY)
    }

    /// One handler for one connection. Allocates nothing and formats no
    /// text unless a line is logged.
    func serve(_ connection: FileDescriptor, peer: inout PeerBuffer, on listener: Listener) {
        let state = listener.state
        state.accepted += 1
        guard let program = state.program else { return }
        let c = connection.rawValue
        let result = program.spawn(fds: (c, c, state.stderrToSocket ? c : 2)) { variables in
            connectionVariables(connection, peer: &peer, listener: listener, into: &variables)
        }
        switch result {
        case .success(let pid):
            started(pid, state: state, listener: nil)
            if log.verbose {
                log.debug("connection", ("service", state.label), ("peer", peer.address().description), ("pid", "\(pid)"))
            }
        case .failure(let error):
            state.execFailures += 1
            if log.admit(.error, "spawn_failed", service: state.label) {
                log.error("spawn_failed", ("service", state.label), ("peer", peer.address().description),
                          ("error", "\(error)"), ("action", "connection closed"))
            }
        }
    }

    /// UCSPI variables: PROTO and the TCP addresses, IPv4-mapped peers
    /// shown as IPv4.
    func connectionVariables(_ connection: FileDescriptor, peer: inout PeerBuffer, listener: Listener,
                             into variables: inout VariableWriter) {
        if listener.endpoint.kind == .unix {
            variables.add("PROTO", "UNIX")
            return
        }
        withUnsafeBytes(of: &peer.storage) { remote in
            let v6 = VariableWriter.isIPv6(remote) && !VariableWriter.isMappedIPv4(remote)
            variables.add("PROTO", v6 ? "TCP6" : "TCP")
            variables.add(address: "TCPREMOTEIP", port: "TCPREMOTEPORT", from: remote)
        }
        if listener.endpoint.address.isWildcard {
            var local = PeerBuffer()
            let found = withUnsafeMutablePointer(to: &local.storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(connection.rawValue, $0, &local.length) == 0 }
            }
            if found {
                withUnsafeBytes(of: &local.storage) { variables.add(address: "TCPLOCALIP", port: "TCPLOCALPORT", from: $0) }
                return
            }
        }
        listener.endpoint.address.withSockaddrBytes { variables.add(address: "TCPLOCALIP", port: "TCPLOCALPORT", from: $0) }
    }

    /// wait (stream or dgram) and nowait dgram: the handler gets the socket
    /// itself, in blocking mode, and the socket leaves the loop until the
    /// handler is reaped.
    func handOver(_ listener: Listener) {
        guard let fd = listener.fd else { return }
        let state = listener.state
        guard let program = state.program else { return }
        unpoll(listener)
        do {
            try fd.setNonBlocking(false)
        } catch {
            log.error("handover_failed", ("service", state.label), ("error", "\(error)"))
        }
        let wait = state.wait
        let proto: StaticString = listener.endpoint.kind == .unix ? "UNIX" : "UDP"
        notePendingInput(listener)
        listener.handedOverAt = monotonicMilliseconds()
        countArrivals(listener)
        let result = program.spawn(fds: (fd.rawValue, fd.rawValue, 2)) { variables in
            if !wait { variables.add("PROTO", proto) }
        }
        switch result {
        case .success(let pid):
            listener.holder = pid
            started(pid, state: state, listener: listener)
            if log.verbose { log.debug("handover", ("service", state.label), ("pid", "\(pid)")) }
        case .failure(let error):
            state.execFailures += 1
            try? fd.setNonBlocking(true)
            dropPending(listener)
            backOff(listener, reason: "\(error)")
            if log.admit(.error, "spawn_failed", service: state.label) {
                log.error("spawn_failed", ("service", state.label), ("error", "\(error)"),
                          ("action", "pending input dropped, retry in \(listener.backoffMilliseconds) ms"))
            }
        }
    }

    /// After a failed hand-over, the input that woke the loop is consumed, so
    /// that it cannot wake the loop again: one connection closed, or one
    /// datagram discarded.
    func dropPending(_ listener: Listener) {
        guard let fd = listener.fd else { return }
        if listener.endpoint.socketType == .dgram {
            _ = recv(fd.rawValue, nil, 0, CInt(MSG_DONTWAIT))
        } else {
            var peer = PeerBuffer()
            if case .connection(let c)? = try? Socket.accept(fd, peer: &peer) { c.close() }
        }
    }

    func started(_ pid: pid_t, state: ServiceState, listener: Listener?) {
        state.spawned += 1
        state.active += 1
        children[pid] = Child(state: state, wait: state.wait, listener: listener, started: monotonicMilliseconds())
    }

    // MARK: - Polling

    func poll(_ listener: Listener) {
        guard !listener.polled, !stopping, let fd = listener.fd, listener.holder == nil,
              listener.resumeAt == nil else { return }
        do {
            try epoll.add(fd, token: listener.token)
            listener.polled = true
        } catch {
            log.error("poll_failed", ("service", listener.state.label), ("error", "\(error)"))
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

extension SocketAddress {
    /// `::ffff:a.b.c.d` as `a.b.c.d`; any other address unchanged.
    func unmappingIPv4() -> SocketAddress {
        guard family == .inet6 else { return self }
        let b = addressBytes
        guard b[0..<10].allSatisfy({ $0 == 0 }), b[10] == 0xFF, b[11] == 0xFF else { return self }
        return SocketAddress(ipv4: (b[12], b[13], b[14], b[15]), port: port)
    }
}
