import Glibc

/// Handlers' stderr bytes cut into lines, each writer's apart: a write may
/// hold part of a line or several, and writers interleave. A writer is a pid
/// on one service's channel (`source`). Bounded: `writerLimit` writers with
/// an unfinished line at once (the least recently heard one is flushed to
/// make room), each line at most `lineLimit` bytes (the rest, up to its
/// newline, is dropped and the line is marked cut). Pure: no system call,
/// and nothing allocated after the table is first made.
struct StderrLines {
    static let writerLimit = 64
    static let lineLimit = 1024

    /// A line ready for the log: whose, which channel, its bytes (valid
    /// during the call only), and whether its tail was dropped.
    typealias Emit = (_ pid: pid_t, _ source: Int, _ line: UnsafeRawBufferPointer, _ cut: Bool) -> Void

    private struct Writer {
        var pid: pid_t = 0
        var source = -1
        var bytes: [UInt8] = []
        /// Cut at `lineLimit`: the bytes up to the next newline are dropped.
        var dropping = false
        var lastHeard: UInt64 = 0
        var free: Bool { pid == 0 && source < 0 }

        /// Free again; the line's storage stays for the next writer.
        mutating func reset() {
            pid = 0
            source = -1
            bytes.removeAll(keepingCapacity: true)
            dropping = false
            lastHeard = 0
        }
    }

    private var writers: [Writer] = []
    private var clock: UInt64 = 0

    /// Unfinished lines held now.
    var held: Int { writers.reduce(0) { $0 + ($1.free ? 0 : 1) } }

    /// Takes one write of `pid` on `source`, or its start: complete lines
    /// go to `emit`, at most `budget` of them (each counted off), and an
    /// unfinished tail is kept for the next write. Returns the bytes taken:
    /// fewer than given when the budget ran out first.
    @discardableResult
    mutating func take(_ bytes: UnsafeRawBufferPointer, pid: pid_t, source: Int, budget: inout Int, emit: Emit) -> Int {
        var start = 0
        while start < bytes.count {
            guard budget > 0 else { return start }
            let rest = UnsafeRawBufferPointer(rebasing: bytes[start...])
            guard let newline = rest.firstIndex(of: UInt8(ascii: "\n")) else {
                keep(rest, pid: pid, source: source, emit: emit)
                return bytes.count
            }
            budget -= 1
            let line = UnsafeRawBufferPointer(rebasing: rest[..<newline])
            start += newline + 1
            guard let i = index(pid, source) else {
                emit(pid, source, UnsafeRawBufferPointer(rebasing: line.prefix(Self.lineLimit)), line.count > Self.lineLimit)
                continue
            }
            if !writers[i].dropping {
                let room = Self.lineLimit - writers[i].bytes.count
                writers[i].bytes.append(contentsOf: line.prefix(room))
                writers[i].bytes.withUnsafeBytes { emit(pid, source, $0, line.count > room) }
            }
            writers[i].reset()
        }
        return bytes.count
    }

    /// The rest of `pid`'s write on `source` was lost (longer than the
    /// receive buffer): its unfinished line is logged as cut.
    mutating func cut(pid: pid_t, source: Int, emit: Emit) {
        guard let i = index(pid, source) else { return }
        if !writers[i].dropping { writers[i].bytes.withUnsafeBytes { emit(pid, source, $0, true) } }
        writers[i].reset()
    }

    /// The unfinished lines of `pid` (it exited), on any channel.
    mutating func flush(pid: pid_t, emit: Emit) {
        for i in writers.indices where writers[i].pid == pid && !writers[i].free { flush(at: i, emit: emit) }
    }

    /// The unfinished lines written on `source` (its channel closes).
    mutating func flush(source: Int, emit: Emit) {
        for i in writers.indices where writers[i].source == source && !writers[i].free { flush(at: i, emit: emit) }
    }

    private mutating func flush(at i: Int, emit: Emit) {
        let writer = writers[i]
        if !writer.dropping, !writer.bytes.isEmpty { writer.bytes.withUnsafeBytes { emit(writer.pid, writer.source, $0, false) } }
        writers[i].reset()
    }

    private func index(_ pid: pid_t, _ source: Int) -> Int? {
        writers.firstIndex { $0.pid == pid && $0.source == source }
    }

    /// An unfinished tail: appended to the writer's line, which is logged
    /// and cut once it reaches `lineLimit`.
    private mutating func keep(_ tail: UnsafeRawBufferPointer, pid: pid_t, source: Int, emit: Emit) {
        let i = index(pid, source) ?? claim(pid, source, emit: emit)
        clock &+= 1
        writers[i].lastHeard = clock
        guard !writers[i].dropping else { return }
        let room = Self.lineLimit - writers[i].bytes.count
        writers[i].bytes.append(contentsOf: tail.prefix(room))
        if tail.count > room {
            writers[i].bytes.withUnsafeBytes { emit(pid, source, $0, true) }
            writers[i].bytes.removeAll(keepingCapacity: true)
            writers[i].dropping = true
        }
    }

    /// A slot for a new writer: a free one, or the least recently heard
    /// one's, its line flushed unfinished.
    private mutating func claim(_ pid: pid_t, _ source: Int, emit: Emit) -> Int {
        if writers.isEmpty {
            writers = (0..<Self.writerLimit).map { _ in
                var writer = Writer()
                writer.bytes.reserveCapacity(Self.lineLimit)
                return writer
            }
        }
        var i = writers.firstIndex(where: \.free) ?? -1
        if i < 0 {
            i = writers.indices.min { writers[$0].lastHeard < writers[$1].lastHeard }!
            flush(at: i, emit: emit)
        }
        writers[i].pid = pid
        writers[i].source = source
        return i
    }
}
