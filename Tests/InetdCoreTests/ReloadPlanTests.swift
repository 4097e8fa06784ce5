@testable import InetdCore
import Testing

// Which sockets a reload keeps, closes and opens (ReloadPlan).

@Suite("ReloadPlan")
struct ReloadPlanTests {
    func services(_ text: String) -> [Service] {
        let result = resolve(text)
        #expect(result.messages == [])
        return result.services
    }

    @Test("kept, closed and opened")
    func plan() {
        let before = services("""
            echo stream tcp nowait root internal
            7007 stream tcp4 nowait root /bin/cat cat
            /run/a.sock stream unix nowait root /bin/cat cat
            """)
        let after = services("""
            7007 stream tcp4 nowait,max=3 nobody /bin/other other
            echo stream tcp4 nowait root internal
            /run/a.sock dgram unix wait root /bin/cat cat
            daytime dgram udp wait root internal
            """)
        let plan = ReloadPlan(current: before.flatMap(\.endpoints), next: after)
        #expect(plan.kept.map(\.description) == ["0.0.0.0:7/tcp4", "0.0.0.0:7007/tcp4"])
        #expect(plan.closed.map(\.description) == ["[::]:7/tcp6", "/run/a.sock/unix"])
        #expect(plan.opened.map(\.description) == ["/run/a.sock/unix", "0.0.0.0:13/udp4", "[::]:13/udp6"])
    }

    @Test("tcp6 to tcp46 rebinds: IPV6_V6ONLY cannot change on a bound socket")
    func v6OnlyChange() {
        let before = services("7007 stream tcp6 nowait root /bin/cat cat")
        let after = services("7007 stream tcp46 nowait root /bin/cat cat")
        let plan = ReloadPlan(current: before.flatMap(\.endpoints), next: after)
        #expect(plan.kept.isEmpty)
        #expect(plan.closed.map(\.description) == ["[::]:7007/tcp6"])
        #expect(plan.opened.map(\.description) == ["[::]:7007/tcp46"])
    }

    @Test("an unchanged file keeps everything; an empty one closes everything")
    func unchangedAndEmpty() {
        let current = services(RealFileTests.freeBSD)
        let same = ReloadPlan(current: current.flatMap(\.endpoints), next: current)
        #expect(same.kept == current.flatMap(\.endpoints))
        #expect(same.closed.isEmpty && same.opened.isEmpty)
        let none = ReloadPlan(current: current.flatMap(\.endpoints), next: [])
        #expect(none.closed == current.flatMap(\.endpoints))
        #expect(none.kept.isEmpty && none.opened.isEmpty)
        let first = ReloadPlan(current: [], next: current)
        #expect(first.opened == current.flatMap(\.endpoints))
    }
}
