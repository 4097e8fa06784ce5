import Glibc

/// One service's handler stderr (`stderr=log`): its socket pair, its epoll
/// token, and the service its lines are tagged with.
final class StderrChannel {
    let pair: StderrSocketPair
    let state: ServiceState
    let token: EventToken
    /// Its service left the configuration while handlers of it still run:
    /// closed when the last of them exits, not before (a closed receiving
    /// end would fail their writes with ECONNREFUSED).
    var retired = false
    /// Bytes of the datagram at the head of the queue already logged: a
    /// turn's budget ran out in its middle.
    var taken = 0
    /// epoll said so and no read has found the queue empty since: a
    /// handler's exit reads the socket only then, so that an exit costs no
    /// system call when nothing was written.
    var readable = false
    /// Handlers reaped while `readable` was false: a write each made after
    /// the last read (in the same turn as its exit) is still queued, and its
    /// unfinished line is logged once the queue has been read empty.
    var reapedUnread: [pid_t] = []
    /// Lines read, and of them lines cut (SIGUSR1).
    var lines = 0
    var cutLines = 0

    init(pair: StderrSocketPair, state: ServiceState, token: EventToken) {
        self.pair = pair
        self.state = state
        self.token = token
    }
}

/// The open channels by epoll token, and the one buffer every datagram is
/// read into (64 KiB, allocated with the first channel).
struct StderrChannels {
    /// What one channel may deliver in one turn: at most this many lines
    /// (a datagram of 8 KiB of short lines is over a thousand; the rest of
    /// it stays queued, `StderrChannel.taken`) and this many datagrams
    /// (empty ones hold no line). The socket is level-triggered, so the rest
    /// wake the next turn, after every other ready event: a handler that
    /// floods its stderr cannot starve accepts, and waits in its write.
    static let linesPerTurn = 128
    static let datagramsPerTurn = 64
    /// Read at a handler's exit before its unfinished line is flushed (its
    /// own writes are all queued by then), and before a channel closes:
    /// more than a turn's worth, still bounded when others flood the channel.
    static let linesAtExit = 1024
    static let datagramsAtExit = 256
    /// Handlers reaped before their last write was read, remembered per
    /// channel (`StderrChannel.reapedUnread`); past this, an exit reads.
    static let reapedUnreadLimit = 64
    /// The most of one write that is read: the tail of a longer one is lost
    /// (its line is marked cut).
    static let bufferSize = 64 * 1024

    private var slots = SlotTable<StderrChannel>(kind: .stderr)
    private var storage: ReceiveBuffer?
    private(set) var count = 0

    var buffer: UnsafeMutableRawBufferPointer {
        mutating get {
            if let storage { return storage.bytes }
            let made = ReceiveBuffer(count: Self.bufferSize)
            storage = made
            return made.bytes
        }
    }

    mutating func reserve() -> EventToken { slots.reserve() }
    mutating func release(_ token: EventToken) { slots.release(token) }
    mutating func insert(_ channel: StderrChannel) {
        slots.insert(channel, at: channel.token)
        count += 1
    }

    mutating func remove(_ channel: StderrChannel) {
        guard slots[channel.token.slot] === channel else { return }
        slots.release(channel.token)
        count -= 1
    }

    var isEmpty: Bool { count == 0 }

    func channel(for token: EventToken) -> StderrChannel? {
        guard let channel = slots[token.slot], channel.token == token else { return nil }
        return channel
    }

    /// The channel in a slot: a line's source.
    subscript(slot: Int) -> StderrChannel? { slots[slot] }

    var all: [StderrChannel] { Array(slots.occupied) }
}

/// Memory the kernel copies datagrams into; touched only as far as they
/// reach.
final class ReceiveBuffer {
    let bytes: UnsafeMutableRawBufferPointer

    init(count: Int) { bytes = .allocate(byteCount: count, alignment: 16) }
    deinit { bytes.deallocate() }
}

extension Daemon {
    /// What a spawned handler of `state` gets where SPEC 3 gives it inetd's
    /// stderr: with `stderr=log`, its service's channel, made at the
    /// service's first spawn (an unused service costs no descriptor);
    /// inetd's fd 2 with `stderr=inherit` or `socket`, or when no channel
    /// can be made (logged). Costs no system call once the channel exists.
    func handlerStderr(_ state: ServiceState) -> CInt {
        guard state.stderrMode == .log else { return 2 }
        guard let channel = state.stderrChannel ?? openStderrChannel(state) else { return 2 }
        // A reload took `stderr=log` away and gave it back while handlers ran.
        channel.retired = false
        return channel.pair.sending.rawValue
    }

    /// `state`'s channel, on a new socket pair or on `handedOver`, the one
    /// an upgrade passed (its handlers still write to it).
    func openStderrChannel(_ state: ServiceState, handedOver: StderrSocketPair? = nil) -> StderrChannel? {
        do {
            let pair: StderrSocketPair
            if let handedOver {
                pair = handedOver
            } else {
                // Two descriptors for the service's lifetime: never from
                // the reserve kept for accepting and shedding.
                if let room = descriptors.available(), room < 2 {
                    throw SystemError(call: "socketpair", errno: EMFILE)
                }
                pair = try StderrSocketPair.open()
            }
            let token = stderrChannels.reserve()
            do {
                try epoll.add(pair.receiving, token: token.rawValue)
            } catch {
                stderrChannels.release(token)
                pair.close()
                throw error
            }
            let channel = StderrChannel(pair: pair, state: state, token: token)
            stderrChannels.insert(channel)
            state.stderrChannel = channel
            return channel
        } catch {
            if log.admit(.warn, "stderr_unavailable", service: state.label) {
                log.warn("stderr_unavailable", ("service", state.label), ("error", "\(error)"),
                         ("action", "handlers get inetd's stderr"))
            }
            return nil
        }
    }

    /// Logs the lines of the queued datagrams, at most `lines` of them and
    /// `datagrams` datagrams. Each datagram is peeked, and dropped from the
    /// queue only once every line of it is logged.
    func readStderr(_ channel: StderrChannel, lines: Int = StderrChannels.linesPerTurn,
                    datagrams: Int = StderrChannels.datagramsPerTurn) {
        let buffer = stderrChannels.buffer
        let source = channel.token.slot
        var budget = lines
        for _ in 0..<datagrams where budget > 0 {
            do {
                guard case .done(let datagram) = try channel.pair.peek(into: buffer) else {
                    channel.readable = false
                    for pid in channel.reapedUnread { stderrLines.flush(pid: pid) { logStderrLine($0, $1, $2, $3) } }
                    channel.reapedUnread.removeAll(keepingCapacity: true)
                    return
                }
                let count = min(datagram.count, buffer.count)
                let rest = UnsafeRawBufferPointer(rebasing: buffer[min(channel.taken, count)..<count])
                let used = stderrLines.take(rest, pid: datagram.pid, source: source, budget: &budget) {
                    logStderrLine($0, $1, $2, $3)
                }
                if used < rest.count {
                    channel.taken += used
                    return
                }
                if datagram.truncated {
                    stderrLines.cut(pid: datagram.pid, source: source) { logStderrLine($0, $1, $2, $3) }
                }
                try channel.pair.dropHead()
                channel.taken = 0
            } catch {
                if log.admit(.error, "stderr_failed", service: channel.state.label) {
                    log.error("stderr_failed", ("service", channel.state.label), ("error", "\(error)"))
                }
                return
            }
        }
    }

    /// Before a turn's events are handled: the channels epoll found
    /// readable, so that a handler reaped in this turn has its last lines
    /// read first, whatever the order of the events. A write is queued
    /// before its writer's exit raises SIGCHLD, so both are in one batch
    /// (unless the batch was full: then the line's tail may be logged apart).
    func noteReadableStderr() {
        for (raw, _) in ready {
            guard let token = EventToken(rawValue: raw), token.kind == .stderr,
                  let channel = stderrChannels.channel(for: token) else { continue }
            channel.readable = true
        }
    }

    func logStderrLine(_ pid: pid_t, _ source: Int, _ line: UnsafeRawBufferPointer, _ cut: Bool) {
        let channel = stderrChannels[source]
        channel?.lines += 1
        if cut { channel?.cutLines += 1 }
        log.handlerLine(service: channel?.state.label ?? "-", pid: pid, line, truncated: cut)
    }

    /// A handler exited: what it wrote is queued, so its last lines are
    /// read and an unfinished one is logged as it is. A retired channel
    /// closes with its service's last handler.
    func stderrAfterExit(of pid: pid_t, _ state: ServiceState) {
        guard let channel = state.stderrChannel else { return }
        if channel.readable {
            readStderr(channel, lines: StderrChannels.linesAtExit, datagrams: StderrChannels.datagramsAtExit)
        } else if channel.reapedUnread.count < StderrChannels.reapedUnreadLimit {
            // Not read since epoll's report: its last write may have come
            // after this turn's read. Remembered at no system call's cost.
            channel.reapedUnread.append(pid)
        } else {
            readStderr(channel, lines: StderrChannels.linesAtExit, datagrams: StderrChannels.datagramsAtExit)
        }
        stderrLines.flush(pid: pid) { logStderrLine($0, $1, $2, $3) }
        if channel.retired, children.active(state) == 0 { closeStderr(channel) }
    }

    /// After a reload: the channel of a service no longer configured, or
    /// no longer `stderr=log`, closes now if none of its handlers runs,
    /// else at the last one's exit.
    func retireStderrChannels() {
        let current = Set(services.map(ObjectIdentifier.init))
        for channel in stderrChannels.all
        where !current.contains(ObjectIdentifier(channel.state)) || channel.state.stderrMode != .log {
            if children.active(channel.state) == 0 { closeStderr(channel) } else { channel.retired = true }
        }
    }

    /// Every channel, at exit: what is queued is logged first.
    func closeStderrChannels() {
        for channel in stderrChannels.all { closeStderr(channel) }
    }

    private func closeStderr(_ channel: StderrChannel) {
        readStderr(channel, lines: StderrChannels.linesAtExit, datagrams: StderrChannels.datagramsAtExit)
        stderrLines.flush(source: channel.token.slot) { logStderrLine($0, $1, $2, $3) }
        try? epoll.remove(channel.pair.receiving)
        channel.pair.close()
        stderrChannels.remove(channel)
        if channel.state.stderrChannel === channel { channel.state.stderrChannel = nil }
    }
}
