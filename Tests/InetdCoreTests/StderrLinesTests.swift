@testable import InetdCore
import Testing

/// Handlers' stderr cut into lines per writer (`StderrLines`), and how a
/// line is escaped on its way to the log (`Log.appendValue(bytes:)`).
@Suite struct StderrLinesTests {
    struct Line: Equatable {
        var pid: Int32
        var source: Int
        var text: String
        var cut: Bool
    }

    final class Collected {
        var lines: [Line] = []
    }

    static func feed(_ table: inout StderrLines, _ text: String, pid: Int32, source: Int = 0, into out: Collected) {
        var budget = Int.max
        Array(text.utf8).withUnsafeBytes { bytes in
            table.take(bytes, pid: pid, source: source, budget: &budget) { pid, source, line, cut in
                out.lines.append(Line(pid: pid, source: source, text: String(decoding: line, as: UTF8.self), cut: cut))
            }
        }
    }

    @Test func linesAreAssembledPerWriterAcrossWrites() {
        var table = StderrLines()
        let out = Collected()
        Self.feed(&table, "one\ntw", pid: 10, into: out)
        Self.feed(&table, "par", pid: 11, into: out)
        Self.feed(&table, "o\nthree\n", pid: 10, into: out)
        Self.feed(&table, "t\n", pid: 11, into: out)
        #expect(out.lines == [Line(pid: 10, source: 0, text: "one", cut: false), Line(pid: 10, source: 0, text: "two", cut: false),
                              Line(pid: 10, source: 0, text: "three", cut: false), Line(pid: 11, source: 0, text: "part", cut: false)])
        #expect(table.held == 0)
    }

    @Test func aTurnsBudgetStopsBetweenLinesAndSaysWhere() {
        var table = StderrLines()
        let out = Collected()
        var budget = 2
        let text = Array("a\nbb\nccc\ntail".utf8)
        let used = text.withUnsafeBytes { bytes in
            table.take(bytes, pid: 5, source: 0, budget: &budget) { pid, source, line, cut in
                out.lines.append(Line(pid: pid, source: source, text: String(decoding: line, as: UTF8.self), cut: cut))
            }
        }
        #expect(used == 5 && budget == 0)
        #expect(out.lines.map(\.text) == ["a", "bb"])
        Self.feed(&table, String(decoding: text[used...], as: UTF8.self) + "\n", pid: 5, into: out)
        #expect(out.lines.map(\.text) == ["a", "bb", "ccc", "tail"])
    }

    @Test func anUnfinishedLineIsFlushedAtExitOrWhenItsChannelCloses() {
        var table = StderrLines()
        let out = Collected()
        Self.feed(&table, "no newline", pid: 7, source: 1, into: out)
        Self.feed(&table, "other", pid: 8, source: 2, into: out)
        #expect(out.lines.isEmpty)
        table.flush(pid: 7) { pid, source, line, cut in
            out.lines.append(Line(pid: pid, source: source, text: String(decoding: line, as: UTF8.self), cut: cut))
        }
        table.flush(source: 2) { pid, source, line, cut in
            out.lines.append(Line(pid: pid, source: source, text: String(decoding: line, as: UTF8.self), cut: cut))
        }
        #expect(out.lines == [Line(pid: 7, source: 1, text: "no newline", cut: false), Line(pid: 8, source: 2, text: "other", cut: false)])
        #expect(table.held == 0)
    }

    @Test func aLongLineIsCutOnceAndTheRestDropped() {
        var table = StderrLines()
        let out = Collected()
        let limit = StderrLines.lineLimit
        Self.feed(&table, String(repeating: "a", count: limit + 10) + "\nnext\n", pid: 1, into: out)
        Self.feed(&table, String(repeating: "b", count: limit - 1), pid: 2, into: out)
        Self.feed(&table, String(repeating: "b", count: 5000), pid: 2, into: out)
        Self.feed(&table, "still dropped\nafter\n", pid: 2, into: out)
        #expect(out.lines.map(\.text.count) == [limit, 4, limit, 5])
        #expect(out.lines.map(\.cut) == [true, false, true, false])
    }

    @Test func theTableIsBoundedAndTheLeastRecentWriterMakesRoom() {
        var table = StderrLines()
        let out = Collected()
        for pid in 1...Int32(StderrLines.writerLimit) { Self.feed(&table, "p\(pid)", pid: pid, into: out) }
        #expect(out.lines.isEmpty)
        Self.feed(&table, "p1 more", pid: 1, into: out)
        Self.feed(&table, "newcomer", pid: 1000, into: out)
        #expect(out.lines == [Line(pid: 2, source: 0, text: "p2", cut: false)])
        #expect(table.held == StderrLines.writerLimit)
    }

    static func escaped(_ bytes: [UInt8]) -> String {
        var line: [UInt8] = []
        bytes.withUnsafeBytes { Log.appendValue(bytes: $0, to: &line) }
        return String(decoding: line, as: UTF8.self)
    }

    @Test func hostileBytesAreEscapedNotPassedThrough() {
        #expect(Self.escaped(Array("plain".utf8)) == "plain")
        #expect(Self.escaped(Array("a \"b\" c=d\\".utf8)) == #""a \"b\" c=d\\""#)
        #expect(Self.escaped([0x41, 0x00, 0x0D, 0x1B, 0x7F, 0x0A]) == #""A\x00\x0d\x1b\x7f\n""#)
        #expect(Self.escaped(Array("café ✓ 😀".utf8)) == "\"café ✓ 😀\"")
        #expect(Self.escaped(Array("é".utf8)) == "é")
        // Not UTF-8: a lone continuation byte, a cut sequence, an overlong
        // slash, a surrogate, past U+10FFFF.
        #expect(Self.escaped([0x80]) == #""\x80""#)
        #expect(Self.escaped([0x61, 0xE2, 0x9C]) == #""a\xe2\x9c""#)
        #expect(Self.escaped([0xC0, 0xAF]) == #""\xc0\xaf""#)
        #expect(Self.escaped([0xED, 0xA0, 0x80]) == #""\xed\xa0\x80""#)
        #expect(Self.escaped([0xF4, 0x90, 0x80, 0x80]) == #""\xf4\x90\x80\x80""#)
        #expect(Self.escaped([]) == #""""#)
    }
}
