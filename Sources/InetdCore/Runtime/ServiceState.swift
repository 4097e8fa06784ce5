import Glibc

/// A service as the running daemon holds it: its configuration, its prepared
/// program, its counters and its hand-over state. A reload that keeps the
/// service (the same endpoints) keeps this object and gives it the new line
/// (`take`), so the totals, the crash-loop state and every handler,
/// connection and listener started before point at the current state. A
/// service with other endpoints gets a new one.
final class ServiceState {
    private(set) var service: Service
    private var environment: HandlerEnvironment
    // The stored properties are declared in this order for size: the words
    // first, then the small values, which fill the padding after `resumeAt`
    // (in the order of topics, one allocation size larger).
    var accepted = 0
    var spawned = 0
    var execFailures = 0
    /// The line's limits and access rules, compiled once per load.
    private(set) var limits: ServiceLimits
    var maxConcurrent: Int { limits.maxConcurrent }
    var counters = LimitCounters()
    /// `rate=`: the service's starts.
    var startBucket = TokenBucket()
    /// Over its `rate=`: no socket of the service is polled before this
    /// time (monotonic milliseconds), when the next token comes.
    var rateResumeAt: Int64?
    /// The service's number in the per-source table, given at its first
    /// judged connection.
    var sourceService: UInt32?

    /// Services that hand their sockets over (wait, nowait dgram): the
    /// crash-loop state (docs/DESIGN.md "Crash loops"), shared by every socket
    /// of the service, so that a line with an IPv4 and an IPv6 socket backs
    /// off as one.
    var quickFailures = 0
    var backoffMilliseconds: Int64 = 0
    /// In back-off: no socket of the service is polled before this time.
    var resumeAt: Int64?

    /// `stderr=log`: the socket its handlers write to, made at its first
    /// spawn (`HandlerStderr.swift`); kept across a reload that keeps the
    /// service, since running handlers hold its sending end.
    var stderrChannel: StderrChannel?

    /// Read on every event: kept as plain values, not looked up through
    /// `entry` (a copy of the whole entry each time).
    private(set) var wait: Bool
    private(set) var stderrMode: StderrMode
    private(set) var listenFDs: Bool
    /// Hands its socket to a handler instead of accepting: wait, or dgram.
    private(set) var handsOverSocket: Bool
    /// `wait,listen-fds`: one handler holds every socket of the line, so
    /// none is polled while another is held (`Daemon.poll`).
    var holdsAllSockets: Bool { wait && listenFDs }
    private(set) var builtin: BuiltinKind?

    init(service: Service, environment: HandlerEnvironment) {
        self.service = service
        self.environment = environment
        (wait, stderrMode, listenFDs, builtin) = Self.settings(service)
        limits = ServiceLimits(service.entry)
        handsOverSocket = wait || service.entry.socketType == .dgram
    }

    private static func settings(_ service: Service) -> (Bool, StderrMode, Bool, BuiltinKind?) {
        let entry = service.entry
        var builtin: BuiltinKind?
        if case .builtin(let name) = entry.program { builtin = BuiltinKind(rawValue: name) }
        return (entry.wait, entry.options.stderr ?? .log, entry.options.listenFDs, builtin)
    }

    /// A reload kept this service: the new line applies to new connections;
    /// the counters and the hand-over state stay.
    func take(_ next: Service, environment: HandlerEnvironment) {
        service = next
        self.environment = environment
        (wait, stderrMode, listenFDs, builtin) = Self.settings(next)
        limits = ServiceLimits(next.entry)
        handsOverSocket = wait || next.entry.socketType == .dgram
        preparedProgram = nil
        cachedLabel = nil
        cachedFDName = nil
    }

    /// argv, path and ids as C arrays, made on the service's first
    /// connection and kept: a service that is never used costs no C copies,
    /// which keeps start-up and memory flat with many idle services.
    private var preparedProgram: PreparedProgram??
    var program: PreparedProgram? {
        if let prepared = preparedProgram { return prepared }
        var made: PreparedProgram?
        if case .path(let path) = service.entry.program {
            made = PreparedProgram(path: path, arguments: service.entry.arguments,
                                   environment: environment, identity: service.identity)
        }
        preparedProgram = .some(made)
        return made
    }

    /// How logs name the service; made when first logged.
    private var cachedLabel: String?
    var label: String {
        if let cachedLabel { return cachedLabel }
        let made = service.label
        cachedLabel = made
        return made
    }

    /// LISTEN_FDNAMES' name for each socket of a `wait,listen-fds` handler
    /// (SPEC 3), as bytes; for `nowait,listen-fds`, `connection` unless
    /// `name=` gives one.
    private var cachedFDName: [UInt8]?
    var fdName: [UInt8] {
        if let cachedFDName { return cachedFDName }
        let made = wait || entry.socketType == .dgram
            ? Self.validFDName(service.fdName) : Array((entry.options.name ?? "connection").utf8)
        cachedFDName = made
        return made
    }

    /// sd_listen_fds(3)'s names are at most 255 bytes and cannot hold `:`
    /// (the separator). `name=` is checked at load; a default taken from a
    /// unix path may hold both: its colons become `_` and it is cut at 255.
    static func validFDName(_ name: String) -> [UInt8] {
        Array(name.utf8.prefix(255).map { $0 == UInt8(ascii: ":") ? UInt8(ascii: "_") : $0 })
    }

    var entry: ServiceEntry { service.entry }

    /// The program a log line names: its path, or `internal NAME`.
    var programName: String {
        switch service.entry.program {
        case .path(let path): return path
        case .builtin(let name): return "internal " + name
        }
    }

    /// `timeout=` of a spawned nowait handler; a built-in's is its idle
    /// timeout (`BuiltinConnection`), and a wait handler has none.
    var handlerTimeoutSeconds: Int? {
        builtin == nil && !handsOverSocket ? entry.options.timeoutSeconds : nil
    }

}
