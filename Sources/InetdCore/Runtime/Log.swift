import Glibc

/// One logfmt line per event on stderr: `level=info event=reload services=3`.
///
/// Values are quoted when they hold blanks, quotes or `=`; control characters
/// are escaped, so a hostile peer or file name cannot forge a line.
public struct Log: Sendable {
    public enum Level: String, Sendable { case debug, info, warn, error }

    /// `-d`: one line per connection and per handler exit.
    public var verbose: Bool

    public init(verbose: Bool) { self.verbose = verbose }

    public func debug(_ event: String, _ fields: (String, String)...) {
        if verbose { write(.debug, event, fields) }
    }
    public func info(_ event: String, _ fields: (String, String)...) { write(.info, event, fields) }
    public func warn(_ event: String, _ fields: (String, String)...) { write(.warn, event, fields) }
    public func error(_ event: String, _ fields: (String, String)...) { write(.error, event, fields) }

    public func write(_ level: Level, _ event: String, _ fields: [(String, String)]) {
        var line = "level=\(level.rawValue) event=\(event)"
        for (key, value) in fields {
            line += " \(key)="
            Self.appendValue(value, to: &line)
        }
        line += "\n"
        // A log line that cannot be written (stderr closed or full) is dropped:
        // logging must never stop the daemon.
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(2, raw.baseAddress! + offset, raw.count - offset)
                if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { break }
            }
        }
    }

    static func appendValue(_ value: String, to line: inout String) {
        let needsQuotes = value.isEmpty || value.unicodeScalars.contains {
            $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\\" || $0.value < 0x20 || $0.value == 0x7F
        }
        guard needsQuotes else {
            line += value
            return
        }
        line += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": line += "\\\""
            case "\\": line += "\\\\"
            case "\n": line += "\\n"
            case "\t": line += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                line += "\\x" + String(scalar.value, radix: 16)
            default: line.unicodeScalars.append(scalar)
            }
        }
        line += "\""
    }
}
