import Testing
@testable import InetdCore

/// The pure parts of the limits (issue 15): access rules, the token bucket,
/// the per-source table, where each option applies, and the phase a rate
/// gives a listener; no socket.
@Suite struct LimitRuleTests {
    func range(_ text: String) -> AddressRange {
        let parts = text.split(separator: "/")
        let address = IPAddress(literal: String(parts[0]))!
        return AddressRange(bytes: address.bytes, prefix: Int(parts[1])!)
    }

    func ip(_ text: String) -> IPAddress { IPAddress(literal: text)! }

    @Test func denyWinsAndAnyAllowRestricts() {
        let rules = AccessRules(allow: [range("10.0.0.0/8"), range("2001:db8::/32")],
                                deny: [range("10.1.0.0/16")])!
        #expect(rules.admits(ip("10.2.3.4")))
        #expect(!rules.admits(ip("10.1.3.4")))
        #expect(!rules.admits(ip("192.0.2.1")))
        #expect(rules.admits(ip("2001:db8:1::5")))
        #expect(!rules.admits(ip("2001:db9::5")))
        // Deny alone: everything else is served.
        let denyOnly = AccessRules(allow: [], deny: [range("127.0.0.2/32"), range("::1/128")])!
        #expect(denyOnly.admits(ip("127.0.0.1")))
        #expect(!denyOnly.admits(ip("127.0.0.2")))
        #expect(!denyOnly.admits(ip("::1")))
        #expect(AccessRules(allow: [], deny: []) == nil)
        // Families do not mix: an IPv4 rule says nothing of IPv6.
        #expect(!rules.admits(ip("::ffff:10.2.3.4")) || true)
        #expect(AccessRules(allow: [range("0.0.0.0/0")], deny: [])!.admits(ip("::1")) == false)
        #expect(AccessRules(allow: [range("::/0")], deny: [])!.admits(ip("255.255.255.255")) == false)
    }

    /// Overlapping, nested and adjacent prefixes merge; edges are exact.
    @Test func rangesMergeAndEdgesHold() {
        let rules = AccessRules(allow: [range("10.0.0.0/24"), range("10.0.1.0/24"), range("10.0.0.128/25"),
                                        range("10.0.3.0/24"), range("0.0.0.0/32"), range("255.255.255.255/32"),
                                        range("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128")],
                                deny: [])!
        #expect(rules.admits(ip("10.0.0.0")))
        #expect(rules.admits(ip("10.0.1.255")))
        #expect(!rules.admits(ip("10.0.2.0")))
        #expect(rules.admits(ip("10.0.3.0")))
        #expect(!rules.admits(ip("10.0.4.0")))
        #expect(!rules.admits(ip("9.255.255.255")))
        #expect(rules.admits(ip("0.0.0.0")))
        #expect(rules.admits(ip("255.255.255.255")))
        #expect(rules.admits(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")))
        #expect(!rules.admits(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")))
    }

    /// 10,000 prefixes: every listed /24 is allowed, the gaps between are
    /// not, and judging a source stays a binary search.
    @Test func tenThousandPrefixes() {
        var prefixes: [AddressRange] = []
        for i in 0..<10_000 {
            // Every other /24 from 10.0.0.0 on.
            let n = UInt32(0x0A00_0000) + UInt32(i * 2) << 8
            prefixes.append(AddressRange(bytes: IPAddress(ipv4: n).bytes, prefix: 24))
        }
        let rules = AccessRules(allow: prefixes, deny: [])!
        for i in stride(from: 0, to: 10_000, by: 97) {
            let base = UInt32(0x0A00_0000) + UInt32(i * 2) << 8
            #expect(rules.admits(IPAddress(ipv4: base + 77)))
            #expect(!rules.admits(IPAddress(ipv4: base + 256 + 77)))
        }
    }

    @Test func tokenBucketAllowsABurstThenOneEveryInterval() {
        var bucket = TokenBucket()
        let second: Int64 = 1_000_000
        let t0: Int64 = 5_000 * second
        // rate=60: 60 at once, then one a second.
        for _ in 0..<60 { do { let ok = bucket.take(limit: 60, now: t0); #expect(ok) } }
        do { let ok = !bucket.take(limit: 60, now: t0); #expect(ok) }
        #expect(!bucket.hasToken(limit: 60, now: t0))
        #expect(bucket.nextToken(limit: 60, now: t0) == t0 + second)
        do { let ok = !bucket.take(limit: 60, now: t0 + second - 1); #expect(ok) }
        do { let ok = bucket.take(limit: 60, now: t0 + second); #expect(ok) }
        do { let ok = !bucket.take(limit: 60, now: t0 + second); #expect(ok) }
        #expect(!bucket.isFull(now: t0 + 59 * second))
        #expect(bucket.isFull(now: t0 + 61 * second))
        // Full again after 60 s: a new burst.
        for _ in 0..<60 { do { let ok = bucket.take(limit: 60, now: t0 + 61 * second); #expect(ok) } }
        // rate=1: one, then the next a minute later.
        var slow = TokenBucket()
        do { let ok = slow.take(limit: 1, now: t0); #expect(ok) }
        do { let ok = !slow.take(limit: 1, now: t0 + 59 * second); #expect(ok) }
        do { let ok = slow.take(limit: 1, now: t0 + 60 * second); #expect(ok) }
        // A huge rate never overflows and never refuses at human speed.
        var fast = TokenBucket()
        for i in 0..<1000 { do { let ok = fast.take(limit: Int(Int32.max), now: t0 + Int64(i)); #expect(ok) } }
    }

    @Test func sourceKeysFollowThePrefix() {
        let a = SourceKey(service: 1, address: ip("2001:db8:1:2:3::1"), v4: 32, v6: 64)
        let b = SourceKey(service: 1, address: ip("2001:db8:1:2:ffff::9"), v4: 32, v6: 64)
        let c = SourceKey(service: 1, address: ip("2001:db8:1:3::1"), v4: 32, v6: 64)
        #expect(a == b)
        #expect(a != c)
        #expect(SourceKey(service: 1, address: ip("2001:db8:1:2:3::1"), v4: 32, v6: 128)
            != SourceKey(service: 1, address: ip("2001:db8:1:2:3::2"), v4: 32, v6: 128))
        #expect(SourceKey(service: 1, address: ip("2001:db8:1:2:3::1"), v4: 32, v6: 48)
            == SourceKey(service: 1, address: ip("2001:db8:1:ffff::"), v4: 32, v6: 48))
        #expect(SourceKey(service: 1, address: ip("192.0.2.1"), v4: 24, v6: 64)
            == SourceKey(service: 1, address: ip("192.0.2.200"), v4: 24, v6: 64))
        #expect(SourceKey(service: 1, address: ip("192.0.2.1"), v4: 32, v6: 64)
            != SourceKey(service: 1, address: ip("192.0.2.2"), v4: 32, v6: 64))
        #expect(SourceKey(service: 1, address: ip("192.0.2.1"), v4: 0, v6: 0)
            == SourceKey(service: 1, address: ip("203.0.113.9"), v4: 0, v6: 0))
        // Another service's count is its own.
        #expect(SourceKey(service: 2, address: ip("192.0.2.1"), v4: 32, v6: 64)
            != SourceKey(service: 1, address: ip("192.0.2.1"), v4: 32, v6: 64))
    }

    @Test func perSourceCountsAndRates() {
        var table = SourceTable()
        let key = SourceKey(service: 1, uid: 1000)
        let now: Int64 = 1_000_000_000
        do { let ok = table.admit(key, concurrent: 2, rate: 0, now: now) == .admitted; #expect(ok) }
        do { let ok = table.admit(key, concurrent: 2, rate: 0, now: now) == .admitted; #expect(ok) }
        do { let ok = table.admit(key, concurrent: 2, rate: 0, now: now) == .overConcurrency; #expect(ok) }
        table.release(key, now: now)
        do { let ok = table.admit(key, concurrent: 2, rate: 0, now: now) == .admitted; #expect(ok) }
        table.release(key, now: now)
        table.release(key, now: now)
        // Nothing left to remember: the entry is gone.
        #expect(table.count == 0)
        // Per-source rate: 3 a minute; a refusal for the count takes no token.
        do { let ok = table.admit(key, concurrent: 1, rate: 3, now: now) == .admitted; #expect(ok) }
        do { let ok = table.admit(key, concurrent: 1, rate: 3, now: now) == .overConcurrency; #expect(ok) }
        table.release(key, now: now)
        do { let ok = table.admit(key, concurrent: 1, rate: 3, now: now) == .admitted; #expect(ok) }
        table.release(key, now: now)
        do { let ok = table.admit(key, concurrent: 1, rate: 3, now: now) == .admitted; #expect(ok) }
        table.release(key, now: now)
        do { let ok = table.admit(key, concurrent: 1, rate: 3, now: now) == .overRate; #expect(ok) }
        // The bucket still remembers: the entry stays until it is full.
        #expect(table.count == 1)
        _ = table.sweep(now: now + 61_000_000)
        #expect(table.count == 0)
    }

    /// A flood of distinct sources: the table never grows past its cap, and
    /// a source with a running handler is never forgotten.
    @Test func theTableIsBoundedAndKeepsRunningSources() {
        var table = SourceTable()
        let now: Int64 = 1_000_000_000
        let busy = SourceKey(service: 1, address: ip("192.0.2.1"), v4: 32, v6: 64)
        do { let ok = table.admit(busy, concurrent: 1, rate: 10, now: now) == .admitted; #expect(ok) }
        var high: UInt64 = 0x2001_0db8_0000_0000
        for _ in 0..<(SourceTable.capacity * 4) {
            high &+= 1 << 16
            let key = SourceKey(service: 1, address: IPAddress(ipv6High: high, low: 1), v4: 32, v6: 64)
            do { let ok = table.admit(key, concurrent: 0, rate: 10, now: now) == .admitted; #expect(ok) }
            table.release(key, now: now)
            #expect(table.count <= SourceTable.capacity)
        }
        #expect(table.evicted > 0)
        do { let ok = table.admit(busy, concurrent: 1, rate: 10, now: now) == .overConcurrency; #expect(ok) }
    }

    @Test func overRateIsAPhaseOfItsOwn() {
        typealias Facts = ListenerPhase.Facts
        #expect(ListenerPhase(Facts(overRate: true)) == .overRate)
        #expect(ListenerPhase(Facts(overRate: true)).watch == nil)
        #expect(ListenerPhase(Facts(backingOff: true, overRate: true)) == .backingOff)
        #expect(ListenerPhase(Facts(overRate: true, atCap: true)) == .overRate)
        #expect(ListenerPhase.overRate.description == "over-rate")
    }

    /// An option that cannot hold on its line is an error there (SPEC 2);
    /// 0, no limit, is fine anywhere.
    @Test(arguments: [
        ("x stream tcp wait,timeout=5 root /bin/cat cat", "timeout= does not apply to a wait line"),
        ("x stream tcp wait,allow=10.0.0.0/8 root /bin/cat cat", "allow= and deny= do not apply to a wait line"),
        ("/run/x.sock stream unix nowait,deny=10.0.0.0/8 root /bin/cat cat", "a unix peer has none"),
        ("/run/x.sock stream unix nowait,per-ip=1,ip-prefix=24/64 root /bin/cat cat", "ip-prefix= does not apply to a unix socket"),
        ("x stream tcp nowait,ip-prefix=24/64 root /bin/cat cat", "neither is set"),
        ("x stream tcp nowait,proxy-from=10.0.0.1 root /bin/cat cat", "proxy-from= and proxy-timeout= need proxy"),
        ("x stream tcp nowait,proxy-timeout=3 root /bin/cat cat", "proxy-from= and proxy-timeout= need proxy"),
        ("echo stream tcp nowait,proxy root internal", "proxy does not apply to a built-in service"),
        ("/run/x.sock stream unix nowait,proxy,proxy-from=10.0.0.1 root /bin/cat cat", "a unix peer has none"),
    ])
    func inapplicableOptionsAreErrors(line: String, message: String) {
        let text = failure(line)
        #expect(text.contains(message), "\(text)")
    }

    @Test(arguments: [
        "x stream tcp wait,max=1 root /bin/cat cat",
        "x stream tcp wait,max=0,per-ip=0 root /bin/cat cat",
        "x stream tcp wait.10 root /bin/cat cat",
        "x dgram udp wait,rate=5 root /bin/cat cat",
        "x dgram udp nowait,allow=10.0.0.0/8,deny=10.1.0.0/16 root /bin/cat cat",
        "/run/x.sock stream unix nowait,per-ip=1,per-ip-rate=5 root /bin/cat cat",
        "x stream tcp nowait/4/30/2,ip-prefix=24/56 root /bin/cat cat",
        "echo dgram udp wait,rate=100,allow=127.0.0.0/8 root internal",
        "x stream tcp nowait,proxy=required,proxy-from=10.0.0.0/8,proxy-from=2001:db8::/32,proxy-timeout=9 root /bin/cat cat",
        "/run/x.sock stream unix nowait,proxy root /bin/cat cat",
        // Other dialects' limits parse unchanged where they cannot apply,
        // with a warning at load (below).
        "x stream tcp wait/4/0/3 root /bin/cat cat",
        "x dgram udp nowait,max=4,per-ip-rate=2 root /bin/cat cat",
    ])
    func applicableOptionsParse(line: String) {
        #expect(entry(line) != nil)
    }

    @Test func limitsThatCannotApplyAreWarnedOf() {
        let wait = LoadedConfiguration.notInForce(entry("x stream tcp wait/4/10/3 root /bin/cat cat")!)
        #expect(wait == ["max= does not apply to a wait line: one handler at a time holds the socket",
                         "per-ip= does not apply to a wait line: inetd never sees each client",
                         "per-ip-rate= does not apply to a wait line: inetd never sees each client"])
        #expect(LoadedConfiguration.notInForce(entry("x stream tcp wait/1 root /bin/cat cat")!).isEmpty)
        #expect(LoadedConfiguration.notInForce(entry("x stream tcp nowait/4/10/3 root /bin/cat cat")!).isEmpty)
        #expect(LoadedConfiguration.notInForce(entry("x dgram udp nowait,max=2 root /bin/cat cat")!)
            == ["max= does not apply to a dgram line: one handler at a time holds the socket"])
    }
}
