import Glibc

/// A service as the running daemon holds it: its configuration, its prepared
/// program and its counters. A reload makes new ones; handlers started under
/// the old one keep pointing at it until they exit.
final class ServiceState {
    let service: Service
    private let environment: HandlerEnvironment
    /// Handlers of this service that are running now.
    var active = 0
    var accepted = 0
    var spawned = 0
    var execFailures = 0

    /// Read on every event: kept as plain values, not looked up through
    /// `entry` (a copy of the whole entry each time).
    let wait: Bool
    let stderrToSocket: Bool
    let builtin: BuiltinKind?
    /// Concurrent connections a built-in takes; 0 means no cap.
    let builtinCap: Int

    init(service: Service, environment: HandlerEnvironment) {
        self.service = service
        wait = service.entry.wait
        stderrToSocket = service.entry.options.stderrToSocket
        if case .builtin(let name) = service.entry.program { builtin = BuiltinKind(rawValue: name) } else { builtin = nil }
        builtinCap = service.entry.limits.maxConcurrent ?? Limits.defaultMaxConcurrent
        self.environment = environment
    }

    /// argv, path and ids as C arrays, made on the service's first
    /// connection and kept: a service that is never used costs no C copies,
    /// which keeps start-up and memory flat with many idle services.
    lazy var program: PreparedProgram? = {
        guard case .path(let path) = service.entry.program else { return nil }
        return PreparedProgram(path: path, arguments: service.entry.arguments,
                               environment: environment, identity: service.identity)
    }()

    /// How logs name the service; made when first logged.
    lazy var label: String = service.label
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
    /// The listener whose socket the handler holds (wait, nowait dgram).
    var listener: Listener?
    var started: Int64
}
