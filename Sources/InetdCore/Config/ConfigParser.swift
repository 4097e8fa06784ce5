/// The inetd.conf grammar: OpenBSD, FreeBSD, NetBSD and Debian dialects plus
/// this project's `,key=value` options; NetBSD's key-values blocks are read by
/// `KeyValueBlockReader` and mapped in NetBSDKeys.swift. Pure: text in,
/// entries and diagnostics out; names are looked up later, by
/// `ServiceResolver`.
public struct ConfigParser {
    public let file: String

    public init(file: String) { self.file = file }

    public struct Result {
        public var entries: [ServiceEntry] = []
        public var diagnostics: [Diagnostic] = []
        /// Lines that carried an entry (valid or not), for the "no valid line" rule.
        public var entryLineCount = 0
    }

    public static let builtins: Set<String> = ["echo", "discard", "chargen", "daytime", "time"]

    public func parse(_ text: String) -> Result {
        var result = Result()
        var defaultHosts = ["*"]
        result.entries.reserveCapacity(text.utf8.count / 40)
        forEachDefinition(text, diagnostics: &result.diagnostics) { definition, diagnostics in
            let parsed: ServiceEntry?
            switch definition {
            case .line(let logical):
                let fields = logical.fields
                if fields.count == 1, fields[0].hasSuffix(":") {
                    // OpenBSD: a line that is only `addr:` sets the default address.
                    let hosts = String(fields[0].dropLast())
                    switch parseHosts(hosts) {
                    case .success(let parsed): defaultHosts = parsed
                    case .failure(let message): diagnostics.append(error(logical.line, message.text))
                    }
                    return
                }
                result.entryLineCount += 1
                switch parseEntry(fields, line: logical.line, defaultHosts: defaultHosts) {
                case .success(let entry):
                    parsed = entry
                    if let message = quoteWarning(fields, program: entry.program) {
                        diagnostics.append(warning(logical.line, message))
                    }
                case .failure(let message):
                    diagnostics.append(error(logical.line, message.text))
                    parsed = nil
                }
                diagnostics += continuationWarnings(logical, defaultHosts: defaultHosts)
            case .block(let block):
                // An `off` block is checked, and serves nothing: it is no
                // entry for the "no valid line" rule either.
                if block.enabled { result.entryLineCount += 1 }
                parsed = entry(from: block, defaultHosts: defaultHosts, diagnostics: &diagnostics)
                guard block.enabled else { return }
            case .xinetd(let block):
                result.entryLineCount += 1
                diagnostics.append(error(block.line, block.message(file: file)))
                return
            }
            guard var entry = parsed else { return }
            if let before = result.entries.last { entry.share(with: before) }
            result.entries.append(entry)
        }
        return result
    }

    // MARK: - Lines

    struct LogicalLine {
        var line: Int
        var fields: [String]
        /// Each continuation line joined to it: its number and where its
        /// fields start in `fields`.
        var continuations: [(line: Int, start: Int)] = []
    }

    /// What the file holds, in order: positional entries (logical lines),
    /// NetBSD's key-values blocks, and xinetd's blocks (refused whole).
    enum Definition {
        case line(LogicalLine)
        case block(KeyValueBlock)
        case xinetd(XinetdBlock)
    }

    /// xinetd's `service NAME` (or `defaults`) and the `{` ... `}` after
    /// it, skipped together: one error on its first line, where its inner
    /// lines (indented, most of them) would otherwise have been read as
    /// continuations, each with an error of its own or none.
    struct XinetdBlock {
        var line: Int
        /// `service telnet` or `defaults`.
        var header: String
        /// The line of its `}`; nil when none closes it.
        var end: Int?

        func message(file: String) -> String {
            let lines = end.map { "lines \(line)-\($0)" } ?? "line \(line) to the end of the file: no '}' closes it"
            let advice = header == "defaults" ? "inetd --convert xinetd \(file) writes its settings on each service's line"
                : "inetd --convert xinetd \(file) prints the service as an inetd.conf line"
            return "xinetd syntax is not read here: '\(header)' and its { } block (\(lines)) are skipped; \(advice)"
        }

        /// `service NAME` or `defaults`: what opens an xinetd block.
        static func isHeader<C: Collection<String>>(_ fields: C) -> Bool {
            guard let first = fields.first else { return false }
            return fields.count == 2 && first == "service" || fields.count == 1 && first == "defaults"
        }
    }

    /// Joins continuation lines (a line starting with a blank continues the
    /// entry before it, as in OpenBSD), drops comments and blank lines, and
    /// hands each entry to `body` once the next line shows it is complete;
    /// no list of all lines is kept. A line whose second field is `on` or
    /// `off` starts a key-values block instead, read by `KeyValueBlockReader`
    /// up to its `;`; the rest of that line is read as a line of its own.
    ///
    /// Works on UTF-8 bytes: every separator is ASCII, and splitting by
    /// Character would cost grapheme breaking on every byte of the file.
    func forEachDefinition(_ text: String, diagnostics: inout [Diagnostic],
                           _ body: (Definition, inout [Diagnostic]) -> Void) {
        var text = text
        text.withUTF8 { forEachDefinition(bytes: $0, diagnostics: &diagnostics, body) }
    }

    func forEachDefinition(bytes: UnsafeBufferPointer<UInt8>, diagnostics: inout [Diagnostic],
                           _ body: (Definition, inout [Diagnostic]) -> Void) {
        let newline = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t"), hash = UInt8(ascii: "#")
        var pending: LogicalLine?
        var number = 0
        // A comment or an empty line ends an entry, as in OpenBSD: the tail
        // of a commented-out entry (update-inetd's `#<off>#` on a wrapped
        // one) must not become arguments of the entry above the comment.
        var lineStart = 0
        // lineStart is just past a block's `;`, inside line `number`.
        var afterBlock = false
        // Inside an xinetd block: everything up to its `}` is skipped.
        var xinetd: XinetdBlock?
        while lineStart <= bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count, bytes[lineEnd] != newline { lineEnd += 1 }
            if afterBlock {
                if lineStart == bytes.count { break }
            } else {
                if lineStart == bytes.count, lineEnd == bytes.count, number > 0 { break }  // after the final newline
                number += 1
            }
            var bodyEnd = lineEnd
            if bodyEnd > lineStart, bytes[bodyEnd - 1] == cr { bodyEnd -= 1 }  // CRLF files
            var fields: [String] = []
            fields.reserveCapacity(8)  // an entry's six fields and an argument or two
            var secondFieldStart = 0
            var i = lineStart
            while i < bodyEnd {
                while i < bodyEnd, bytes[i] == space || bytes[i] == tab { i += 1 }
                let fieldStart = i
                while i < bodyEnd, bytes[i] != space, bytes[i] != tab { i += 1 }
                if i > fieldStart {
                    if fields.count == 1 { secondFieldStart = fieldStart }
                    fields.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[fieldStart..<i]), as: UTF8.self))
                }
            }
            let bodyIsEmpty = bodyEnd == lineStart
            let startsBlank = !afterBlock && !bodyIsEmpty && (bytes[lineStart] == space || bytes[lineStart] == tab)
            afterBlock = false
            lineStart = lineEnd + 1
            if var block = xinetd {
                if fields.first == "}" {
                    block.end = number
                    body(.xinetd(block), &diagnostics)
                    xinetd = nil
                }
                continue
            }
            // xinetd: `service NAME` then `{` (indented or not), or both on one line.
            if fields.first == "{", let header = pending, header.continuations.isEmpty,
               XinetdBlock.isHeader(header.fields) {
                pending = nil
                xinetd = XinetdBlock(line: header.line, header: header.fields.joined(separator: " "))
                continue
            }
            if fields.last == "{", !startsBlank, XinetdBlock.isHeader(fields.dropLast()) {
                if let done = pending { body(.line(done), &diagnostics) }
                pending = nil
                xinetd = XinetdBlock(line: number, header: fields.dropLast().joined(separator: " "))
                continue
            }
            guard let first = fields.first, first.utf8.first != hash else {
                // A comment or an empty line ends the entry; blanks alone do not.
                if !fields.isEmpty || bodyIsEmpty, let done = pending {
                    body(.line(done), &diagnostics)
                    pending = nil
                }
                continue
            }
            if startsBlank, pending != nil {
                pending!.continuations.append((number, pending!.fields.count))
                pending!.fields += fields
                continue
            }
            if let enabled = Self.blockSwitch(fields) {
                if let done = pending { body(.line(done), &diagnostics) }
                pending = nil
                var reader = KeyValueBlockReader(bytes: bytes, position: secondFieldStart + (enabled ? 2 : 3), line: number)
                body(.block(reader.read(service: fields[0], enabled: enabled)), &diagnostics)
                lineStart = reader.position
                number = reader.line
                afterBlock = true
                continue
            }
            if startsBlank {
                diagnostics.append(error(number, "continuation line with no entry before it"))
                continue
            }
            if let done = pending { body(.line(done), &diagnostics) }
            pending = LogicalLine(line: number, fields: fields)
        }
        if let done = pending { body(.line(done), &diagnostics) }
        if let block = xinetd { body(.xinetd(block), &diagnostics) }
    }

    // MARK: - Traps: valid lines that do not do what they seem to

    /// A continuation line that is a valid entry on its own: an indent by
    /// mistake makes it arguments of the entry above (one such line served
    /// the bytes of /bin/cat to a client). It stays a continuation, as in
    /// OpenBSD; the warning is on its own line.
    func continuationWarnings(_ logical: LogicalLine, defaultHosts: [String]) -> [Diagnostic] {
        var warnings: [Diagnostic] = []
        let continuations = logical.continuations
        for (index, continuation) in continuations.enumerated() {
            let end = index + 1 < continuations.count ? continuations[index + 1].start : logical.fields.count
            guard end - continuation.start >= 6 else { continue }
            let fields = Array(logical.fields[continuation.start..<end])
            guard case .success = parseEntry(fields, line: continuation.line, defaultHosts: defaultHosts) else {
                continue
            }
            warnings.append(warning(continuation.line, "this line continues the entry of line \(logical.line) "
                + "(it starts with a blank); as an entry of its own it would be valid: remove the leading blank "
                + "if it is one"))
        }
        return warnings
    }

    /// Quote characters in a line's arguments: no inetd reads them (OpenBSD
    /// and FreeBSD neither), so `sh -c "echo x"` gives sh the words `"echo`
    /// and `x"`, and fails when it runs. NetBSD's blocks do read quotes.
    func quoteWarning(_ fields: [String], program: Program) -> String? {
        guard case .path = program, fields.count > 6 else { return nil }
        let quote = { (byte: UInt8) in byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") }
        let quoted = fields[6...].enumerated().filter { $0.element.utf8.contains(where: quote) }
        guard !quoted.isEmpty else { return nil }
        var words = quoted.prefix(3).map { "argv[\($0.offset)] is \($0.element)" }
        if quoted.count > 3 { words.append("\(quoted.count - 3) more") }
        let list = words.count == 1 ? words[0] : words.dropLast().joined(separator: ", ") + " and " + words.last!
        return "quotes are not read in an inetd.conf line (nor by OpenBSD's or FreeBSD's inetd): \(list), "
            + "quote characters included; for an argument with a blank, use a script or a NetBSD block "
            + "(args = ...), which reads quotes"
    }

    /// Whether a line starts a NetBSD key-values block: `on` (or `on#...`)
    /// as its second field is true, `off` false; nil for any other line. No
    /// positional line has either there: it is the socket type.
    static func blockSwitch(_ fields: [String]) -> Bool? {
        guard fields.count >= 2 else { return nil }
        let word = fields[1]
        if word == "on" || word.hasPrefix("on#") { return true }
        if word == "off" || word.hasPrefix("off#") { return false }
        return nil
    }

    // MARK: - Entries

    struct Failure: Error { var text: String }

    func fail(_ text: String) -> Failure { Failure(text: text) }

    func error(_ line: Int, _ message: String) -> Diagnostic {
        Diagnostic(file: file, line: line, message: message)
    }

    func warning(_ line: Int, _ message: String) -> Diagnostic {
        Diagnostic(file: file, line: line, message: message, severity: .warning)
    }

    func parseEntry(_ fields: [String], line: Int, defaultHosts: [String]) -> Swift.Result<ServiceEntry, Failure> {
        Swift.Result { () throws(Failure) -> ServiceEntry in
            guard fields.count >= 6 else {
                if fields.count == 2, fields[0] == "includedir" || fields[0] == "include" {
                    throw fail("'\(fields[0])' is xinetd syntax, which is not read here: inetd --convert xinetd "
                               + "\(fields[1]) prints its services as inetd.conf lines")
                }
                throw fail("expected at least 6 fields (service socket-type protocol wait user program), found \(fields.count)")
            }
            // A NUL would cut a name or an argument short where C reads it,
            // and invalid UTF-8 was replaced on reading: either way the line
            // would run something other than what it says.
            for (index, field) in fields.enumerated() {
                switch Self.flaw(field) {
                case .nul: throw fail("field \(index + 1) has a NUL byte")
                case .replacement: throw fail("field \(index + 1) is not valid UTF-8")
                case nil: break
                }
            }
            let (transport, sendBuffer, receiveBuffer) = try parseProtocol(fields[2])
            let (typeName, acceptMax) = try splitAcceptMax(fields[1])
            let socketType = try parseSocketType(typeName, transport: transport)
            var entry = ServiceEntry(line: line, hosts: [], service: "", socketType: socketType,
                                     transport: transport, wait: false, user: "", program: .path(""), arguments: [])
            var limits = Limits(), options = Options()
            // Before the wait field, whose max= or /C replaces it.
            limits.maxConcurrent = acceptMax
            try parseServiceField(fields[0], into: &entry, options: &options, defaultHosts: defaultHosts)
            try parseWaitSpec(fields[3], into: &entry, limits: &limits, options: &options)
            try parseUser(fields[4], into: &entry)
            try parseProgram(fields[5], arguments: Array(fields.dropFirst(6)), into: &entry)
            entry.setTuning(sendBuffer: sendBuffer, receiveBuffer: receiveBuffer, limits: limits, options: options)
            try validate(entry)
            return entry
        }
    }

    enum FieldFlaw { case nul, replacement }

    /// A NUL byte anywhere in the field, else a U+FFFD (what reading put in
    /// place of invalid UTF-8; its bytes are EF BF BD): one pass over the
    /// bytes, run on every field of every line.
    static func flaw(_ field: String) -> FieldFlaw? {
        var field = field
        return field.withUTF8 { bytes in
            var replacement = false
            for i in bytes.indices {
                if bytes[i] == 0 { return .nul }
                if bytes[i] == 0xBD, i >= 2, bytes[i - 1] == 0xBF, bytes[i - 2] == 0xEF { replacement = true }
            }
            return replacement ? .replacement : nil
        }
    }

    /// NetBSD's `stream,N`: at most N handlers at once (its accept_max, the
    /// same as max=N). Its accept filters (`stream:dataready`) are a BSD
    /// kernel feature (SO_ACCEPTFILTER) with nothing like it here.
    func splitAcceptMax(_ field: String) throws(Failure) -> (String, Int?) {
        guard field.hasPrefix("stream") else {
            if let comma = field.utf8.firstIndex(of: UInt8(ascii: ",")), SocketType(name: String(field[..<comma])) != nil {
                throw fail("'\(field)': an accept limit (NetBSD's socket-type,N) goes with stream only")
            }
            return (field, nil)
        }
        if field.utf8.contains(UInt8(ascii: ":")) {
            throw fail("'\(field)': accept filters (NetBSD's socket-type:filter) are a BSD kernel feature, not supported")
        }
        guard field.hasPrefix("stream,") else { return (field, nil) }
        let count = String(field.dropFirst("stream,".count))
        return ("stream", try netBSDLimit(count, key: "accept_max", written: "stream,\(count)"))
    }

    func parseSocketType(_ field: String, transport: Transport) throws(Failure) -> SocketType {
        guard let type = SocketType(name: field) else {
            throw fail("unsupported socket type '\(field)' (stream, dgram, or seqpacket for unix)")
        }
        switch (type, transport.kind) {
        case (.stream, .tcp), (.dgram, .udp), (_, .unix): return type
        case (.seqpacket, _): throw fail("socket type seqpacket needs protocol unix")
        default: throw fail("socket type \(field) does not go with protocol \(transport.kind.name)")
        }
    }

    func parseProtocol(_ field: String) throws(Failure) -> (Transport, Int?, Int?) {
        let parts = splitASCII(field, ",")
        let transport: Transport
        switch parts[0] {
        case "tcp": transport = Transport(kind: .tcp, families: .both)
        case "tcp4": transport = Transport(kind: .tcp, families: .ipv4Only)
        case "tcp6": transport = Transport(kind: .tcp, families: .ipv6Only)
        case "tcp46": transport = Transport(kind: .tcp, families: .dualStack)
        case "udp": transport = Transport(kind: .udp, families: .both)
        case "udp4": transport = Transport(kind: .udp, families: .ipv4Only)
        case "udp6": transport = Transport(kind: .udp, families: .ipv6Only)
        case "udp46": transport = Transport(kind: .udp, families: .dualStack)
        case "unix": transport = Transport(kind: .unix, families: .none)
        case let name where name.hasPrefix("rpc/"):
            throw fail("RPC services (\(name)) are not supported")
        default:
            throw fail("unknown protocol '\(parts[0])' (tcp, tcp4, tcp6, tcp46, udp, udp4, udp6, udp46, unix)")
        }
        var send: Int?
        var receive: Int?
        for part in parts.dropFirst() {
            let (key, value) = splitOption(part)
            switch key {
            case "sndbuf": send = try bufferSize(value, for: "sndbuf")
            case "rcvbuf": receive = try bufferSize(value, for: "rcvbuf")
            default: throw fail("unknown protocol option '\(part)' (sndbuf=N, rcvbuf=N)")
            }
        }
        return (transport, send, receive)
    }

    func parseServiceField(_ field: String, into entry: inout ServiceEntry, options: inout Options,
                           defaultHosts: [String]) throws(Failure) {
        if entry.transport.kind == .unix {
            var path = field
            if field.hasPrefix(":") {
                // FreeBSD: `:user:group:mode:/path`.
                let parts = field.dropFirst().split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
                guard parts.count == 4 else { throw fail("unix socket '\(field)': expected :user:group:mode:/path") }
                if !parts[0].isEmpty { options.ownerUser = String(parts[0]) }
                if !parts[1].isEmpty { options.ownerGroup = String(parts[1]) }
                if !parts[2].isEmpty { options.mode = try octalMode(String(parts[2])) }
                path = String(parts[3])
            }
            guard path.hasPrefix("/") else { throw fail("unix socket path '\(path)' is not absolute") }
            entry.service = path
            return
        }
        if field.hasPrefix("tcpmux/") { throw fail("tcpmux services are not supported") }
        guard let colon = field.utf8.lastIndex(of: UInt8(ascii: ":")) else {
            entry.hosts = defaultHosts
            entry.service = field
            return
        }
        // `[::1]22013`: the last ':' is inside the brackets.
        if let close = field.utf8.lastIndex(of: UInt8(ascii: "]")), close > colon {
            let after = field[field.index(after: close)...]
            if after.isEmpty {
                throw fail("'\(field)' names an address and no service: a ':' and a port or service name are "
                           + "missing, as \(field):7007")
            }
            throw fail("'\(field)': a ':' is missing between the address and the service, as "
                       + "\(field[...close]):\(after)")
        }
        let service = String(field[field.index(after: colon)...])
        guard !service.isEmpty else { throw fail("service field '\(field)' names no service after the address") }
        switch parseHosts(String(field[..<colon])) {
        case .success(let hosts): entry.hosts = hosts
        case .failure(let failure):
            // `::1`: an IPv6 address alone, split at its last ':'.
            let comma = field.utf8.lastIndex(of: UInt8(ascii: ","))
            let last = comma.map { String(field[field.index(after: $0)...]) } ?? field
            if IPAddress(literal: last)?.family == .inet6 {
                let before = comma.map { String(field[...$0]) } ?? ""
                let what = before.isEmpty ? "'\(field)' is an IPv6 address with no service"
                    : "'\(field)' ends in the IPv6 address \(last) with no service after it"
                throw fail("\(what): a port or service name is missing, as \(before)[\(last)]:7007")
            }
            throw failure
        }
        entry.service = service
    }

    /// `*`, `1.2.3.4`, `[::1]`, `::1`, `host.name`, or a comma list of them.
    func parseHosts(_ text: String) -> Swift.Result<[String], Failure> {
        var hosts: [String] = []
        for piece in splitASCII(text, ",") {
            var host = String(piece)
            if host.hasPrefix("[") {
                guard host.hasSuffix("]") else { return .failure(fail("address '\(host)' has no closing ']'")) }
                host = String(host.dropFirst().dropLast())
                guard IPAddress(literal: host)?.family == .inet6 else {
                    return .failure(fail("'[\(host)]' is not an IPv6 address"))
                }
            }
            guard !host.isEmpty else { return .failure(fail("empty address in '\(text)'")) }
            if host != "*", !isHostName(host), IPAddress(literal: host) == nil {
                return .failure(fail("'\(host)' is not an address or host name"))
            }
            hosts.append(host)
        }
        return .success(hosts)
    }

    private func isHostName(_ text: String) -> Bool {
        text.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x2E
        }
    }

    func parseWaitSpec(_ field: String, into entry: inout ServiceEntry, limits: inout Limits,
                       options: inout Options) throws(Failure) {
        // The common fields, `nowait` and `wait`, need no splitting.
        if field == "nowait" || field == "wait" {
            entry.wait = field == "wait"
            return
        }
        var pieces = splitASCII(field, ",")
        var head = pieces.removeFirst()
        if head.hasPrefix("nowait") {
            entry.wait = false
            head.removeFirst("nowait".count)
        } else if head.hasPrefix("wait") {
            entry.wait = true
            head.removeFirst("wait".count)
        } else {
            throw fail("wait field '\(field)' must start with wait or nowait")
        }
        if head.hasPrefix(".") {
            // OpenBSD, inetutils, busybox: `.N` spawns per 60 s.
            limits.rate = try number(String(head.dropFirst()), for: "the .N rate", in: 0...Int(Int32.max))
        } else if head.hasPrefix(":") {
            // NetBSD: `:N` spawns per 60 s (its service_max), where 0 never serves.
            limits.rate = try netBSDLimit(String(head.dropFirst()), key: "service_max",
                                          written: (entry.wait ? "wait" : "nowait") + head)
        } else if head.hasPrefix("/") {
            // FreeBSD: `/max-child[/conn-per-ip-per-minute[/max-child-per-ip]]`, 0 = unlimited.
            let parts = splitASCII(String(head.dropFirst()), "/")
            guard parts.count <= 3 else { throw fail("'\(head)': FreeBSD limits are /C/R/P, at most three numbers") }
            let names = ["max-child", "connections per source per minute", "max-child per source"]
            var values: [Int] = []
            for (i, part) in parts.enumerated() {
                values.append(try number(part, for: names[i], in: 0...Int(Int32.max)))
            }
            if values.count > 0 { limits.maxConcurrent = values[0] }
            if values.count > 1 { limits.perSourceRate = values[1] }
            if values.count > 2 { limits.perSourceConcurrent = values[2] }
        } else if !head.isEmpty {
            throw fail("wait field '\(field)': unexpected '\(head)' after \(entry.wait ? "wait" : "nowait")")
        }
        for option in pieces { try parseOption(option, limits: &limits, options: &options) }
    }

    func parseOption(_ option: String, limits: inout Limits, options: inout Options) throws(Failure) {
        let (key, value) = splitOption(option)
        func flag() throws(Failure) {
            if value != nil { throw fail("option '\(key)' takes no value") }
        }
        func required() throws(Failure) -> String {
            guard let value, !value.isEmpty else { throw fail("option '\(key)' needs a value (\(key)=...)") }
            return value
        }
        switch key {
        case "max": limits.maxConcurrent = try number(required(), for: key, in: 0...Int(Int32.max))
        case "per-ip": limits.perSourceConcurrent = try number(required(), for: key, in: 0...Int(Int32.max))
        case "rate": limits.rate = try number(required(), for: key, in: 0...Int(Int32.max))
        case "per-ip-rate": limits.perSourceRate = try number(required(), for: key, in: 0...Int(Int32.max))
        case "ip-prefix":
            let parts = splitASCII(try required(), "/")
            guard parts.count == 2 else { throw fail("ip-prefix takes IPv4/IPv6 prefix lengths, as ip-prefix=24/64") }
            limits.sourcePrefixV4 = try number(parts[0], for: "ip-prefix (IPv4)", in: 0...32)
            limits.sourcePrefixV6 = try number(parts[1], for: "ip-prefix (IPv6)", in: 0...128)
        case "allow": options.allow.append(try addressRange(required()))
        case "deny": options.deny.append(try addressRange(required()))
        case "listen-fds": try flag(); options.listenFDs = true
        case "name":
            let name = try required()
            guard name.utf8.count <= 255, !name.contains(":"),
                  name.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
                throw fail("name '\(name)' must be at most 255 printable characters without ':'")
            }
            options.name = name
        case "stderr":
            let value = try required()
            guard let mode = StderrMode(rawValue: value) else {
                throw fail("stderr takes log, inherit or socket, not '\(value)'")
            }
            options.stderr = mode
        case "backlog": options.backlog = try number(required(), for: key, in: 1...65535)
        case "timeout": options.timeoutSeconds = try number(required(), for: key, in: 1...(365 * 86400))
        case "proxy":
            options.proxy = true
            if let value {
                guard value == "required" else { throw fail("proxy takes no value or proxy=required, not '\(value)'") }
                options.proxyRequired = true
            }
        case "passenv":
            let name = try required()
            try environmentName(Substring(name), in: key)
            options.passEnvironment.append(name)
        case "env":
            let assignment = try required()
            guard let eq = assignment.firstIndex(of: "=") else { throw fail("env takes NAME=VALUE, not '\(assignment)'") }
            try environmentName(assignment[..<eq], in: key)
            options.setEnvironment.append(assignment)
        case "proxy-from": options.proxyFrom.append(try addressRange(required()))
        case "proxy-timeout": options.proxyTimeoutSeconds = try number(required(), for: key, in: 1...3600)
        case "mode": options.mode = try octalMode(required())
        case "owner":
            let owner = try required()
            let parts = owner.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard !parts[0].isEmpty, parts.count == 1 || !parts[1].isEmpty else {
                throw fail("owner takes user[:group], not '\(owner)'")
            }
            options.ownerUser = parts[0]
            options.ownerGroup = parts.count > 1 ? parts[1] : nil
        case "":
            throw fail("empty option in the wait field")
        default:
            throw fail("unknown option '\(key)' (the options are \(Self.optionNames.joined(separator: ", ")))")
        }
    }

    /// The options of the wait field, as an unknown option's error lists them.
    static let optionNames = [
        "max", "per-ip", "rate", "per-ip-rate", "ip-prefix", "allow", "deny", "listen-fds", "name", "stderr",
        "backlog", "timeout", "proxy", "proxy-from", "proxy-timeout", "passenv", "env", "mode", "owner",
    ]

    func parseUser(_ field: String, into entry: inout ServiceEntry) throws(Failure) {
        if field.utf8.contains(UInt8(ascii: "/")) {
            throw fail("login classes ('\(field)') are not supported: use user[:group]")
        }
        if let colon = field.utf8.firstIndex(of: UInt8(ascii: ":")) {
            entry.user = String(field[..<colon])
            entry.group = String(field[field.index(after: colon)...])
            guard !entry.user.isEmpty, !(entry.group ?? "").isEmpty else { throw fail("user field '\(field)': expected user[:group]") }
        } else {
            // `user.group` is told apart from a user name with a dot by the
            // resolver, which can look both up.
            entry.user = field
        }
        if entry.user == "-", entry.group != nil { throw fail("'-' (inetd's own identity) takes no group") }
    }

    func parseProgram(_ field: String, arguments: [String], into entry: inout ServiceEntry) throws(Failure) {
        if field == "internal" {
            // Checked first: FreeBSD names a unix built-in by its path, which
            // would otherwise be reported as a port with no built-in named.
            if entry.transport.kind == .unix { throw fail("built-in services run over tcp or udp, not unix") }
            let name: String
            if let first = arguments.first {
                name = first
            } else if !entry.service.isEmpty, !entry.service.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
                name = entry.service
            } else {
                throw fail("internal service on port \(entry.service): name the built-in after 'internal' (echo, discard, chargen, daytime, time)")
            }
            guard Self.builtins.contains(name) else {
                throw fail("unknown built-in '\(name)' (echo, discard, chargen, daytime, time)")
            }
            entry.program = .builtin(name)
            entry.arguments = [name]
            return
        }
        guard field.hasPrefix("/") else { throw fail("server program '\(field)' is not an absolute path or 'internal'") }
        // execve fails with E2BIG on any one string past the kernel's
        // MAX_ARG_STRLEN (32 pages: 131,072 bytes with its NUL).
        for (index, text) in ([field] + arguments).enumerated() where text.utf8.count >= Self.maxArgumentBytes {
            throw fail("\(index == 0 ? "the program path" : "argv[\(index - 1)]") is \(text.utf8.count) bytes: "
                       + "exec takes at most \(Self.maxArgumentBytes - 1) per string")
        }
        entry.program = .path(field)
        entry.arguments = arguments.isEmpty ? [String(field.split(separator: "/").last ?? Substring(field))] : arguments
    }

    /// MAX_ARG_STRLEN on Linux: the longest string execve takes, with its NUL.
    static let maxArgumentBytes = 131_072

    func validate(_ entry: ServiceEntry) throws(Failure) {
        let unix = entry.transport.kind == .unix
        let options = entry.options
        if !unix, options.mode != nil || options.ownerUser != nil {
            throw fail("mode= and owner= apply to unix sockets only")
        }
        if options.stderr == .socket, entry.wait || entry.socketType == .dgram {
            throw fail("stderr=socket needs a nowait stream service")
        }
        if let mode = options.stderr, entry.program.isBuiltin {
            throw fail("stderr=\(mode.rawValue) does not apply to a built-in service: it has no stderr")
        }
        if options.proxy, entry.socketType != .stream || entry.wait {
            throw fail("proxy needs a nowait stream service")
        }
        if !options.proxy, !options.proxyFrom.isEmpty || options.proxyTimeoutSeconds != nil {
            throw fail("proxy-from= and proxy-timeout= need proxy on the line")
        }
        if options.proxy, entry.program.isBuiltin {
            throw fail("proxy does not apply to a built-in service")
        }
        if options.proxy, unix, !options.proxyFrom.isEmpty {
            throw fail("proxy-from= judges addresses; a unix peer has none (the socket's mode and owner say who may connect)")
        }
        if case .builtin = entry.program {
            if unix { throw fail("built-in services run over tcp or udp, not unix") }
            if options.listenFDs { throw fail("listen-fds does not apply to a built-in service") }
            if !options.passEnvironment.isEmpty || !options.setEnvironment.isEmpty {
                throw fail("passenv= and env= do not apply to a built-in service: no program runs")
            }
        }
        try validateLimits(entry)
    }

    /// An option of this project's own that cannot hold on this line is an
    /// error on it, never a silent no-op (SPEC 2). The numeric limits that
    /// other dialects spell too (FreeBSD's `/C/R/P`, NetBSD's keys) are
    /// warned of instead where they cannot apply, so that those files parse
    /// unchanged (`LoadedConfiguration.notInForce`).
    func validateLimits(_ entry: ServiceEntry) throws(Failure) {
        let limits = entry.limits, options = entry.options
        let unix = entry.transport.kind == .unix, builtin = entry.program.isBuiltin
        let kind = entry.wait ? "a wait line" : "a dgram line"
        // wait, or dgram: one handler gets the socket and reads its clients itself.
        let handsOver = entry.wait || entry.socketType == .dgram
        if options.timeoutSeconds != nil, handsOver, !builtin {
            throw fail("timeout= does not apply to \(kind): its handler serves until it exits")
        }
        let prefixChanged = limits.sourcePrefixV4 != Limits.defaultSourcePrefixV4
            || limits.sourcePrefixV6 != Limits.defaultSourcePrefixV6
        if prefixChanged {
            if unix { throw fail("ip-prefix= does not apply to a unix socket: its clients are counted by uid") }
            if (limits.perSourceConcurrent ?? 0) == 0, (limits.perSourceRate ?? 0) == 0 {
                throw fail("ip-prefix= only says what per-ip= and per-ip-rate= count, and neither is set")
            }
        }
        if !options.allow.isEmpty || !options.deny.isEmpty {
            if unix { throw fail("allow= and deny= judge addresses; a unix peer has none (per-ip= counts its uid)") }
            // A built-in is answered by inetd itself, whatever its wait field says.
            if entry.wait, !builtin {
                throw fail("allow= and deny= do not apply to a wait line: its handler accepts its clients itself")
            }
        }
    }

    // MARK: - Values

    /// Splits at an ASCII separator, keeping empty pieces; works on UTF-8,
    /// as splitting by Character would break graphemes for nothing.
    func splitASCII(_ text: String, _ separator: Unicode.Scalar) -> [String] {
        let byte = UInt8(separator.value)
        guard text.utf8.contains(byte) else { return [text] }
        var text = text
        return text.withUTF8 { bytes in
            var pieces: [String] = []
            var start = 0
            for index in bytes.indices where bytes[index] == byte {
                pieces.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self))
                start = index + 1
            }
            pieces.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start...]), as: UTF8.self))
            return pieces
        }
    }

    private func splitOption(_ text: String) -> (String, String?) {
        guard let eq = text.utf8.firstIndex(of: UInt8(ascii: "=")) else { return (text, nil) }
        return (String(text[..<eq]), String(text[text.index(after: eq)...]))
    }

    func number(_ text: String?, for what: String, in range: ClosedRange<Int>) throws(Failure) -> Int {
        guard let text, !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let value = Int(text), range.contains(value) else {
            throw fail("\(what) must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text ?? "")'")
        }
        return value
    }

    /// A socket buffer size, 1 to 2^30 bytes, with NetBSD's `k` (KiB) and
    /// `m` (MiB) suffixes: `64k`, `1m`.
    func bufferSize(_ text: String?, for what: String) throws(Failure) -> Int {
        let range = 1...(1 << 30)
        var digits = text ?? ""
        var unit = 1
        if digits.hasSuffix("k") { unit = 1 << 10 } else if digits.hasSuffix("m") { unit = 1 << 20 }
        if unit > 1 { digits.removeLast() }
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), digits.utf8.count <= 10,
              let count = Int(digits), range.contains(count * unit) else {
            throw fail("\(what) must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text ?? "")'")
        }
        return count * unit
    }

    /// A name `passenv=` or `env=` may give: a shell name that inetd does
    /// not set itself.
    private func environmentName(_ name: Substring, in option: String) throws(Failure) {
        guard HandlerVariables.isValidName(name) else {
            throw fail("\(option)= takes a variable name (letters, digits and _, not first a digit), not '\(name)'")
        }
        guard !HandlerVariables.isReserved(name) else {
            throw fail("\(option)= cannot give \(name): inetd sets it for its handlers, or withholds it")
        }
    }

    private func octalMode(_ text: String) throws(Failure) -> UInt32 {
        guard !text.isEmpty, text.count <= 4, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x37 }),
              let mode = UInt32(text, radix: 8), mode <= 0o777 else {
            throw fail("mode must be octal permission bits such as 0660, not '\(text)'")
        }
        return mode
    }

    private func addressRange(_ text: String) throws(Failure) -> AddressRange {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        var host = parts[0]
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard let address = IPAddress(literal: host) else {
            throw fail("'\(text)' is not an address or CIDR prefix")
        }
        let bytes = address.bytes
        let prefix = parts.count > 1 ? try number(parts[1], for: "the prefix of '\(text)'", in: 0...(bytes.count * 8)) : bytes.count * 8
        return AddressRange(bytes: bytes, prefix: prefix)
    }
}
