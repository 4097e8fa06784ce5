import Foundation
import Glibc
import Testing

/// The glibc the binary needs, against what README.md promises (SPEC 7).
/// glibc is linked dynamically: a fully static binary crashes when NSS
/// loads a module that brings a second libc. So the binary runs only where
/// the glibc is at least as new as the newest symbol version it uses, and
/// README.md must name that version.
@Suite struct GlibcRequirementTests {
    /// README.md at the package root, found from this file's path.
    static let readme: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // EndToEndTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // package root
        .appendingPathComponent("README.md").path

    static let sentenceStart = "The release binary needs glibc "
    static let sentenceEnd = " or newer"

    @Test func binaryNeedsNoNewerGlibcThanTheReadmeNames() throws {
        let text = try String(contentsOfFile: Self.readme, encoding: .utf8)
        guard let named = Self.namedVersion(in: text) else {
            Issue.record("\(Self.readme) has no sentence '\(Self.sentenceStart)X.Y\(Self.sentenceEnd)'")
            return
        }
        let symbols = try objdump(["-T", Binaries.inetd])
        guard let newest = Self.glibcVersions(in: symbols).max(by: { Self.less($0, $1) }) else {
            Issue.record("objdump -T shows no GLIBC_x.y version in \(Binaries.inetd)")
            return
        }
        #expect(!Self.less(named, newest),
                "\(Binaries.inetd) needs GLIBC_\(Self.text(newest)), README.md names glibc \(Self.text(named))")
    }

    @Test func binaryLinksGlibcDynamically() throws {
        #expect(try Self.needed().contains("libc.so.6"),
                "\(Binaries.inetd) is not dynamically linked against libc.so.6 (a fully static glibc crashes in NSS)")
    }

    /// A release binary (the Swift standard library linked in, so no
    /// libswiftCore.so) needs no shared library but glibc's, and is a PIE:
    /// releaseLinkFlags in Package.swift. A build without the Linker
    /// directory (libstdc++ static) still links and runs, only with more
    /// private memory; one linked -no-pie loses the randomization of its
    /// own code and data: this is what notices either.
    @Test func releaseBinaryNeedsOnlyGlibcAndIsPositionIndependent() throws {
        let needed = try Self.needed()
        guard !needed.contains(where: { $0.hasPrefix("libswiftCore") }) else { return }  // a debug build
        let others = needed.filter { !($0.hasPrefix("libc.so") || $0.hasPrefix("libm.so") || $0.hasPrefix("ld-linux")) }
        #expect(others.isEmpty, "\(Binaries.inetd) needs \(others) besides glibc")
        let header = try objdump(["-f", Binaries.inetd])
        #expect(!header.contains("EXEC_P") && header.contains("DYNAMIC"),
                "\(Binaries.inetd) is not a position-independent executable: \(header)")
    }

    /// The binary's NEEDED shared libraries (`objdump -p`).
    static func needed() throws -> [String] {
        try objdump(["-p", Binaries.inetd]).split(separator: "\n")
            .filter { $0.contains("NEEDED") }
            .compactMap { $0.split(separator: " ").last.map(String.init) }
    }

    // MARK: - Parsing

    /// The X.Y of README's "The release binary needs glibc X.Y or newer",
    /// wherever the sentence's lines are broken.
    static func namedVersion(in text: String) -> [Int]? {
        let flat = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).joined(separator: " ")
        guard let start = flat.range(of: sentenceStart) else { return nil }
        let rest = flat[start.upperBound...]
        let number = rest.prefix { $0.isNumber || $0 == "." }
        guard rest.dropFirst(number.count).hasPrefix(sentenceEnd) else { return nil }
        return parse(String(number))
    }

    /// Every `GLIBC_x.y[.z]` version named in `objdump -T` output
    /// (`GLIBC_PRIVATE` and other non-numeric names are left out).
    static func glibcVersions(in output: String) -> [[Int]] {
        output.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "(" || $0 == ")" })
            .filter { $0.hasPrefix("GLIBC_") }
            .compactMap { parse(String($0.dropFirst("GLIBC_".count))) }
    }

    static func parse(_ version: String) -> [Int]? {
        let parts = version.split(separator: ".", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count >= 2, parts.allSatisfy({ $0 != nil }) else { return nil }
        return parts.map { $0! }
    }

    /// 2.9 < 2.17 < 2.34 < 2.34.1: numeric, part by part.
    static func less(_ a: [Int], _ b: [Int]) -> Bool {
        for (x, y) in zip(a, b) where x != y { return x < y }
        return a.count < b.count
    }

    static func text(_ version: [Int]) -> String { version.map(String.init).joined(separator: ".") }

    @Test func versionsCompareNumerically() {
        #expect(Self.less([2, 9], [2, 17]))
        #expect(Self.less([2, 34], [2, 34, 1]))
        #expect(!Self.less([2, 36], [2, 36]))
        #expect(Self.glibcVersions(in: "0 DF *UND* 0 (GLIBC_2.2.5) write\n0 DF *UND* 0 (GLIBC_PRIVATE) x\n0 DF *UND* 0 GLIBC_2.34 y")
                == [[2, 2, 5], [2, 34]])
        #expect(Self.namedVersion(in: "x The release binary\nneeds glibc 2.36 or newer (Debian 12).") == [2, 36])
        #expect(Self.namedVersion(in: "The release binary needs glibc 2.36.") == nil)
    }
}

/// Runs objdump (binutils) and returns its standard output.
private func objdump(_ arguments: [String]) throws -> String {
    let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
    let path = directories.map { String($0) + "/objdump" }.first { (candidate: String) in access(candidate, X_OK) == 0 }
    guard let path else {
        throw HarnessError("objdump not found in PATH: install binutils (apt-get install binutils) to run GlibcRequirementTests")
    }
    let outcome = try runProgram(path, arguments)
    guard outcome.status == 0 else {
        throw HarnessError("objdump \(arguments.joined(separator: " ")) exited \(outcome.status): \(outcome.stderr)")
    }
    return outcome.stdout
}
