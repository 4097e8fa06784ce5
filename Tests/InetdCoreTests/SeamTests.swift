import Foundation
import Testing
@testable import InetdCore

/// Issue 9, a complete seam: outside Sources/InetdCore/System/ (and the C
/// target, Sources/_InetdSystem), no source file of InetdCore or of the
/// inetd executable calls the C library itself. Every call goes through a
/// System wrapper, where the seam (`syscall`, `nonBlockingSyscall`) retries
/// EINTR, names the call in its errors and stops on EBADF and EFAULT.
///
/// Checked on what the compiler made, not on the source text: SwiftPM's
/// debug build (not whole-module) writes one object per source file
/// (`.build/<triple>/debug/InetdCore.build/Daemon.swift.o`), and a file's
/// undefined symbols that the libc.so.6 this process runs on defines are
/// its libc calls. The Swift overlay's wrappers for variadic C functions
/// (`Glibc.open`, `Glibc.fcntl`, `ioctl`) and its `errno` accessors live in
/// libswiftGlibc, not libc, and are counted as the libc names they reach.
/// Needs `nm` (binutils, which .ci/run installs) and the debug objects beside
/// the test bundle: `swift test` builds them, also under `--scratch-path`
/// (bench/asan) and on any architecture.
///
/// Config files must not import Glibc at all (the parser and resolver are
/// pure; look-ups go through `NameLookup`), nor may the executable's
/// main.swift.
@Suite struct SeamTests {
    /// Known offenders, `[file: [symbol]]`, paths under Sources/: empty,
    /// as it must stay. No file outside System/ calls libc and no Config file
    /// imports it. The mechanism is kept for a call that has to be let
    /// through while its wrapper is written; the test fails when a listed
    /// symbol is no longer used, so such an entry cannot outlive its reason.
    static let knownOffenders: [String: Set<String>] = [:]

    /// libc symbols the Swift compiler emits for ordinary Swift code, seen
    /// in objects of files that import no C module at all (Swift 6.3.1,
    /// x86_64, -Onone): not calls the source makes, so not counted.
    /// - `memcpy`, `memset`: copying and zeroing values (in nearly every
    ///   object, ConfigParser.swift's and Invocation.swift's included).
    /// - `malloc_usable_size`: the standard library's inlined array growth
    ///   asks the allocation's real size (ConfigParser.swift).
    /// - `__stack_chk_fail`: the stack protector, in any function that
    ///   passes a local's address on (a pure Swift tuple does it too).
    /// `memmove` is not here: the compiler has not been seen to emit it, and
    /// `UnsafeMutableRawPointer.copyMemory(from:byteCount:)` (overlap-safe:
    /// it is the standard library's `_memmove`) replaces an explicit call.
    /// An explicit call to one of these four in Runtime goes unnoticed: the
    /// price of looking at objects.
    static let compilerEmitted: Set<String> = ["memcpy", "memset", "malloc_usable_size", "__stack_chk_fail"]

    /// The pseudo-symbol an `import Glibc` is listed as.
    static let importGlibc = "import Glibc"

    /// Files, by their path under Sources/, whose source may not import
    /// Glibc (or SwiftGlibc) at all.
    static func mayNotImportGlibc(_ path: String) -> Bool {
        path.hasPrefix("InetdCore/Config/") || path.hasPrefix("inetd/")
    }

    /// The checked sources: every Swift file of InetdCore outside System/,
    /// and the inetd executable's. Not inetd-probe: it is a test handler
    /// the end-to-end tests spawn, not part of the daemon.
    static let checkedTargets = ["InetdCore", "inetd"]
    static let exemptDirectory = "InetdCore/System/"

    @Test func libcIsCalledOnlyThroughSystem() throws {
        let sources = try Self.checkedSources()
        #expect(sources.count > 20, "found only \(sources.count) source files under \(Self.sourcesDirectory)")
        let objects = try Self.objectsDirectory()
        let nm = try Self.nmPath()
        let libc = try Self.libcExports(nm: nm)

        var found: [String: Set<String>] = [:]
        var problems: [String] = []
        for source in sources {
            let target = String(source.prefix { $0 != "/" })
            let name = (source as NSString).lastPathComponent
            let object = "\(objects)/\(target).build/\(name).o"
            // No check that the object is newer than the source: the driver
            // skips a file whose contents did not change (it hashes them),
            // so a touched or checked-out file keeps its older object.
            // `swift test` builds first; after `--skip-build`, the objects
            // are what the last build made.
            guard FileManager.default.fileExists(atPath: object) else {
                problems.append("\(source): no object \(object). SeamTests reads the debug build's per-file objects: run `swift build` (debug, not whole-module) first")
                continue
            }
            var symbols = Self.libcCalls(undefined: try Self.undefinedSymbols(object, nm: nm), libc: libc)
            if Self.mayNotImportGlibc(source) {
                let text = try String(contentsOfFile: Self.sourcesDirectory + "/" + source, encoding: .utf8)
                if Self.importsGlibc(text) { symbols.insert(Self.importGlibc) }
            }
            if !symbols.isEmpty { found[source] = symbols }
        }
        for problem in problems { Issue.record("\(problem)") }
        guard problems.isEmpty else { return }

        let verdict = Self.compare(found: found, allowed: Self.knownOffenders)
        #expect(verdict.offenders.isEmpty, """
            libc called outside Sources/InetdCore/System/: wrap each call in a System file (through \
            `syscall` or `nonBlockingSyscall`) and call the wrapper.
            \(Self.render(verdict.offenders))
            """)
        #expect(verdict.stale.isEmpty, """
            SeamTests.knownOffenders lists calls these files no longer make: remove them from the list.
            \(Self.render(verdict.stale))
            """)
    }

    // MARK: - The pieces, tested on their own

    @Test func overlaySymbolsAreNamedByTheLibcCallTheyReach() {
        let libc: Set<String> = ["open", "fcntl", "errno", "recv", "memcpy"]
        let undefined = [
            "recv", "memcpy", "swift_retain",
            "$s5Glibc4openys5Int32VSPys4Int8VG_ADtF",  // Glibc.open(_:_:)
            "$s5Glibc5fcntlys5Int32VAD_A2DtF",  // Glibc.fcntl(_:_:_:)
            "$s5Glibc5errnos5Int32Vvg",  // Glibc.errno getter
            "$s5Glibc6S_IFMTs6UInt32Vvg",  // a constant, not a call
            "$s9InetdCore6SocketO4sendyAA8IOResultOySiGAA14FileDescriptorV_SWtKFZ",
        ]
        #expect(Self.libcCalls(undefined: undefined, libc: libc) == ["recv", "open", "fcntl", "errno"])
        #expect(Self.overlayName("$s5Glibc5errnos5Int32VvM") == "errno")
        #expect(Self.overlayName("$s5Glibc") == nil)
        #expect(Self.overlayName("$sSo8sockaddrVMa") == nil)
    }

    @Test func glibcImportsAreFoundInAnyForm() {
        #expect(Self.importsGlibc("import Glibc\n"))
        #expect(Self.importsGlibc("// x\npublic import Glibc\nimport Testing\n"))
        #expect(Self.importsGlibc("@preconcurrency import Glibc"))
        #expect(Self.importsGlibc("internal import func Glibc.getenv"))
        #expect(Self.importsGlibc("import SwiftGlibc"))
        #expect(!Self.importsGlibc("import GlibcExtras\n// import Glibc\nlet importGlibc = 1\n"))
        #expect(!Self.importsGlibc("import InetdCore"))
    }

    @Test func offendersAndStaleEntriesAreTold() {
        let verdict = Self.compare(found: ["a.swift": ["recv", "send"], "b.swift": ["time"]],
                                   allowed: ["a.swift": ["recv", "waitpid"], "c.swift": ["free"]])
        #expect(verdict.offenders == ["a.swift": ["send"], "b.swift": ["time"]])
        #expect(verdict.stale == ["a.swift": ["waitpid"], "c.swift": ["free"]])
        #expect(Self.render(verdict.offenders) == "a.swift: send\nb.swift: time")
        #expect(Self.parseNM("                 U recv\n                 U $s4main1xyyF\n\nfoo.o:\n") == ["recv", "$s4main1xyyF"])
        #expect(Self.parseNM("0000000000001234 T recv@@GLIBC_2.2.5\n0000000000000010 B errno@GLIBC_PRIVATE\n")
                == ["recv", "errno"])
    }

    // MARK: - Finding and reading

    /// Sources/, found from this file's path.
    static let sourcesDirectory: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // InetdCoreTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // package root
        .appendingPathComponent("Sources").path

    /// The checked source files, as paths under Sources/.
    static func checkedSources() throws -> [String] {
        var found: [String] = []
        for target in checkedTargets {
            let directory = sourcesDirectory + "/" + target
            guard let walker = FileManager.default.enumerator(atPath: directory) else {
                throw SeamError("cannot list \(directory): SeamTests finds the sources from its own #filePath")
            }
            while let relative = walker.nextObject() as? String {
                let path = target + "/" + relative
                if path.hasSuffix(".swift"), !path.hasPrefix(exemptDirectory) { found.append(path) }
            }
        }
        return found.sorted()
    }

    /// The build directory the running test bundle is in, which holds each
    /// target's `<Target>.build/`: `.build/x86_64-unknown-linux-gnu/debug`,
    /// `.build-asan/aarch64-unknown-linux-gnu/debug`, whatever the scratch
    /// path and architecture.
    static func objectsDirectory() throws -> String {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        var directory = (executable as NSString).deletingLastPathComponent
        // swift-testing may run from inside the .xctest bundle.
        while directory.count > 1 {
            if FileManager.default.fileExists(atPath: directory + "/InetdCore.build") { return directory }
            directory = (directory as NSString).deletingLastPathComponent
        }
        throw SeamError("""
            no InetdCore.build/ beside the test bundle (\(executable)) or above it: SeamTests reads the \
            per-file objects of SwiftPM's debug build; run it with `swift test`
            """)
    }

    static func nmPath() throws -> String {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        for directory in directories where FileManager.default.isExecutableFile(atPath: directory + "/nm") {
            return directory + "/nm"
        }
        throw SeamError("nm not found in PATH: install binutils (apt-get install binutils) to run SeamTests")
    }

    /// What the libc.so.6 mapped into this process defines: its functions
    /// and variables, without version suffixes.
    static func libcExports(nm: String) throws -> Set<String> {
        // Not String(contentsOfFile:): Foundation reads a procfs file (size
        // 0) in one 4 KiB chunk, and under ASan libc's lines come later.
        let maps = try readWholeFile("/proc/self/maps")
        let paths = maps.split(separator: "\n").compactMap { line -> String? in
            guard let path = line.split(separator: " ", omittingEmptySubsequences: true).last,
                  path.hasPrefix("/"), path.hasSuffix("/libc.so.6") else { return nil }
            return String(path)
        }
        guard let libc = paths.first else { throw SeamError("no libc.so.6 in /proc/self/maps") }
        let exports = Set(parseNM(try run(nm, ["-D", "--defined-only", libc])))
        guard exports.contains("read"), exports.contains("recvfrom") else {
            throw SeamError("nm -D --defined-only \(libc) does not list read and recvfrom: \(exports.count) symbols")
        }
        return exports
    }

    static func undefinedSymbols(_ object: String, nm: String) throws -> [String] {
        parseNM(try run(nm, ["-u", object]))
    }

    /// The symbol names of nm's default output (`[address] TYPE name`),
    /// version suffixes (`@@GLIBC_2.2.5`) cut; file headers skipped.
    static func parseNM(_ output: String) -> [String] {
        output.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, let name = fields.last else { return nil }
            return String(name.prefix { $0 != "@" })
        }
    }

    /// The libc calls among an object's undefined symbols, by libc name.
    static func libcCalls(undefined: [String], libc: Set<String>) -> Set<String> {
        var calls = Set<String>()
        for symbol in undefined {
            let name = overlayName(symbol) ?? symbol
            if libc.contains(name), !compilerEmitted.contains(name) { calls.insert(name) }
        }
        return calls
    }

    /// `open` for `$s5Glibc4open...`: the first name declared in the Glibc
    /// overlay module's mangling; nil for any other symbol.
    static func overlayName(_ symbol: String) -> String? {
        let prefix = "$s5Glibc"
        guard symbol.hasPrefix(prefix) else { return nil }
        let rest = symbol.dropFirst(prefix.count)
        let digits = rest.prefix { $0.isASCII && $0.isNumber }
        guard let length = Int(digits), length > 0 else { return nil }
        let name = rest.dropFirst(digits.count).prefix(length)
        return name.count == length ? String(name) : nil
    }

    /// Whether Swift source text imports Glibc (or SwiftGlibc), in any form:
    /// with attributes, an access level, or a declaration kind.
    static func importsGlibc(_ text: String) -> Bool {
        let pattern = #/^\s*(@\w+\s+)*((public|package|internal|fileprivate|private)\s+)?import\s+((typealias|struct|class|enum|protocol|let|var|func)\s+)?(Swift)?Glibc(\.|\s|$)/#
        return text.split(separator: "\n", omittingEmptySubsequences: false).contains { $0.firstMatch(of: pattern) != nil }
    }

    /// What is found and not allowed, and what is allowed and not found.
    static func compare(found: [String: Set<String>], allowed: [String: Set<String>])
        -> (offenders: [String: Set<String>], stale: [String: Set<String>]) {
        var offenders: [String: Set<String>] = [:]
        var stale: [String: Set<String>] = [:]
        for (file, symbols) in found {
            let extra = symbols.subtracting(allowed[file] ?? [])
            if !extra.isEmpty { offenders[file] = extra }
        }
        for (file, symbols) in allowed {
            let gone = symbols.subtracting(found[file] ?? [])
            if !gone.isEmpty { stale[file] = gone }
        }
        return (offenders, stale)
    }

    /// `file: symbol, symbol`, a line per file, in order.
    static func render(_ list: [String: Set<String>]) -> String {
        list.keys.sorted().map { "\($0): \(list[$0]!.sorted().joined(separator: ", "))" }.joined(separator: "\n")
    }

    static func run(_ program: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SeamError("\(program) \(arguments.joined(separator: " ")) exited \(process.terminationStatus): "
                            + String(decoding: stderr, as: UTF8.self))
        }
        return String(decoding: stdout, as: UTF8.self)
    }
}

struct SeamError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
