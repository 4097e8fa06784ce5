/// A systemd unit file's syntax (systemd.syntax(7)): `[Section]` headers,
/// `Key=Value` lines, `#` and `;` comment lines, a backslash at the end of
/// a line joining the next (comment lines between are skipped), repeated
/// keys that add to a list, and an empty assignment that resets it. Pure.
public struct SystemdUnit: Equatable, Sendable {
    public struct Entry: Equatable, Sendable {
        public var section: String
        public var key: String
        public var value: String
        public var line: Int
    }

    public var path: String
    /// The unit's file name: `ssh.socket`, `echo@.service`.
    public var name: String
    public var entries: [Entry] = []
    public var diagnostics: [Diagnostic] = []

    public init(path: String, text: String) {
        self.path = path
        name = String(path.split(separator: "/").last ?? Substring(path))
        var section = ""
        var pending: (text: String, line: Int)?
        var number = 0
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            number += 1
            var line = String(raw)
            if line.hasSuffix("\r") { line.removeLast() }
            let trimmed = Self.trim(line)
            if trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { continue }
            if var joined = pending {
                joined.text += " " + trimmed
                pending = nil
                line = joined.text
                if line.hasSuffix("\\") { pending = (String(line.dropLast()), joined.line); continue }
                take(line, line: joined.line, section: &section)
                continue
            }
            if trimmed.isEmpty { continue }
            if trimmed.hasSuffix("\\") { pending = (String(trimmed.dropLast()), number); continue }
            take(trimmed, line: number, section: &section)
        }
        if let joined = pending { take(joined.text, line: joined.line, section: &section) }
    }

    private mutating func take(_ text: String, line: Int, section: inout String) {
        let text = Self.trim(text)
        if text.hasPrefix("[") {
            guard text.hasSuffix("]") else {
                diagnostics.append(Diagnostic(file: path, line: line, message: "section header '\(text)' has no ']'"))
                return
            }
            section = String(text.dropFirst().dropLast())
            return
        }
        guard let eq = text.firstIndex(of: "=") else {
            diagnostics.append(Diagnostic(file: path, line: line, message: "expected Key=Value, found '\(text)'"))
            return
        }
        entries.append(Entry(section: section, key: Self.trim(String(text[..<eq])),
                             value: Self.trim(String(text[text.index(after: eq)...])), line: line))
    }

    static func trim(_ text: String) -> String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = text.firstIndex(where: { !blank($0) }) else { return "" }
        let end = text.lastIndex(where: { !blank($0) })!
        return String(text[start...end])
    }

    /// A list key's values in order, after the last empty assignment.
    public func list(_ section: String, _ key: String) -> [Entry] {
        var found: [Entry] = []
        for entry in entries where entry.section == section && entry.key == key {
            if entry.value.isEmpty { found = [] } else { found.append(entry) }
        }
        return found
    }

    /// A single-valued key: its last assignment (nil when none or reset).
    public func value(_ section: String, _ key: String) -> Entry? {
        let last = entries.last { $0.section == section && $0.key == key }
        return last?.value.isEmpty == true ? nil : last
    }

    /// systemd's boolean spellings; nil for anything else.
    public static func boolean(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "1", "yes", "y", "true", "t", "on": return true
        case "0", "no", "n", "false", "f", "off": return false
        default: return nil
        }
    }

    /// `%%`, `%n`, `%N`, `%p` and `%t` (the system manager's /run)
    /// expanded; nil when another specifier is left, which only systemd
    /// can fill in (the instance, the host, the machine id, ...).
    public func expandingSpecifiers(_ text: String) -> String? {
        guard text.contains("%") else { return text }
        let full = name
        let stem = full.split(separator: ".").dropLast().joined(separator: ".")
        let prefix = stem.split(separator: "@", maxSplits: 1).first.map(String.init) ?? stem
        var out = ""
        var iterator = text.makeIterator()
        while let c = iterator.next() {
            guard c == "%" else { out.append(c); continue }
            switch iterator.next() {
            case "%": out += "%"
            case "n": out += full
            case "N": out += stem
            case "p": out += prefix
            case "t": out += "/run"
            default: return nil
            }
        }
        return out
    }
}
