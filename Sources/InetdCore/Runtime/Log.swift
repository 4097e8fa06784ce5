
/// One logfmt line per event on stderr: `level=info event=reload services=3`.
///
/// Values are quoted when they hold blanks, quotes or `=`; control characters
/// are escaped, so a hostile peer or file name cannot forge a line.
///
/// Writing never blocks the loop (`LogOutput`): a line the reader has no room
/// for is dropped and counted, and the next line that gets through is
/// preceded by `level=warn event=log_dropped lines=N`. Lines a client can
/// cause at will go through `admit` first: one line per episode per service,
/// then `repeated=N` summaries.
public struct Log: Sendable {
    public enum Level: String, Sendable { case debug, info, warn, error }

    /// `-d`: one line per connection and per handler exit.
    public var verbose: Bool
    /// Shared by every copy: the output, the drop count, the episodes.
    let sink: LogSink

    public init(verbose: Bool) {
        self.verbose = verbose
        sink = LogSink(output: LogOutput.standardError())
    }

    public func debug(_ event: String, _ fields: (String, String)...) {
        if verbose { write(.debug, event, fields) }
    }
    public func info(_ event: String, _ fields: (String, String)...) { write(.info, event, fields) }
    public func warn(_ event: String, _ fields: (String, String)...) { write(.warn, event, fields) }
    public func error(_ event: String, _ fields: (String, String)...) { write(.error, event, fields) }

    public func write(_ level: Level, _ event: String, _ fields: [(String, String)]) {
        // Built as bytes in one buffer kept between lines: String appends
        // cost several times more, and a thousand services log a thousand
        // lines at start.
        sink.line.removeAll(keepingCapacity: true)
        Self.appendHead(level, event, to: &sink.line)
        for (key, value) in fields {
            sink.line.append(UInt8(ascii: " "))
            sink.line.append(contentsOf: key.utf8)
            sink.line.append(UInt8(ascii: "="))
            Self.appendValue(value, to: &sink.line)
        }
        sink.line.append(UInt8(ascii: "\n"))
        sink.emitLine()
    }

    /// Whether a line a client can cause (`spawn_failed`, `connection_shed`,
    /// an abnormal `exit`) is logged now: the first of an episode for this
    /// (event, service) is; the same line again within the episode is only
    /// counted, and reported as `level=L event=E service=S repeated=N` when
    /// its window ends: 1 s, doubling while the lines keep coming, up to 60 s.
    /// A window with no line ends the episode. Call it before formatting.
    public func admit(_ level: Level, _ event: String, service: String) -> Bool {
        sink.admit(level, event, service: service, now: monotonicMilliseconds())
    }

    /// `timeout` (milliseconds, -1 for none) shortened to the next summary
    /// or retry the log has to make.
    public func timeout(_ timeout: CInt) -> CInt {
        guard let due = sink.nextDue else { return timeout }
        let wait = CInt(clamping: max(0, due - monotonicMilliseconds()))
        return timeout < 0 ? wait : min(timeout, wait)
    }

    /// Summaries whose window has ended, and the drop notice once the reader
    /// has room again. Cheap when nothing is due: call it every loop turn.
    public func tick() {
        guard let due = sink.nextDue else { return }
        let now = monotonicMilliseconds()
        if now >= due { sink.runDue(now: now) }
    }

    /// Every pending summary now, whatever its window: before exit.
    public func flushSummaries() {
        sink.runDue(now: Int64.max)
    }

    static func appendHead(_ level: Level, _ event: String, to line: inout [UInt8]) {
        line.append(contentsOf: "level=".utf8)
        line.append(contentsOf: level.rawValue.utf8)
        line.append(contentsOf: " event=".utf8)
        line.append(contentsOf: event.utf8)
    }

    static func appendValue(_ value: String, to line: inout [UInt8]) {
        var value = value
        value.withUTF8 { appendValue(bytes: UnsafeRawBufferPointer($0), to: &line) }
    }

    /// A value from raw bytes: quoted when it holds blanks, quotes, `=`,
    /// a backslash, a control character or bytes that are not UTF-8; those
    /// are escaped (`\"`, `\\`, `\n`, `\t`, `\xNN`), so that a handler's
    /// or a client's bytes cannot forge a line or a field.
    static func appendValue(bytes: UnsafeRawBufferPointer, to line: inout [UInt8]) {
        var needsQuotes = bytes.isEmpty
        var i = 0
        while i < bytes.count, !needsQuotes {
            let byte = bytes[i]
            if byte >= 0x80 {
                let length = utf8Length(bytes, at: i)
                needsQuotes = length == 0
                i += max(length, 1)
                continue
            }
            needsQuotes = byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "=")
                || byte == UInt8(ascii: "\\") || byte < 0x20 || byte == 0x7F
            i += 1
        }
        guard needsQuotes else {
            line.append(contentsOf: bytes)
            return
        }
        line.append(UInt8(ascii: "\""))
        i = 0
        while i < bytes.count {
            let byte = bytes[i]
            switch byte {
            case UInt8(ascii: "\""): line.append(contentsOf: "\\\"".utf8)
            case UInt8(ascii: "\\"): line.append(contentsOf: "\\\\".utf8)
            case UInt8(ascii: "\n"): line.append(contentsOf: "\\n".utf8)
            case UInt8(ascii: "\t"): line.append(contentsOf: "\\t".utf8)
            case _ where byte < 0x20 || byte == 0x7F: appendHexEscape(byte, to: &line)
            case _ where byte >= 0x80:
                let length = utf8Length(bytes, at: i)
                guard length > 0 else {
                    appendHexEscape(byte, to: &line)
                    break
                }
                line.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<(i + length)]))
                i += length
                continue
            default: line.append(byte)
            }
            i += 1
        }
        line.append(UInt8(ascii: "\""))
    }

    private static func appendHexEscape(_ byte: UInt8, to line: inout [UInt8]) {
        let hex = "0123456789abcdef".utf8
        line.append(contentsOf: "\\x".utf8)
        line.append(hex[hex.index(hex.startIndex, offsetBy: Int(byte >> 4))])
        line.append(hex[hex.index(hex.startIndex, offsetBy: Int(byte & 0xF))])
    }

    /// The length of the well-formed UTF-8 sequence at `i` (RFC 3629: no
    /// overlong form, no surrogate, nothing past U+10FFFF); 0 when none
    /// starts there.
    static func utf8Length(_ bytes: UnsafeRawBufferPointer, at i: Int) -> Int {
        let lead = bytes[i]
        let length: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF
        switch lead {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: return 0
        }
        guard i + length <= bytes.count, (low...high).contains(bytes[i + 1]) else { return 0 }
        for k in 2..<max(length, 2) where !(0x80...0xBF).contains(bytes[i + k]) { return 0 }
        return length
    }

    /// A line a handler wrote to its stderr (`stderr=log`):
    /// `level=info event=stderr service=S pid=N line="..."`, with
    /// `truncated=1` when its tail was dropped. Goes the way of every line:
    /// dropped and counted when inetd's own stderr has no room.
    func handlerLine(service: String, pid: Int32, _ bytes: UnsafeRawBufferPointer, truncated: Bool) {
        sink.line.removeAll(keepingCapacity: true)
        Self.appendHead(.info, "stderr", to: &sink.line)
        sink.line.append(contentsOf: " service=".utf8)
        Self.appendValue(service, to: &sink.line)
        sink.line.append(contentsOf: " pid=".utf8)
        Self.appendDecimal(Int(pid), to: &sink.line)
        sink.line.append(contentsOf: " line=".utf8)
        Self.appendValue(bytes: bytes, to: &sink.line)
        if truncated { sink.line.append(contentsOf: " truncated=1".utf8) }
        sink.line.append(UInt8(ascii: "\n"))
        sink.emitLine()
    }

    /// A number's digits, without making a String.
    static func appendDecimal(_ value: Int, to line: inout [UInt8]) {
        if value < 0 { line.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        let start = line.count
        repeat {
            line.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        line[start...].reverse()
    }
}

/// The state behind every copy of a `Log`. inetd runs on one thread: no lock.
final class LogSink: @unchecked Sendable {
    static let pendingLimit = 4096
    static let retryMilliseconds: Int64 = 1000
    static let firstWindow: Int64 = 1000
    static let longestWindow: Int64 = 60_000
    static let episodeLimit = 1024

    let output: LogOutput
    /// The line being built; its storage is reused.
    var line: [UInt8] = []
    /// The tail of a line written in part: written before anything else, so
    /// that no line is left half written.
    var pending: [UInt8] = []
    /// Lines dropped since the last `log_dropped` notice.
    var dropped = 0
    /// Set while the reader is not keeping up: when to try again unasked.
    var retryAt: Int64?

    struct EpisodeKey: Hashable {
        var event: String
        var service: String
    }
    struct Episode {
        var level: Log.Level
        var until: Int64
        var window: Int64
        var repeated: Int
    }
    var episodes: [EpisodeKey: Episode] = [:]
    /// The earliest `until` of any episode (or a little earlier).
    var episodesDue: Int64?

    init(output: LogOutput) {
        self.output = output
        line.reserveCapacity(256)
        pending.reserveCapacity(256)
    }

    var nextDue: Int64? {
        guard let a = retryAt else { return episodesDue }
        guard let b = episodesDue else { return a }
        return min(a, b)
    }

    // MARK: Writing

    /// Writes `line`, or drops and counts it.
    func emitLine() {
        guard flush() else {
            dropped += 1
            return
        }
        let written = writeSome(line, from: 0)
        if written == 0 {
            dropped += 1
        } else if written < line.count {
            keepPending(line, from: written)
        }
    }

    /// Writes the pending tail, then the drop notice. False when the reader
    /// still has no room for them.
    func flush() -> Bool {
        if !pending.isEmpty {
            let written = writeSome(pending, from: 0)
            if written < pending.count {
                pending.removeFirst(written)
                return false
            }
            pending.removeAll(keepingCapacity: true)
        }
        guard dropped > 0 else {
            retryAt = nil
            return true
        }
        var notice: [UInt8] = []
        notice.reserveCapacity(48)
        notice.append(contentsOf: "level=warn event=log_dropped lines=".utf8)
        notice.append(contentsOf: "\(dropped)\n".utf8)
        let written = writeSome(notice, from: 0)
        if written == 0 { return false }
        dropped = 0
        if written < notice.count {
            keepPending(notice, from: written)
            return false
        }
        retryAt = nil
        return true
    }

    /// A tail too long to keep is cut: its line ends at once, counted as
    /// dropped.
    func keepPending(_ bytes: [UInt8], from offset: Int) {
        if bytes.count - offset <= Self.pendingLimit {
            pending.append(contentsOf: bytes[offset...])
        } else {
            pending.append(UInt8(ascii: "\n"))
            dropped += 1
        }
        scheduleRetry()
    }

    /// The bytes written, 0 when none could be.
    func writeSome(_ bytes: [UInt8], from offset: Int) -> Int {
        let written: Int
        do {
            written = try bytes.withUnsafeBytes { (raw) throws(SystemError) -> Int in
                try output.write(UnsafeRawBufferPointer(rebasing: raw[offset...]))
            }
        } catch {
            // No reader left, or a failing device: dropped, not retried
            // unasked (the next line tries again).
            return 0
        }
        if written == 0 { scheduleRetry() }
        return written
    }

    func scheduleRetry() {
        if retryAt == nil { retryAt = monotonicMilliseconds() + Self.retryMilliseconds }
    }

    // MARK: Episodes

    func admit(_ level: Log.Level, _ event: String, service: String, now: Int64) -> Bool {
        var key = EpisodeKey(event: event, service: service)
        if episodes[key] == nil, episodes.count >= Self.episodeLimit {
            runDue(now: now)
            // Still full: services beyond the limit share one episode.
            if episodes.count >= Self.episodeLimit { key.service = "*" }
        }
        if var episode = episodes[key] {
            if now >= episode.until {
                end(key, &episode, now: now)
                if episode.repeated < 0 {
                    episodes[key] = nil
                    return start(key, level, now: now)
                }
            }
            episode.repeated += 1
            episodes[key] = episode
            return false
        }
        return start(key, level, now: now)
    }

    func start(_ key: EpisodeKey, _ level: Log.Level, now: Int64) -> Bool {
        let until = now + Self.firstWindow
        episodes[key] = Episode(level: level, until: until, window: Self.firstWindow, repeated: 0)
        episodesDue = min(episodesDue ?? until, until)
        return true
    }

    /// The end of an episode's window: a summary when lines were counted,
    /// and a longer window; none, and the episode is over (`repeated` -1).
    func end(_ key: EpisodeKey, _ episode: inout Episode, now: Int64) {
        guard episode.repeated > 0 else {
            episode.repeated = -1
            return
        }
        line.removeAll(keepingCapacity: true)
        Log.appendHead(episode.level, key.event, to: &line)
        line.append(contentsOf: " service=".utf8)
        Log.appendValue(key.service, to: &line)
        line.append(contentsOf: " repeated=\(episode.repeated)\n".utf8)
        emitLine()
        episode.repeated = 0
        episode.window = min(episode.window * 2, Self.longestWindow)
        episode.until = now == Int64.max ? now : now + episode.window
    }

    /// Ends the windows that are over and retries a stalled output.
    func runDue(now: Int64) {
        if let at = retryAt, now >= at {
            retryAt = nil
            _ = flush()
        }
        guard let due = episodesDue, now >= due else { return }
        var earliest: Int64?
        for (key, var episode) in episodes {
            if now >= episode.until {
                end(key, &episode, now: now)
                if episode.repeated < 0 || now == Int64.max {
                    episodes[key] = nil
                    continue
                }
                episodes[key] = episode
            }
            earliest = min(earliest ?? episode.until, episode.until)
        }
        episodesDue = earliest
    }
}
