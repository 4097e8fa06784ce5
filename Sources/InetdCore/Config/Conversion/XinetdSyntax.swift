/// xinetd.conf(5)'s syntax: `service NAME` and `defaults` sections of
/// `attribute = values` lines between `{` and `}` (`+=` adds to what the
/// defaults gave, `-=` takes away), `include FILE` and `includedir DIR`,
/// and `#` comment lines. Pure: text in, sections out.
public struct XinetdFile: Equatable, Sendable {
    public enum Operator: Equatable, Sendable { case set, add, remove }

    public struct Attribute: Equatable, Sendable {
        public var line: Int
        public var key: String
        public var op: Operator
        public var values: [String]
    }

    public struct Section: Equatable, Sendable {
        public var file: String
        public var line: Int
        /// The service's name; nil for `defaults`.
        public var name: String?
        public var attributes: [Attribute] = []
    }

    /// `include FILE` or `includedir DIR`, which the caller reads.
    public struct Include: Equatable, Sendable {
        public var line: Int
        public var path: String
        public var directory: Bool
    }

    public var path: String
    public var sections: [Section] = []
    public var includes: [Include] = []
    public var diagnostics: [Diagnostic] = []

    public init(path: String, text: String) {
        self.path = path
        var open: Section?
        // A header waiting for its `{` on the next line.
        var header: Section?
        var number = 0
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            number += 1
            let words = raw.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            guard let first = words.first, !first.hasPrefix("#") else { continue }
            if var section = open {
                if first == "}" {
                    sections.append(section)
                    open = nil
                    if words.count > 1 { note(number, "text after '}' is ignored") }
                } else if let attribute = Self.attribute(raw, line: number) {
                    section.attributes.append(attribute)
                    open = section
                } else {
                    note(number, "expected 'attribute = value' inside the block of line \(section.line), found '\(raw)'")
                }
                continue
            }
            if let waiting = header {
                header = nil
                if first == "{" {
                    open = waiting
                    if words.count > 1 { note(number, "text after '{' is ignored") }
                    continue
                }
                note(waiting.line, "'\(waiting.name.map { "service \($0)" } ?? "defaults")' has no '{' after it")
            }
            var headerWords = words
            let braced = headerWords.last == "{"
            if braced { headerWords.removeLast() }
            var section: Section?
            if headerWords.count == 2, headerWords[0] == "service" {
                section = Section(file: path, line: number, name: headerWords[1])
            } else if headerWords == ["defaults"] {
                section = Section(file: path, line: number, name: nil)
            } else if words.count == 2, words[0] == "include" || words[0] == "includedir" {
                includes.append(Include(line: number, path: words[1], directory: words[0] == "includedir"))
                continue
            }
            guard let section else {
                note(number, "expected 'service NAME', 'defaults', 'include FILE' or 'includedir DIR', found '\(raw)'")
                continue
            }
            if braced { open = section } else { header = section }
        }
        if let section = open { note(section.line, "no '}' closes this block before the end of the file") }
        if let waiting = header { note(waiting.line, "no '{' follows this header") }
    }

    private mutating func note(_ line: Int, _ message: String) {
        diagnostics.append(Diagnostic(file: path, line: line, message: message))
    }

    /// `key = values`, `key += values`, `key -= values`; values split at blanks.
    static func attribute(_ raw: Substring, line: Int) -> Attribute? {
        guard let eq = raw.firstIndex(of: "=") else { return nil }
        var keyPart = raw[..<eq]
        var op = Operator.set
        if keyPart.hasSuffix("+") { op = .add; keyPart = keyPart.dropLast() }
        else if keyPart.hasSuffix("-") { op = .remove; keyPart = keyPart.dropLast() }
        let key = keyPart.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard key.count == 1 else { return nil }
        let values = raw[raw.index(after: eq)...].split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
        return Attribute(line: line, key: String(key[0]), op: op, values: values.map(String.init))
    }

    /// What xinetd's `includedir` reads of a directory's names: not one
    /// that ends in `~` or holds a `.` (editor backups, `.rpmsave`, `.dpkg-old`).
    public static func includedName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasSuffix("~") && !name.contains(".")
    }
}
