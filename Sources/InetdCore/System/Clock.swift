import Glibc

/// Monotonic time in milliseconds: durations and deadlines never jump with
/// the wall clock. C equivalent: `clock_gettime(CLOCK_MONOTONIC)`.
public func monotonicMilliseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

/// Monotonic time in microseconds, for sd_notify's MONOTONIC_USEC.
public func monotonicMicroseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
}
