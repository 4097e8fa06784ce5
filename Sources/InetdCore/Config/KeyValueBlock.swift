/// One of NetBSD's key-values definitions (inetd.conf(5) since 2021), as
/// written, before its keys mean anything:
///
///     [address:]service on|off
///         key = value, key = value value ..., key =, ...;
///
/// Keys and values may spread over any number of lines; `#` starts a
/// comment anywhere outside quotes; `;` ends the definition, and the rest of
/// its line may hold another one. `ConfigParser.entry(from:)` maps the keys.
struct KeyValueBlock {
    /// One `key = values` setting, with the line its key is on.
    struct Setting {
        var key: String
        var values: [String]
        var line: Int
        /// What was wrong with its values as written (a bad escape, an
        /// unclosed quote); the setting is kept so that the block's other
        /// settings are still read, and the block is refused.
        var problem: String?
    }

    /// The `[address:]service` field before `on` or `off`.
    var service: String
    /// `on`; `off` is read and checked the same, and opens nothing (NetBSD).
    var enabled: Bool
    /// The line of `service on`.
    var line: Int
    var settings: [Setting] = []
    /// Errors in the block's structure: a key that is not followed by `=`,
    /// no `;` before the end of the file.
    var problems: [(line: Int, message: String)] = []

    var header: String { "\(service) \(enabled ? "on" : "off")" }
}

/// Reads a `KeyValueBlock` from the bytes after its `on` or `off`. Works on
/// UTF-8 bytes, as `ConfigParser.forEachDefinition` does: every separator is
/// ASCII.
struct KeyValueBlockReader {
    let bytes: UnsafeBufferPointer<UInt8>
    /// The next byte to read.
    private(set) var position: Int
    /// The line `position` is on.
    private(set) var line: Int

    init(bytes: UnsafeBufferPointer<UInt8>, position: Int, line: Int) {
        self.bytes = bytes
        self.position = position
        self.line = line
    }

    static let newline = UInt8(ascii: "\n"), hash = UInt8(ascii: "#")
    static let comma = UInt8(ascii: ","), semicolon = UInt8(ascii: ";"), equals = UInt8(ascii: "=")
    static let backslash = UInt8(ascii: "\\")

    /// Blank, tab and (for CRLF files) carriage return.
    static func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D }

    /// Reads settings up to the `;` that ends the block, or to the end of the
    /// file; afterwards `position` is just past the `;`. After an error in
    /// the structure the rest of the block, up to its `;`, is skipped.
    mutating func read(service: String, enabled: Bool) -> KeyValueBlock {
        var block = KeyValueBlock(service: service, enabled: enabled, line: line)
        while true {
            guard skipSpaceAndComments() else { return unterminated(block) }
            let keyLine = line
            let key = readWord()
            guard !key.isEmpty else {
                let found = bytes[position] == Self.semicolon ? "';'" : bytes[position] == Self.comma ? "','" : "'='"
                block.problems.append((keyLine, "expected a key, found \(found)"))
                return skipToEnd(block)
            }
            guard skipSpaceAndComments() else { return unterminated(block) }
            guard bytes[position] == Self.equals else {
                block.problems.append((keyLine, "expected '=' after '\(key)'"))
                return skipToEnd(block)
            }
            position += 1
            var setting = KeyValueBlock.Setting(key: key, values: [], line: keyLine)
            while true {
                guard skipSpaceAndComments() else {
                    block.settings.append(setting)
                    return unterminated(block)
                }
                let byte = bytes[position]
                if byte == Self.comma || byte == Self.semicolon {
                    position += 1
                    block.settings.append(setting)
                    if byte == Self.semicolon { return block }
                    break
                }
                setting.values.append(readValue(&setting.problem))
            }
        }
    }

    /// Skips blanks, newlines and comments; false at the end of the file.
    private mutating func skipSpaceAndComments() -> Bool {
        while position < bytes.count {
            let byte = bytes[position]
            if byte == Self.newline {
                line += 1
            } else if byte == Self.hash {
                while position < bytes.count, bytes[position] != Self.newline { position += 1 }
                continue
            } else if !Self.isBlank(byte) {
                return true
            }
            position += 1
        }
        return false
    }

    /// A key: the bytes up to a blank, a newline, `=`, `,`, `;` or `#`.
    private mutating func readWord() -> String {
        let start = position
        while position < bytes.count {
            let byte = bytes[position]
            if Self.isBlank(byte) || byte == Self.newline || byte == Self.equals || byte == Self.comma
                || byte == Self.semicolon || byte == Self.hash { break }
            position += 1
        }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
    }

    /// One value: unquoted bytes and quoted parts (single or double quotes,
    /// within one line, with NetBSD's escapes `\\ \n \t \r \' \" \xHH`) up to
    /// a blank, a newline, `,`, `;` or, outside quotes, `#`.
    private mutating func readValue(_ problem: inout String?) -> String {
        var value: [UInt8] = []
        while position < bytes.count {
            let byte = bytes[position]
            if Self.isBlank(byte) || byte == Self.newline || byte == Self.hash || byte == Self.comma
                || byte == Self.semicolon { break }
            position += 1
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                readQuoted(until: byte, into: &value, &problem)
            } else {
                value.append(byte)
            }
        }
        return String(decoding: value, as: UTF8.self)
    }

    private mutating func readQuoted(until quote: UInt8, into value: inout [UInt8], _ problem: inout String?) {
        func note(_ text: String) { if problem == nil { problem = text } }
        while true {
            guard position < bytes.count, bytes[position] != Self.newline else {
                note("a quote (\(Character(Unicode.Scalar(quote)))) is not closed on its line")
                return
            }
            let byte = bytes[position]
            position += 1
            if byte == quote { return }
            guard byte == Self.backslash else {
                value.append(byte)
                continue
            }
            guard position < bytes.count, bytes[position] != Self.newline else {
                note("a '\\' ends the line inside quotes")
                continue
            }
            let escaped = bytes[position]
            position += 1
            switch escaped {
            case Self.backslash, UInt8(ascii: "'"), UInt8(ascii: "\""): value.append(escaped)
            case UInt8(ascii: "n"): value.append(0x0A)
            case UInt8(ascii: "t"): value.append(0x09)
            case UInt8(ascii: "r"): value.append(0x0D)
            case UInt8(ascii: "x"):
                if position + 1 < bytes.count, let high = Self.hexDigit(bytes[position]),
                   let low = Self.hexDigit(bytes[position + 1]) {
                    value.append(high << 4 | low)
                    position += 2
                } else {
                    note("'\\x' takes two hexadecimal digits")
                }
            default:
                note("unknown escape '\\\(Character(Unicode.Scalar(escaped)))' (\\\\ \\n \\t \\r \\' \\\" \\xHH)")
            }
        }
    }

    private static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// After an error in the structure: on to the `;` that ends the block,
    /// past quotes and comments.
    private mutating func skipToEnd(_ block: KeyValueBlock) -> KeyValueBlock {
        var ignored: String?
        var scratch: [UInt8] = []
        while skipSpaceAndComments() {
            let byte = bytes[position]
            position += 1
            if byte == Self.semicolon { return block }
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                readQuoted(until: byte, into: &scratch, &ignored)
                scratch.removeAll(keepingCapacity: true)
            }
        }
        return unterminated(block)
    }

    private func unterminated(_ block: KeyValueBlock) -> KeyValueBlock {
        var block = block
        block.problems.append((block.line, "'\(block.header)' is not ended by ';' before the end of the file"))
        return block
    }
}
