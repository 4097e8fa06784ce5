@testable import InetdCore
import Testing

// Whose watchdog WATCHDOG_USEC and WATCHDOG_PID ask for (sd_watchdog_enabled's
// rules), and the STATUS= line and its spacing.

@Suite("Watchdog and STATUS")
struct WatchdogRuleTests {
    @Test func intervalIsHalvedAndTheOwnPIDOrNoneQualifies() {
        #expect(Watchdog.decide(usec: nil, pid: nil, ownPID: 42) == .off)
        #expect(Watchdog.decide(usec: nil, pid: "42", ownPID: 42) == .off, "WATCHDOG_PID alone asks nothing")
        #expect(Watchdog.decide(usec: "200000", pid: nil, ownPID: 42) == .on(intervalMicroseconds: 200_000, pingMilliseconds: 100))
        #expect(Watchdog.decide(usec: "60000000", pid: "42", ownPID: 42)
                == .on(intervalMicroseconds: 60_000_000, pingMilliseconds: 30_000))
        #expect(Watchdog.decide(usec: "1", pid: nil, ownPID: 42) == .on(intervalMicroseconds: 1, pingMilliseconds: 1),
                "a ping at least every millisecond, never a timeout of 0")
        #expect(Watchdog.decide(usec: "200000", pid: "43", ownPID: 42) == .otherProcess("43"))
    }

    @Test(arguments: ["", "0", "-5", "+5", " 5", "5 ", "0x10", "20ms", "18446744073709551615", "9223372036854775808",
                      "99999999999999999999999"])
    func anIntervalThatIsNotAUsableNumberIsRefused(_ usec: String) {
        guard case .invalid = Watchdog.decide(usec: usec, pid: nil, ownPID: 42) else {
            Issue.record("WATCHDOG_USEC=\(usec) taken")
            return
        }
    }

    @Test(arguments: ["", "0", "-42", "+42", "42x", "4294967338", "abc"])
    func aPIDThatIsNotAProcessIDIsRefused(_ pid: String) {
        guard case .invalid = Watchdog.decide(usec: "200000", pid: pid, ownPID: 42) else {
            Issue.record("WATCHDOG_PID=\(pid) taken")
            return
        }
    }

    @Test func statusLineCountsInWords() {
        #expect(StatusLine(services: 9, notBound: 1, handlers: 3).text == "9 services, 1 not bound, 3 handlers")
        #expect(StatusLine(services: 1, notBound: 0, handlers: 1).text == "1 service, 0 not bound, 1 handler")
        #expect(StatusLine(services: 0, notBound: 0, handlers: 0).text == "0 services, 0 not bound, 0 handlers")
    }

    @Test func statusGoesOutAtMostOnceASecond() {
        var report = StatusReport()
        let line = StatusLine(services: 2, notBound: 0, handlers: 0)
        #expect(report.earliest(now: 5_000) == 5_000, "the first change goes at once")
        #expect(report.isNews(line))
        report.record(line, at: 5_000)
        #expect(!report.isNews(line))
        #expect(report.earliest(now: 5_200) == 6_000)
        #expect(report.earliest(now: 7_000) == 7_000)
        #expect(report.isNews(StatusLine(services: 2, notBound: 0, handlers: 1)))
    }
}
