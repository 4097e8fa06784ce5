import Glibc

/// The time of day, for the daytime and time built-ins: wall-clock time,
/// which may jump. Durations and deadlines use the monotonic clock
/// (Clock.swift).
enum WallClock {
    /// Seconds since 1970-01-01 UTC. C equivalent: `time(2)`.
    static func secondsSinceEpoch() -> Int64 { Int64(Glibc.time(nil)) }

    /// RFC 867's answer: the local date and time as one line of text,
    /// `Mon Nov 30 11:57:01 2026` and CR LF. C equivalent: `time(2)`,
    /// `localtime_r(3)`, `strftime(3)` with `"%a %b %e %H:%M:%S %Y\r\n"`.
    static func daytime() -> [UInt8] {
        var now = Glibc.time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var text = [CChar](repeating: 0, count: 64)
        let n = strftime(&text, text.count, "%a %b %e %H:%M:%S %Y\r\n", &parts)
        return text.prefix(n).map { UInt8(bitPattern: $0) }
    }

    /// RFC 868's value: seconds since 1900-01-01 UTC, cut to 32 bits (it
    /// wraps in 2036, as the RFC's own counter does). C equivalent: `time(2)`.
    static func rfc868Seconds() -> UInt32 {
        UInt32(truncatingIfNeeded: secondsSinceEpoch() + 2_208_988_800)
    }
}
