import Glibc
import _InetdSystem

/// The superserver: one epoll loop over every listening socket, the
/// connections it serves itself and a signalfd. Nothing in it blocks but
/// epoll_wait. The daemon keeps the loop and the dispatch; each kind of state
/// has one owner (docs/DESIGN.md, "Who owns what").
public final class Daemon {
    public struct Settings {
        public var configPath: String
        public var verbose: Bool
        public var notifyFD: FileDescriptor?
        /// `-E`: handlers get inetd's whole environment (SPEC 3).
        public var keepEnvironment: Bool
        /// What inetd was started with under LISTEN_FDS, for the first load.
        public var inherited: InheritedDescriptors

        public init(configPath: String, verbose: Bool, notifyFD: FileDescriptor?, keepEnvironment: Bool = false,
                    inherited: InheritedDescriptors = InheritedDescriptors()) {
            self.configPath = configPath
            self.verbose = verbose
            self.notifyFD = notifyFD
            self.keepEnvironment = keepEnvironment
            self.inherited = inherited
        }
    }

    /// The loop's timers, in one `Deadlines` set.
    enum Timer: Hashable {
        case bindRetry
        /// The end of a service's back-off.
        case resume(ObjectIdentifier)
        case idleConnections
        /// SIGKILL for the wait handlers still running 10 s after SIGTERM.
        case stopGrace
        /// A look at the stopped handlers' process groups.
        case stopCheck
        /// The release of loading's and binding's code pages, after start-up.
        case releaseStartupCode
        /// The next child that may still be setting up when its time to
        /// exec is over (`Daemon.killOverdueSpawns`).
        case execBound
        /// Listeners waiting for a child slot look again.
        case spawnSlot
        /// A nowait handler's `timeout=` (`HandlerTimeout.swift`), and the
        /// SIGKILL to its process group 5 s after the SIGTERM.
        case handlerTimeout(pid_t)
        case handlerKill(pid_t)
        /// The next token of a service over its `rate=` (`Admission.swift`).
        case rateWindow(ObjectIdentifier)
        /// The per-source table drops what it no longer needs.
        case sourceSweep
        /// The new binary's `--check` has overrun its bound (SIGUSR2).
        case upgradeCheck
        /// WATCHDOG=1, at half of WATCHDOG_USEC (`Watchdog.swift`).
        case watchdog
        /// STATUS= after a change, at most once a second (`StatusReport.swift`).
        case status
    }

    static let bindRetryMilliseconds: Int64 = 60_000
    static let stopGraceMilliseconds: Int64 = 10_000
    static let startupCodeReleaseDelayMilliseconds: Int64 = 100

    let configPath: String
    let log: Log
    let lookup: any NameLookup = SystemLookup()
    let epoll: Epoll
    let signals: SignalChannel
    let spawnReports: SpawnReports
    var readiness: Readiness
    /// Each service's handler environment, made once per load.
    var environments: HandlerEnvironments
    let devNull: FileDescriptor

    /// When the daemon started (monotonic ms): SIGUSR1's uptime.
    let startedAt = monotonicMilliseconds()
    var services: [ServiceState] = []
    var listeners = ListenerTable()
    var children = ChildTable()
    var sources = SourceTable()
    var connections = ConnectionTable()
    var deadlines = Deadlines<Timer>()
    var descriptors: DescriptorBudget
    var datagrams = DatagramBuiltins()
    /// `stderr=log`: each service's channel, and the lines being assembled
    /// (apart, so that logging a line may look a channel up).
    var stderrChannels = StderrChannels()
    var stderrLines = StderrLines()
    var shutdown = Shutdown()
    var shownDiagnostics = ShownDiagnostics()
    var upgrade = UpgradePhase.idle
    /// The binary an upgrade execs: the path this one was started from,
    /// read at start (`CurrentProcess.executablePath`).
    let executablePath: Result<String, SystemError>
    /// Carried over by an upgrade: when the first image started, and how
    /// many upgrades led here.
    var upgradeStartedAt: Int64?
    var upgradesSoFar: UInt32 = 0
    var status = StatusReport()
    /// Listeners out of the loop until a child slot is free.
    var slotWaiters: [Listener] = []
    /// Ready events of one epoll_wait, handled after it returns.
    var ready: [(UInt64, Epoll.Events)] = []
    /// The sockets inetd was started with, until the first load adopts or
    /// closes them (`takeInherited`), and what was wrong with the variables.
    var inherited: [InheritedSocket]
    let inheritedProblems: [ListenFdsVariables.Problem]
    /// How many descriptors LISTEN_FDS named: an upgrade's state names
    /// its descriptors by their place among them.
    let inheritedPlaces: Int
    /// An upgrade's hand-over, from its claim to the first load's end.
    var handedOver: HandedOver?

    public init(_ settings: Settings) throws(SystemError) {
        configPath = settings.configPath
        executablePath = Result { () throws(SystemError) in try CurrentProcess.executablePath() }
        log = Log(verbose: settings.verbose)
        inherited = settings.inherited.sockets
        inheritedProblems = settings.inherited.problems
        inheritedPlaces = settings.inherited.range.count
        environments = HandlerEnvironments(inherited: CurrentProcess.environment(), keepAll: settings.keepEnvironment)
        descriptors = DescriptorBudget(log: log)
        signals = try SignalChannel()
        spawnReports = try SpawnReports()
        epoll = try Epoll()
        devNull = try FileDescriptor.open("/dev/null", O_RDWR)
        try descriptors.openReserve()
        readiness = Readiness(notifyFD: settings.notifyFD, log: log)
        try epoll.add(signals.fd, token: EventToken.signals.rawValue)
        try epoll.add(spawnReports.fd, token: EventToken.spawnReports.rawValue)
    }

    /// Loads the configuration, binds, reports readiness and serves until
    /// SIGTERM or SIGINT. Returns the exit status.
    public func run() -> Int32 {
        // Children started last are still setting up: none outlives the
        // bound on exec unkilled.
        defer { PreparedProgram.settle(bound: Self.execBoundMilliseconds) }
        // Start-up runs in phases (runtime and argument set-up, then loading
        // with NSS look-ups and binding) whose code is not needed afterwards.
        // Their code pages are released twice (clean file pages: they stay
        // in the page cache and come back on use): here, and once the loop
        // has served what waited at start-up. A third release between
        // loading and binding kept the peak 300 KiB lower but made a start
        // with 1,001 services 0.5 ms slower (docs/benchmarks.md).
        _ = inetd_release_code_pages()
        // A scope of its own: the file's services and the reload plan are
        // released at its end, before the heap they and the parser took is
        // given back (40 KiB more with 1,001 services than from `apply`).
        var errors = 0
        reportInheritedProblems(inheritedProblems)
        handedOver = claimHandOver()
        do {
            let configuration: LoadedConfiguration
            do {
                configuration = try LoadedConfiguration.load(path: configPath, lookup: lookup, lookUpGroups: false,
                                                             execLimits: .current(environmentBytes: environments.inheritedBytes))
            } catch {
                log.error("config_unreadable", ("file", configPath), ("error", "\(error)"))
                return 1
            }
            report(configuration)
            errors = configuration.errorCount
            apply(configuration.services)
        }
        if let handedOver {
            self.handedOver = nil
            restore(handedOver)
        }
        releaseFreeHeap()
        readiness.ready(status: statusForReady())
        log.info("ready", ("config", configPath), ("services", "\(services.count)"),
                 ("sockets", "\(listeners.boundCount)"), ("adopted", "\(listeners.adoptedCount)"), ("errors", "\(errors)"),
                 ("pid", "\(CurrentProcess.id)"),
                 ("version", Invocation.release))
        if services.isEmpty { log.warn("idle", ("reason", "no valid service; send SIGHUP after fixing the file")) }
        // Loading's and binding's code pages go once the loop has served
        // what waited at start-up: released before the first epoll_wait,
        // they made the first answer 0.24 ms later with 1,001 services.
        deadlines.schedule(.releaseStartupCode, at: monotonicMilliseconds() + Self.startupCodeReleaseDelayMilliseconds)
        // The first WATCHDOG=1 at the first turn: loading took its time.
        if readiness.watchdogMilliseconds != nil { deadlines.schedule(.watchdog, at: monotonicMilliseconds()) }
        while !shutdown.finished {
            do {
                try turn()
            } catch {
                log.error("loop_failed", ("error", "\(error)"))
                return 111
            }
        }
        closeStderrChannels()
        log.flushSummaries()
        log.info("stopped")
        return 0
    }

    /// Logs a load's diagnostics, but not a warning or note already told
    /// for the same line (`ShownDiagnostics`); returns how many were left out.
    @discardableResult
    func report(_ configuration: LoadedConfiguration) -> Int {
        let (diagnostics, repeated) = shownDiagnostics.toLog(configuration)
        for diagnostic in diagnostics {
            switch diagnostic.severity {
            case .error: log.error("config_error", ("error", diagnostic.description))
            case .warning: log.warn("config_warning", ("warning", diagnostic.description))
            case .note: log.info("config_note", ("note", diagnostic.description))
            }
        }
        return repeated
    }

    /// One epoll_wait and the work it brings.
    func turn() throws(SystemError) {
        let timeout = log.timeout(millisecondsToNextTimer())
        ready.removeAll(keepingCapacity: true)
        try epoll.wait(timeout: timeout) { token, events in ready.append((token, events)) }
        log.tick()
        if !stderrChannels.isEmpty { noteReadableStderr() }
        for (raw, events) in ready {
            guard let token = EventToken(rawValue: raw) else { continue }
            switch token.kind {
            case .signals:
                try handleSignals()
            case .spawnReports:
                spawnReports.drain()
                collectLateSpawnFailures()
            case .connection:
                // A token of a connection finished since no longer matches.
                switch connections.connection(for: token) {
                case let builtin as BuiltinConnection: serveBuiltin(builtin, events)
                case let pending as PendingHeader: readHeader(pending)
                default: break
                }
            case .listener:
                // Nor one of a listener closed since (reload).
                if let listener = listeners.listener(for: token) { handleListener(listener, events) }
            case .stderr:
                if let channel = stderrChannels.channel(for: token), channel.readable { readStderr(channel) }
            }
        }
        runTimers()
        noteHandlerCount()
    }

    func handleListener(_ listener: Listener, _ events: Epoll.Events) {
        switch phase(of: listener) {
        case .handedOver(countingArrivals: true): return arrived(listener)
        case .listening: break
        default:
            // Left the set since this batch was read, or a fact changed
            // without a reconcile: level-triggered, it would wake every turn.
            return reconcile(listener)
        }
        if !events.isDisjoint(with: [.error, .hangUp]) {
            // Shut down by a process that holds it too (a handler's child):
            // readable for ever, it would start a handler on every turn.
            if listener.state.handsOverSocket, let fd = listener.fd, Socket.isShutDown(fd) {
                handOverBrokeSockets([listener], state: listener.state)
                return
            }
            if log.admit(.warn, "socket_condition", service: listener.state.label) {
                log.warn("socket_condition", ("service", listener.state.label), ("events", "\(events.rawValue)"))
            }
        }
        if let kind = listener.builtin {
            if listener.endpoint.socketType == .dgram { answerDatagrams(listener, kind) } else { acceptBuiltin(listener, kind) }
        } else if listener.state.handsOverSocket {
            handOver(listener)
        } else {
            acceptAll(listener)
        }
    }

    /// Handles what arrived in a fixed order: children are reaped before a
    /// reload or a stop looks at them.
    func handleSignals() throws(SystemError) {
        let received = try signals.drain()
        if received.contains(.child) { shutdown.stopping ? reapDuringStop() : reap() }
        if received.contains(.user1) { dumpState() }
        if received.contains(.user2) { beginUpgrade() }
        if received.contains(.hangup), !shutdown.stopping { reload() }
        if received.contains(.terminate) { beginStop(.terminate) }
        if received.contains(.interrupt) { beginStop(.interrupt) }
    }

    /// epoll_wait's timeout: until the earliest deadline; -1 when none is set.
    func millisecondsToNextTimer() -> CInt {
        guard let next = deadlines.earliest() else { return -1 }
        return CInt(clamping: max(0, next - monotonicMilliseconds()))
    }

    /// Runs every timer that is due.
    func runTimers() {
        let now = monotonicMilliseconds()
        while let timer = deadlines.popDue(now: now) {
            switch timer {
            case .stopGrace: killRemaining()
            case .stopCheck: reapDuringStop()
            case .idleConnections: closeIdleConnections(now: now)
            case .bindRetry: retryBinding()
            case .resume(let id): endHold(\.resumeAt, of: id, timer: timer, now: now)
            case .releaseStartupCode: _ = inetd_release_code_pages()
            case .execBound: killOverdueSpawns()
            case .spawnSlot: retryWaitingForSlot(now: now)
            case .handlerTimeout(let pid): handlerTimedOut(pid)
            case .handlerKill(let pgid): handlerKilled(pgid)
            case .rateWindow(let id): endHold(\.rateResumeAt, of: id, timer: timer, now: now)
            case .sourceSweep: sweepSources()
            case .upgradeCheck: upgradeCheckOverran()
            case .watchdog: pingWatchdog(now: now)
            case .status: sendStatus(now: now)
            }
        }
    }
}

/// Where the stop stands (SIGTERM, SIGINT).
struct Shutdown {
    var stopping = false
    var finished = false
    /// Process groups of the wait handlers signalled at stop, until none of
    /// their processes is left.
    var groups: [pid_t: String] = [:]
}
