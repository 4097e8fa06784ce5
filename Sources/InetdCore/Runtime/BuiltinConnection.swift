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
