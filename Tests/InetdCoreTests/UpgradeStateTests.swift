import Testing
@testable import InetdCore

/// The state one image hands the next on SIGUSR2 (issue 16): it comes back
/// as it was written, and anything else (cut short, grown, forged, random)
/// is refused with a reason, never a crash.
@Suite struct UpgradeStateTests {
    static let sample = UpgradeState(
        startedAt: 1_234_567, upgrades: 3, handedOverAt: 1_300_000_000, owned: [0, 1],
        services: [
            .init(endpoints: ["127.0.0.1:7007/tcp4", "[::1]:7007/tcp6"], accepted: 10, spawned: 9, execFailures: 1,
                  atCap: 2, overRate: 3, denied: 4, overPerSource: 5, overPerSourceRate: 6, proxyRefused: 7,
                  bucketFullAt: 99_000_000, quickFailures: 1, backoffMilliseconds: 2_000, resumeAt: 5_000,
                  rateResumeAt: nil, stderr: [2, 3]),
            .init(endpoints: ["/run/x.sock/unix"], accepted: 0, spawned: 0, execFailures: 0, atCap: 0, overRate: 0,
                  denied: 0, overPerSource: 0, overPerSourceRate: 0, proxyRefused: 0, bucketFullAt: 0,
                  quickFailures: 0, backoffMilliseconds: 0, resumeAt: nil, rateResumeAt: 7),
        ],
        children: [
            .init(pid: 4242, service: 0, wait: false, started: 1_000, held: [],
                  source: .init(kind: 0, high: 0, low: 0x7F00_0001)),
            .init(pid: 4243, service: nil, wait: true, started: 2_000, held: [0, 1], source: nil),
        ],
        connections: [
            .init(place: 2, listener: nil, service: 1, kind: .echo, lastActivity: 3_000, deadline: nil, inputClosed: false, chargenOffset: 0,
                  pending: Array("half a line".utf8), source: .init(kind: 2, high: 0, low: 1000)),
            .init(place: 3, listener: 1, service: nil, kind: .pendingHeader, lastActivity: 3_001, deadline: 9_000, inputClosed: true,
                  chargenOffset: 17, pending: [], source: nil),
        ])

    @Test func aStateComesBackAsItWasWritten() throws {
        let bytes = Self.sample.encoded()
        #expect(try UpgradeState(decoding: bytes, places: 4) == Self.sample)
        let empty = UpgradeState(startedAt: 0, upgrades: 0, handedOverAt: 0, owned: [], services: [], children: [], connections: [])
        #expect(try UpgradeState(decoding: empty.encoded(), places: 0) == empty)
    }

    @Test func everyShortenedOrLengthenedStateIsRefused() {
        let bytes = Self.sample.encoded()
        for length in 0..<bytes.count {
            #expect(throws: StateDecodingError.self) { try UpgradeState(decoding: Array(bytes[..<length]), places: 4) }
        }
        #expect(throws: StateDecodingError.trailingBytes(1)) { try UpgradeState(decoding: bytes + [0], places: 4) }
    }

    @Test func anotherVersionOrAForeignFileIsNotAState() {
        var bytes = Self.sample.encoded()
        bytes[8] &+= 1
        #expect(throws: StateDecodingError.notAState) { try UpgradeState(decoding: bytes, places: 4) }
        #expect(throws: StateDecodingError.notAState) { try UpgradeState(decoding: Array("#!/bin/sh\n".utf8), places: 4) }
    }

    /// Indices that name no service or no passed descriptor are refused:
    /// the next image would otherwise hand a client a socket it never had.
    @Test func aPlaceOrServiceBeyondWhatWasPassedIsRefused() {
        #expect(throws: StateDecodingError.invalid("descriptor place")) {
            try UpgradeState(decoding: Self.sample.encoded(), places: 3)
        }
        var forged = Self.sample
        forged.children[0].service = 2
        #expect(throws: StateDecodingError.invalid("service index")) {
            try UpgradeState(decoding: forged.encoded(), places: 4)
        }
        forged = Self.sample
        forged.children[0].pid = 1
        #expect(throws: StateDecodingError.invalid("pid")) { try UpgradeState(decoding: forged.encoded(), places: 4) }
    }

    /// A count of 2^32 - 1 records in a few bytes reserves nothing.
    @Test func aHugeCountInAShortStateIsTruncatedNotAllocated() {
        var bytes = UpgradeState(startedAt: 0, upgrades: 0, handedOverAt: 0, owned: [], services: [], children: [], connections: []).encoded()
        bytes.replaceSubrange((bytes.count - 12)..<(bytes.count - 8), with: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: StateDecodingError.truncated) { try UpgradeState(decoding: bytes, places: 0) }
    }

    @Test func randomAndMutatedBytesNeverCrash() {
        var random = Seeded(state: 0x5EED_0016)
        let bytes = Self.sample.encoded()
        var accepted = 0
        for round in 0..<5_000 {
            var input: [UInt8]
            if round % 4 == 0 {
                input = (0..<Int.random(in: 0..<256, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            } else {
                input = bytes
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    input[Int.random(in: 12..<input.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            }
            if (try? UpgradeState(decoding: input, places: 4)) != nil { accepted += 1 }
        }
        // Mutations inside counters and instants still decode; the rest is refused.
        #expect(accepted > 0 && accepted < 5_000)
    }
}
