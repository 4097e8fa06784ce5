import Glibc

/// A service as the running daemon holds it: its configuration, its prepared
/// program and its counters. A reload that keeps the service (the same
/// endpoints) keeps this object and gives it the new line (`take`), so the
/// count of running handlers and the totals carry on, and every handler,
/// connection and listener started before points at the current state. A
/// service with other endpoints gets a new one.
final class ServiceState {
    private(set) var service: Service
    private let environment: HandlerEnvironment
    /// Handlers of this service that are running now.
    var active = 0
    var accepted = 0
    var spawned = 0
    var execFailures = 0

    /// Read on every event: kept as plain values, not looked up through
    /// `entry` (a copy of the whole entry each time).
    private(set) var wait: Bool
    private(set) var stderrToSocket: Bool
    private(set) var builtin: BuiltinKind?
    /// Concurrent connections a built-in takes; 0 means no cap.
    private(set) var builtinCap: Int

    init(service: Service, environment: HandlerEnvironment) {
        self.service = service
        self.environment = environment
        (wait, stderrToSocket, builtin, builtinCap) = Self.settings(service)
    }

    private static func settings(_ service: Service) -> (Bool, Bool, BuiltinKind?, Int) {
        let entry = service.entry
        var builtin: BuiltinKind?
        if case .builtin(let name) = entry.program { builtin = BuiltinKind(rawValue: name) }
        return (entry.wait, entry.options.stderrToSocket, builtin,
                entry.limits.maxConcurrent ?? Limits.defaultMaxConcurrent)
    }

    /// A reload kept this service: the new line applies to new connections;
    /// the counters and the running handlers' count stay.
    func take(_ next: Service) {
        service = next
        (wait, stderrToSocket, builtin, builtinCap) = Self.settings(next)
        preparedProgram = nil
        cachedLabel = nil
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
    var entry: ServiceEntry { service.entry }
}

/// One bound (or to-be-bound) socket of a service, and its place in the loop.
final class Listener {
    let endpoint: Endpoint
    var state: ServiceState
    /// nil until bound: binding is retried every 60 s.
    var fd: FileDescriptor?
    /// epoll token: the slot in the daemon's table and a generation that
    /// no later listener in the same slot shares.
    let token: UInt64
    /// In the epoll set now.
    var polled = false
    /// The handler holding this socket (wait, or nowait dgram); it comes back
    /// into the loop when that handler is reaped.
    var holder: pid_t?
    /// Crash-loop back-off for wait handlers: not polled before this time.
    var resumeAt: Int64?
    var backoffMilliseconds: Int64 = 0
    var quickFailures = 0
    /// When the holder got the socket, and what waited on it then.
    var handedOverAt: Int64 = 0
    var pendingAtStart = PendingInput.unknown
    /// In the epoll set edge-triggered, counting arrivals for the holder's
    /// first second (`Daemon.countArrivals`).
    var countingArrivals = false
    var arrivals = 0
    var lastBindError: String?
    /// A unix socket's file as bound (device and inode): the only file at
    /// its path that inetd chmods, chowns or unlinks.
    var socketFile: UnixSocketFile?

    /// The endpoint as logs show it; made when first logged.
    lazy var name: String = endpoint.description

    init(endpoint: Endpoint, state: ServiceState, token: UInt64) {
        self.endpoint = endpoint
        self.state = state
        self.token = token
    }

    var slot: Int { Int(token & 0xFFFF_FFFF) }

    /// The built-in this socket serves, if it is one.
    var builtin: BuiltinKind? { state.builtin }

    /// Where this listener hands its socket to a handler instead of accepting.
    var handsOverSocket: Bool { state.wait || endpoint.socketType == .dgram }
}

/// A running handler.
struct Child {
    var state: ServiceState
    /// Started as a `wait` handler: signalled at stop, whatever a reload
    /// made of its service since.
    var wait: Bool
    /// The listener whose socket the handler holds (wait, nowait dgram).
    var listener: Listener?
    var started: Int64
}
