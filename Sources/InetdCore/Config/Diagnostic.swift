/// One problem found in a configuration file, reported as `FILE:LINE: message`:
/// an error skips its line, a warning keeps it, and a note (`FILE:LINE: note:
/// message`) only tells how a valid line is read.
public struct Diagnostic: Equatable, Sendable, CustomStringConvertible {
    public enum Severity: Sendable { case error, warning, note }

    public var file: String
    public var line: Int
    public var message: String
    public var severity: Severity

    public init(file: String, line: Int, message: String, severity: Severity = .error) {
        self.file = file
        self.line = line
        self.message = message
        self.severity = severity
    }

    public var description: String {
        let label = switch severity {
        case .error: ""
        case .warning: "warning: "
        case .note: "note: "
        }
        return "\(file):\(line): \(label)\(message)"
    }
}
