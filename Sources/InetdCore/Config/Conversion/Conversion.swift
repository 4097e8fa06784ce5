/// What `inetd --convert` prints: one block per service found, each the
/// comments that explain it and the inetd.conf line it became, plus the
/// diagnostics for standard error. Pure: the converters fill it from text.
public struct Conversion: Equatable, Sendable {
    public var services: [ConvertedService] = []
    /// Problems outside any one service (a file's syntax, an include).
    public var diagnostics: [Diagnostic] = []

    public init() {}

    /// Every diagnostic, the file's and each service's, in order.
    public var allDiagnostics: [Diagnostic] { diagnostics + services.flatMap(\.notes) }

    /// Whether something could not be expressed at all (an error): exit 1.
    /// Notes on attributes that have no equivalent are warnings, not failures.
    public var failed: Bool { allDiagnostics.contains { $0.severity == .error } }

    /// `text` with every control character (a NUL, a CR, an escape from
    /// a hostile file) as `?`: comments and messages stay one printable line.
    public static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map {
            $0.value < 0x20 || $0.value == 0x7F || (0x80..<0xA0).contains($0.value) ? "?" : $0
        }))
    }

    /// The inetd.conf text: blocks apart by a blank line, after `heading`.
    public func render(heading: [String]) -> String {
        var text = heading.map { "# \(Self.printable($0))\n" }.joined()
        for service in services { text += "\n" + service.render() }
        return text
    }
}

/// One service of the source and what it became.
public struct ConvertedService: Equatable, Sendable {
    /// Where it came from, as the block's first comment: `FILE:LINE: service echo`.
    public var origin: String
    /// What has no equivalent, or was changed to fit: each a comment above
    /// the line, and on standard error.
    public var notes: [Diagnostic] = []
    /// The line; nil when the service could not be expressed.
    public var line: InetdLine?
    /// Whether the line is written commented out (`#<off># `, Debian's
    /// convention for a disabled line, which every inetd reads as a comment).
    public var off = false

    public init(origin: String) { self.origin = origin }

    public static let offPrefix = "#<off># "

    /// Sets the line, or, where one of its fields cannot be written (a
    /// blank in an argument, a service field that would start a comment),
    /// fails the service with an error at `file`:`number`.
    mutating func place(_ candidate: InetdLine, file: String, line number: Int) {
        let fields = candidate.fields
        if let bad = fields.first(where: { InetdLine.unwritable($0) }) ?? fields.first.flatMap({ $0.hasPrefix("#") ? $0 : nil }) {
            notes.append(Diagnostic(file: file, line: number,
                                    message: "'\(bad)' cannot be written as a field of an inetd.conf line (a blank, a "
                                        + "control character or a leading '#'); run a script that passes it"))
            off = true
            return
        }
        line = candidate
    }

    func render() -> String {
        var text = "# \(Conversion.printable(origin))\n"
        for note in notes {
            let label = note.severity == .error ? "cannot convert: " : ""
            text += "# " + Conversion.printable("\(note.file):\(note.line): \(label)\(note.message)") + "\n"
        }
        if let line { text += (off ? Self.offPrefix : "") + line.text + "\n" }
        return text
    }
}

/// An inetd.conf line, field by field, in this project's spellings
/// (inetd.conf(5)).
public struct InetdLine: Equatable, Sendable {
    /// `echo`, `7007`, `127.0.0.1:7007`, `[::1]:22`, or a unix path.
    public var service: String
    /// `stream`, `dgram` or `seqpacket`.
    public var socketType: String
    /// `tcp`, `tcp4`, ..., `unix`.
    public var transport: String
    /// `sndbuf=N`, `rcvbuf=N`: after the protocol, comma-separated.
    public var bufferOptions: [String] = []
    public var wait: Bool
    /// `max=N`, `allow=CIDR`, `listen-fds`, ...: after wait/nowait.
    public var options: [String] = []
    /// `user`, `user:group`, or `-`.
    public var user: String
    /// An absolute path, or `internal`.
    public var program: String
    /// argv[0] first; for `internal`, the built-in's name where needed.
    public var arguments: [String] = []

    public var fields: [String] {
        let proto = ([transport] + bufferOptions).joined(separator: ",")
        let waitSpec = ([wait ? "wait" : "nowait"] + options).joined(separator: ",")
        return [service, socketType, proto, waitSpec, user, program] + arguments
    }

    public var text: String { fields.joined(separator: "\t") }

    /// A field or option value that cannot be written in a line: blanks end
    /// a field, a comma ends an option, and a NUL or newline ends the text.
    public static func unwritable(_ word: String, option: Bool = false) -> Bool {
        word.isEmpty || word.utf8.contains { $0 <= 0x20 || $0 == 0x7F || (option && $0 == UInt8(ascii: ",")) }
    }
}
