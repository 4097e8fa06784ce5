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
        // Built as bytes: String appends cost several times more, and a
        // thousand services log a thousand lines at start.
        var line: [UInt8] = []
        line.reserveCapacity(160)
        line.append(contentsOf: "level=".utf8)
        line.append(contentsOf: level.rawValue.utf8)
        line.append(contentsOf: " event=".utf8)
        line.append(contentsOf: event.utf8)
        for (key, value) in fields {
            line.append(UInt8(ascii: " "))
            line.append(contentsOf: key.utf8)
            line.append(UInt8(ascii: "="))
            Self.appendValue(value, to: &line)
        }
        line.append(UInt8(ascii: "\n"))
        // A log line that cannot be written (stderr closed or full) is dropped:
        // logging must never stop the daemon.
        line.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(2, raw.baseAddress! + offset, raw.count - offset)
                if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { break }
            }
        }
    }

    static func appendValue(_ value: String, to line: inout [UInt8]) {
        let utf8 = value.utf8
        let needsQuotes = utf8.isEmpty || utf8.contains {
            $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "=")
                || $0 == UInt8(ascii: "\\") || $0 < 0x20 || $0 == 0x7F
        }
        guard needsQuotes else {
            line.append(contentsOf: utf8)
            return
        }
        line.append(UInt8(ascii: "\""))
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "\""): line.append(contentsOf: "\\\"".utf8)
            case UInt8(ascii: "\\"): line.append(contentsOf: "\\\\".utf8)
            case UInt8(ascii: "\n"): line.append(contentsOf: "\\n".utf8)
            case UInt8(ascii: "\t"): line.append(contentsOf: "\\t".utf8)
            case _ where byte < 0x20 || byte == 0x7F:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                line.append(contentsOf: "\\x".utf8)
                line.append(hex[Int(byte >> 4)])
                line.append(hex[Int(byte & 0xF)])
            default: line.append(byte)
            }
        }
        line.append(UInt8(ascii: "\""))
    }
}
