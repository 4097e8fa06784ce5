/// The services inetd answers itself (SPEC 4).
enum BuiltinKind: String {
    case echo, discard, chargen, daytime, time

    /// The well-known ports of the UDP built-ins: never answered.
    static let wellKnownPorts: Set<UInt16> = [7, 9, 13, 19, 37]
}

/// One connection the loop serves itself: a TCP client of echo, discard or
/// chargen (a PROXY header being read, later).
final class BuiltinConnection {
    let fd: FileDescriptor
    let kind: BuiltinKind
    let state: ServiceState
    let token: EventToken
    let buffer: UnsafeMutableRawBufferPointer
    /// echo: bytes read and not yet written back.
    var pending = 0
    /// chargen: where the next write starts in the pattern.
    var chargenOffset = 0
    var inputClosed = false
    var lastActivity: Int64
    var interest: Epoll.Events

    static let bufferSize = 4096

    init(fd: FileDescriptor, kind: BuiltinKind, state: ServiceState, token: EventToken, now: Int64) {
        self.fd = fd
        self.kind = kind
        self.state = state
        self.token = token
        lastActivity = now
        interest = kind == .chargen ? [.input, .writable] : .input
        buffer = .allocate(byteCount: Self.bufferSize, alignment: 1)
    }

    deinit { buffer.deallocate() }

    /// How long it may stay idle: the service's `timeout=`, 60 s by default.
    var idleLimitMilliseconds: Int64 {
        Int64(state.entry.options.timeoutSeconds ?? ConnectionTable.defaultIdleSeconds) * 1000
    }
}

/// The connections served inside the loop: slots and generations (their
/// epoll tokens), and how many each service has open (a built-in's
/// concurrency cap). Idle ones are found by a check every second while any
/// is open (the loop's `.idleConnections` deadline).
struct ConnectionTable {
    static let defaultIdleSeconds = 60

    private var slots = SlotTable<BuiltinConnection>(kind: .connection)
    private var open: [ObjectIdentifier: Int] = [:]
    private(set) var count = 0

    mutating func reserve() -> EventToken { slots.reserve() }
    mutating func release(_ token: EventToken) { slots.release(token) }

    mutating func insert(_ connection: BuiltinConnection) {
        slots.insert(connection, at: connection.token)
        open[ObjectIdentifier(connection.state), default: 0] += 1
        count += 1
    }

    mutating func remove(_ connection: BuiltinConnection) {
        guard slots[connection.token.slot] === connection else { return }
        slots.release(connection.token)
        let key = ObjectIdentifier(connection.state)
        if let n = open[key], n > 1 { open[key] = n - 1 } else { open[key] = nil }
        count -= 1
    }

    func connection(for token: EventToken) -> BuiltinConnection? {
        guard let c = slots[token.slot], c.token == token else { return nil }
        return c
    }

    /// Connections of this service open now.
    func active(_ state: ServiceState) -> Int { open[ObjectIdentifier(state)] ?? 0 }

    var all: [BuiltinConnection] { Array(slots.occupied) }
}
