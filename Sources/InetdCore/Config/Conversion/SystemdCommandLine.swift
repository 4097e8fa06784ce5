/// systemd's command lines (`ExecStart=`, systemd.service(5) "COMMAND
/// LINES") and `Environment=` assignments: words split at blanks, double
/// and single quotes, C escapes, `$NAME` (a word of its own: split into
/// words) and `${NAME}` (inside a word) from the unit's own environment.
struct SystemdCommandLine: Equatable {
    /// The `-`, `@`, `:`, `+`, `!` (and `!!`) prefixes given.
    var prefixes: Set<Character> = []
    var program: String
    /// argv[0] first: the program as written, or the word after it with `@`.
    var arguments: [String]
    /// Variables used that the unit does not set (EnvironmentFile=, the
    /// manager's): they expanded to nothing, as unset ones do in systemd.
    var unknownVariables: [String] = []

    enum Failure: Error, Equatable { case empty, unbalancedQuote, notAbsolute(String) }

    static func parse(_ text: String, environment: [String: String]) -> Result<SystemdCommandLine, Failure> {
        var rest = Substring(text)
        var prefixes: Set<Character> = []
        while let c = rest.first, "-@:+!|".contains(c) {
            prefixes.insert(c)
            rest = rest.dropFirst()
        }
        guard let words = split(rest) else { return .failure(.unbalancedQuote) }
        var unknown: [String] = []
        var expanded: [String] = []
        if prefixes.contains(":") {
            expanded = words
        } else {
            for word in words {
                expanded += expand(word, environment: environment, unknown: &unknown)
            }
        }
        guard !expanded.isEmpty else { return .failure(.empty) }
        let program = expanded.removeFirst()
        guard program.hasPrefix("/") else { return .failure(.notAbsolute(program)) }
        let arguments = prefixes.contains("@") ? expanded : [program] + expanded
        guard !arguments.isEmpty else { return .failure(.empty) }
        return .success(SystemdCommandLine(prefixes: prefixes, program: program, arguments: arguments,
                                           unknownVariables: unknown))
    }

    /// `$NAME` alone: the value's words; `${NAME}` anywhere: the value;
    /// `$$`: a `$`.
    static func expand(_ word: String, environment: [String: String], unknown: inout [String]) -> [String] {
        if word.hasPrefix("$"), !word.hasPrefix("${"), !word.hasPrefix("$$") {
            let name = String(word.dropFirst())
            if HandlerVariables.isValidName(Substring(name)) {
                guard let value = environment[name] else { unknown.append(name); return [] }
                return value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
            }
        }
        var out = ""
        var index = word.startIndex
        while index < word.endIndex {
            let c = word[index]
            let next = word.index(after: index)
            if c == "$", next < word.endIndex, word[next] == "$" {
                out += "$"
                index = word.index(after: next)
            } else if c == "$", next < word.endIndex, word[next] == "{",
                      let close = word[next...].firstIndex(of: "}") {
                let name = String(word[word.index(after: next)..<close])
                if let value = environment[name] { out += value } else { unknown.append(name) }
                index = word.index(after: close)
            } else {
                out.append(c)
                index = next
            }
        }
        return [out]
    }

    /// Words at blanks, quotes removed, escapes undone; nil when a quote
    /// is left open.
    static func split(_ text: Substring) -> [String]? {
        var words: [String] = []
        var word = ""
        var inWord = false
        var quote: Character?
        var iterator = text.makeIterator()
        while let c = iterator.next() {
            if let open = quote {
                if c == open { quote = nil } else if c == "\\", let escaped = iterator.next() {
                    word += unescape(escaped, &iterator)
                } else { word.append(c) }
                continue
            }
            switch c {
            case " ", "\t", "\n":
                if inWord { words.append(word); word = ""; inWord = false }
            case "\"", "'":
                quote = c
                inWord = true
            case "\\":
                inWord = true
                if let escaped = iterator.next() { word += unescape(escaped, &iterator) }
            default:
                word.append(c)
                inWord = true
            }
        }
        if quote != nil { return nil }
        if inWord { words.append(word) }
        return words
    }

    /// A C escape after its backslash: `\n`, `\t`, `\s`, `\xNN`, and the
    /// character itself for the rest (`\\`, `\"`, `\'`, `\;`).
    private static func unescape(_ c: Character, _ iterator: inout Substring.Iterator) -> String {
        switch c {
        case "n": return "\n"
        case "t": return "\t"
        case "r": return "\r"
        case "s": return " "
        case "a": return "\u{07}"
        case "b": return "\u{08}"
        case "f": return "\u{0C}"
        case "v": return "\u{0B}"
        case "x":
            let digits = String([iterator.next(), iterator.next()].compactMap { $0 })
            return UInt8(digits, radix: 16).map { String(UnicodeScalar($0)) } ?? "x" + digits
        default: return String(c)
        }
    }

    /// `Environment=` lines, in order: each `NAME=VALUE` word (quotes read),
    /// later ones replacing earlier; an empty line resets them all.
    static func environment(_ entries: [SystemdUnit.Entry]) -> (values: [String: String], order: [String]) {
        var values: [String: String] = [:]
        var order: [String] = []
        for entry in entries {
            for word in split(Substring(entry.value)) ?? [] {
                guard let eq = word.firstIndex(of: "=") else { continue }
                let name = String(word[..<eq])
                if values[name] == nil { order.append(name) }
                values[name] = String(word[word.index(after: eq)...])
            }
        }
        return (values, order)
    }
}
