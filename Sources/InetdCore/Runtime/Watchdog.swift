/// Whether systemd's watchdog is asked of inetd, from WATCHDOG_USEC and
/// WATCHDOG_PID as they were at start (sd_watchdog_enabled(3)'s rules).
///
/// The variables stay in inetd's environment (`unset_environment` false):
/// handlers never get them (`HandlerVariables.isReserved`, with `-E` too),
/// and an inetd re-executed in place keeps its pid, and with it the
/// watchdog it was given.
enum Watchdog: Equatable {
    /// Neither variable is set.
    case off
    /// WATCHDOG=1 every `pingMilliseconds`: half the interval, as
    /// sd_watchdog_enabled(3) advises, at least 1 ms.
    case on(intervalMicroseconds: UInt64, pingMilliseconds: Int64)
    /// WATCHDOG_PID names another process: the watchdog is someone else's.
    case otherProcess(String)
    /// A value that is not a usable number: warned about, no watchdog.
    case invalid(String)

    static func decide(usec: String?, pid: String?, ownPID: Int32) -> Watchdog {
        // WATCHDOG_PID alone asks nothing (sd_watchdog_enabled returns 0).
        guard let usec else { return .off }
        // Digits only: strtoull's sign, blanks and 0x are not systemd's
        // format, and UInt64's parser takes a leading "+".
        guard !usec.isEmpty, usec.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let interval = UInt64(usec) else {
            return .invalid("WATCHDOG_USEC=\(usec) is not a number of microseconds")
        }
        // 0 and UINT64_MAX (systemd's infinity) mean no watchdog to systemd
        // too; past Int64 the deadline arithmetic would overflow.
        guard interval > 0, interval <= UInt64(Int64.max) else {
            return .invalid("WATCHDOG_USEC=\(usec) is out of range")
        }
        if let pid {
            guard !pid.isEmpty, pid.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let owner = Int32(pid), owner > 0 else {
                return .invalid("WATCHDOG_PID=\(pid) is not a process id")
            }
            guard owner == ownPID else { return .otherProcess(pid) }
        }
        return .on(intervalMicroseconds: interval, pingMilliseconds: max(1, Int64(interval / 2_000)))
    }
}

extension Daemon {
    /// The next WATCHDOG=1, half the interval from now.
    func armWatchdog(now: Int64) {
        guard let every = readiness.watchdogMilliseconds else { return }
        deadlines.schedule(.watchdog, at: now + every)
    }

    func pingWatchdog(now: Int64) {
        readiness.watchdog()
        armWatchdog(now: now)
    }
}
