/// The services inetd answers itself (SPEC 4).
enum BuiltinKind: String {
    case echo, discard, chargen, daytime, time

    /// The well-known ports of the UDP built-ins: never answered.
    static let wellKnownPorts: Set<UInt16> = [7, 9, 13, 19, 37]

    /// RFC 867: the local date and time as text.
    static func daytimeReply() -> [UInt8] { WallClock.daytime() }

    /// RFC 868: seconds since 1900-01-01 as 32 bits, big-endian.
    static func timeReply() -> [UInt8] {
        withUnsafeBytes(of: WallClock.rfc868Seconds().bigEndian) { Array($0) }
    }
}

/// A TCP client of echo, discard or chargen.
final class BuiltinConnection: LoopConnection {
    let kind: BuiltinKind
    let buffer: UnsafeMutableRawBufferPointer
    /// echo: bytes read and not yet written back.
    var pending = 0
    /// chargen: where the next write starts in the pattern.
    var chargenOffset = 0
    var inputClosed = false
    /// Its client's source, for the per-source limits.
    var source: SourceKey?

    static let bufferSize = 4096

    init(fd: FileDescriptor, kind: BuiltinKind, state: ServiceState, token: EventToken, now: Int64) {
        self.kind = kind
        buffer = .allocate(byteCount: Self.bufferSize, alignment: 1)
        super.init(fd: fd, state: state, token: token, now: now,
                   interest: kind == .chargen ? [.input, .writable] : .input)
    }

    deinit { buffer.deallocate() }

    /// How long it may stay idle: the service's `timeout=`, 60 s by default.
    var idleLimitMilliseconds: Int64 {
        Int64(state.entry.options.timeoutSeconds ?? ConnectionTable.defaultIdleSeconds) * 1000
    }
}

extension BuiltinConnection {
    /// The I/O of one wake-up. False when the connection failed.
    func serve(_ events: Epoll.Events, scratch: UnsafeMutableRawBufferPointer) -> Bool {
        if !events.isDisjoint(with: Epoll.Events.input) {
            guard readInput(scratch: scratch) else { return false }
        }
        if kind == .echo, pending > 0 || events.contains(.writable) { return flushEcho() }
        if kind == .chargen, events.contains(.writable) { return writeChargen() }
        return true
    }

    /// echo ends once the client has closed and everything went back;
    /// discard and chargen end when the client closes.
    var isDone: Bool { inputClosed && (kind != .echo || pending == 0) }

    /// Readable while there is room to read into; writable while something
    /// waits to go out.
    var wantedEvents: Epoll.Events {
        var wanted: Epoll.Events = [.error, .hangUp]
        if !inputClosed && (kind != .echo || pending < Self.bufferSize) { wanted.insert(.readable) }
        if kind == .chargen || pending > 0 { wanted.insert(.writable) }
        return wanted
    }

    /// Reads at most once per wake-up (echo: up to its free room; discard:
    /// up to 64 KiB into `scratch`, more than its capped receive buffer
    /// holds), so that a client that sends without pause cannot hold the
    /// loop: the socket is level-triggered and the rest is read next turn.
    private func readInput(scratch: UnsafeMutableRawBufferPointer) -> Bool {
        if kind == .echo {
            let room = Self.bufferSize - pending
            guard room > 0 else { return true }
            let free = UnsafeMutableRawBufferPointer(rebasing: buffer[pending..<(pending + room)])
            guard let got = try? Socket.receive(fd, into: free) else { return false }
            if case .done(let n) = got { if n > 0 { pending += n } else { inputClosed = true } }
            return true
        }
        guard let got = try? Socket.receive(fd, into: scratch) else { return false }
        if case .done(0) = got { inputClosed = true }
        return true
    }

    private func flushEcho() -> Bool {
        guard pending > 0 else { return true }
        guard let sent = try? Socket.send(fd, UnsafeRawBufferPointer(rebasing: buffer[0..<pending])) else { return false }
        guard case .done(let n) = sent else { return true }
        // copyMemory is memmove: the ranges may overlap.
        if n < pending { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + n, byteCount: pending - n) }
        pending -= n
        return true
    }

    private func writeChargen() -> Bool {
        let end = min(chargenPattern.count, chargenOffset + Self.bufferSize)
        let sent = chargenPattern.withUnsafeBytes { pattern in
            try? Socket.send(fd, UnsafeRawBufferPointer(rebasing: pattern[chargenOffset..<end]))
        }
        guard let sent else { return false }
        guard case .done(let n) = sent else { return true }
        chargenOffset = (chargenOffset + n) % chargenPattern.count
        return true
    }
}

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
