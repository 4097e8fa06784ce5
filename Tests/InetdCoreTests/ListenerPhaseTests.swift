import Testing
@testable import InetdCore

/// Why a listener is polled or not, as one value from the facts of their
/// owners (issue 15, part 1), tested without a socket.
@Suite struct ListenerPhaseTests {
    typealias Facts = ListenerPhase.Facts

    @Test func eachFactAloneGivesItsPhase() {
        #expect(ListenerPhase(Facts()) == .listening)
        #expect(ListenerPhase(Facts(bound: false)) == .unbound)
        #expect(ListenerPhase(Facts(stopping: true)) == .stopping)
        #expect(ListenerPhase(Facts(held: true)) == .handedOver(countingArrivals: false))
        #expect(ListenerPhase(Facts(held: true, countingArrivals: true)) == .handedOver(countingArrivals: true))
        #expect(ListenerPhase(Facts(lineHeld: true)) == .lineHeld)
        #expect(ListenerPhase(Facts(backingOff: true)) == .backingOff)
        #expect(ListenerPhase(Facts(atCap: true)) == .atCap)
        #expect(ListenerPhase(Facts(waitingForSlot: true)) == .waitingForSlot)
    }

    /// Only a listening socket is watched to accept; a held TCP listener
    /// is watched edge-triggered in its holder's first second only.
    @Test func onlyListeningAndCountingAreWatched() {
        #expect(ListenerPhase.listening.watch == .input)
        #expect(ListenerPhase.handedOver(countingArrivals: true).watch == [.readable, .edgeTriggered])
        for phase: ListenerPhase in [.unbound, .stopping, .handedOver(countingArrivals: false), .lineHeld, .backingOff,
                                     .atCap, .waitingForSlot] {
            #expect(phase.watch == nil, "\(phase)")
        }
    }

    /// The reason that lasts longer wins: a held socket stays out whatever
    /// else holds; a back-off outlasts the exit that ends a cap.
    @Test func precedence() {
        #expect(ListenerPhase(Facts(bound: false, stopping: true, held: true)) == .unbound)
        #expect(ListenerPhase(Facts(stopping: true, held: true, countingArrivals: true)) == .stopping)
        #expect(ListenerPhase(Facts(held: true, lineHeld: true, backingOff: true)) == .handedOver(countingArrivals: false))
        #expect(ListenerPhase(Facts(lineHeld: true, backingOff: true)) == .lineHeld)
        #expect(ListenerPhase(Facts(backingOff: true, atCap: true, waitingForSlot: true)) == .backingOff)
        #expect(ListenerPhase(Facts(atCap: true, waitingForSlot: true)) == .atCap)
    }

    /// A wait handler's life, fact by fact: listening, handed over and
    /// counting arrivals, handed over, a quick failure that backs off, and
    /// listening again when the back-off ends.
    @Test func aHandOverFromStartToBackOffAndBack() {
        var facts = Facts()
        var phases: [ListenerPhase] = [ListenerPhase(facts)]
        facts.held = true
        facts.countingArrivals = true
        phases.append(ListenerPhase(facts))
        facts.countingArrivals = false  // the first event past the first second
        phases.append(ListenerPhase(facts))
        facts.held = false
        facts.backingOff = true  // the third quick failure in a row
        phases.append(ListenerPhase(facts))
        facts.backingOff = false
        phases.append(ListenerPhase(facts))
        #expect(phases == [.listening, .handedOver(countingArrivals: true), .handedOver(countingArrivals: false),
                           .backingOff, .listening])
        #expect(phases.map(\.description) == ["listening", "handed-over", "handed-over", "backoff", "listening"])
    }

    /// SIGUSR1's names, one per phase.
    @Test func everyPhaseHasItsOwnName() {
        let all: [ListenerPhase] = [.unbound, .stopping, .handedOver(countingArrivals: false), .lineHeld, .backingOff,
                                    .atCap, .waitingForSlot, .listening]
        #expect(Set(all.map(\.description)).count == all.count)
    }
}
