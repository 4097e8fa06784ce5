import Glibc
import Testing

// Config is text in, values out: the parser and resolver are tested with a
// table for a name service, and nothing in them may reach the system. An
// import of libc (or of the C shim) is where that would start.

/// Every `.swift` file in Sources/InetdCore/Config, by name, with its text.
private func configSources() throws -> [(name: String, text: String)] {
    let root = String(#filePath.split(separator: "/", omittingEmptySubsequences: false).dropLast(3).joined(separator: "/"))
    let directory = root + "/Sources/InetdCore/Config"
    let stream = try #require(opendir(directory), "no \(directory)")
    defer { closedir(stream) }
    var names: [String] = []
    while let entry = readdir(stream) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name.hasSuffix(".swift") { names.append(name) }
    }
    return try names.sorted().map { name in
        let fd = open(directory + "/" + name, O_RDONLY | O_CLOEXEC)
        try #require(fd >= 0, "cannot open \(name)")
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fd, &chunk, chunk.count)
            try #require(count >= 0, "cannot read \(name)")
            if count == 0 { break }
            bytes += chunk[..<count]
        }
        return (name, String(decoding: bytes, as: UTF8.self))
    }
}

/// The module an `import` line names, whatever its attributes, access level
/// or kind (`@preconcurrency public import struct Glibc.stat`); nil for
/// any other line.
private func importedModule(_ line: Substring) -> String? {
    let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
    guard let index = words.firstIndex(of: "import") else { return nil }
    let before = words[..<index]
    guard before.allSatisfy({ $0.hasPrefix("@") || ["public", "package", "internal", "fileprivate", "private"].contains($0) })
    else { return nil }
    let kinds: Set<Substring> = ["struct", "class", "enum", "protocol", "typealias", "func", "let", "var"]
    var rest = words[(index + 1)...]
    if let first = rest.first, kinds.contains(first) { rest = rest.dropFirst() }
    return rest.first.map { String($0.split(separator: ".")[0]) }
}

@Suite("Config is pure")
struct ConfigPurityTests {
    static let forbidden: Set<String> = ["Glibc", "Musl", "Darwin", "_InetdSystem", "Foundation", "FoundationEssentials"]

    @Test("no file in Sources/InetdCore/Config imports libc or the C shim")
    func noSystemImports() throws {
        let sources = try configSources()
        #expect(sources.count >= 6, "the Config sources should be found: \(sources.map(\.name))")
        for (name, text) in sources {
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                if let module = importedModule(line), Self.forbidden.contains(module) {
                    Issue.record("Config/\(name):\(number + 1) imports \(module): \(line)")
                }
            }
        }
    }

    @Test("the import check sees every spelling")
    func checkerSeesImports() {
        #expect(importedModule("import Glibc") == "Glibc")
        #expect(importedModule("public import Glibc") == "Glibc")
        #expect(importedModule("@preconcurrency internal import _InetdSystem") == "_InetdSystem")
        #expect(importedModule("import struct Glibc.stat") == "Glibc")
        #expect(importedModule("  import Foundation") == "Foundation")
        #expect(importedModule("/// import Glibc, in a comment") == nil)
        #expect(importedModule("let x = 1") == nil)
    }
}
