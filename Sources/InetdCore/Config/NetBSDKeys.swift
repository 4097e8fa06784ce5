/// NetBSD's keys (inetd.conf(5) of 2021, usr.sbin/inetd/parse_v2.c), mapped
/// onto the fields and options of a positional line:
///
/// | key | here |
/// |---|---|
/// | `bind` | the address of the service field |
/// | `socktype` | socket type; inferred from `tcp*` / `udp*` when absent |
/// | `protocol` | protocol, as in a line (`tcp` is both families) |
/// | `sndbuf`, `recvbuf` | `,sndbuf=`, `,rcvbuf=` (`k`, `m` suffixes) |
/// | `wait` | `yes` wait, `no` nowait; for a built-in, inferred when absent |
/// | `service_max` | `rate=` (spawns per 60 s) |
/// | `ip_max` | `per-ip-rate=` (spawns per 60 s per source) |
/// | `accept_max` | `max=` (handlers at once) |
/// | `user`, `group` | `user:group` |
/// | `exec`, `args` | program (`internal` when absent) and argv |
/// | `ipsec` | empty only (no policy, as always here) |
///
/// NetBSD's 0 never serves for `service_max` and `ip_max`, where this
/// project's 0 means no limit: 0 is refused rather than inverted. For
/// `accept_max` its manual and its code disagree on 0, which is refused too.
/// `acceptfilter`, an IPsec policy and unknown keys are errors on their line.
extension ConfigParser {
    static let netBSDKeys: Set<String> = [
        "bind", "socktype", "acceptfilter", "protocol", "sndbuf", "recvbuf", "wait", "service_max", "ip_max",
        "accept_max", "user", "group", "exec", "args", "ipsec",
    ]
    static let netBSDKeyList = "bind, socktype, protocol, sndbuf, recvbuf, wait, service_max, ip_max, accept_max, "
        + "user, group, exec, args"

    /// An error on a line of the block: that of the key it is about.
    struct LocatedFailure: Error {
        var line: Int
        var text: String
    }

    /// The entry a block asks for, or nil with every problem reported: each
    /// on the line of its key, a missing key on the block's first line.
    /// An `off` block is checked the same way.
    func entry(from block: KeyValueBlock, defaultHosts: [String], diagnostics: inout [Diagnostic]) -> ServiceEntry? {
        var failed = false
        func report(_ line: Int, _ message: String) {
            diagnostics.append(error(line, message))
            failed = true
        }
        for problem in block.problems { report(problem.line, problem.message) }
        switch Self.flaw(block.service) {
        case .nul: report(block.line, "the service field has a NUL byte")
        case .replacement: report(block.line, "the service field is not valid UTF-8")
        case nil: break
        }
        var settings: [String: KeyValueBlock.Setting] = [:]
        for setting in block.settings {
            if let problem = setting.problem ?? settingProblem(setting) {
                report(setting.line, problem)
            } else if let first = settings[setting.key] {
                report(setting.line, "'\(setting.key)' is given twice (first on line \(first.line))")
            } else {
                settings[setting.key] = setting
            }
        }
        // Keys are missing only once the others are well formed: with a ','
        // left out, the next key is a value of the one before.
        let builtin = (settings["exec"]?.values[0] ?? "internal") == "internal"
        let missing = ["protocol", "user"].filter { settings[$0] == nil } + (builtin || settings["wait"] != nil ? [] : ["wait"])
        if !failed, !missing.isEmpty {
            report(block.line, "'\(block.header)' has no \(missing.joined(separator: ", ")): NetBSD requires "
                   + (missing.count == 1 ? "it" : "them") + (missing.contains("wait") ? " (wait unless exec is internal)" : ""))
        }
        guard !failed else { return nil }
        do {
            return try mapBlock(block, settings, defaultHosts: defaultHosts)
        } catch {
            diagnostics.append(self.error(error.line, error.text))
            return nil
        }
    }

    /// What is wrong with a setting on its own: an unknown or refused key,
    /// a count of values the key does not take, a value with a NUL byte or
    /// invalid UTF-8.
    func settingProblem(_ setting: KeyValueBlock.Setting) -> String? {
        let key = setting.key, values = setting.values
        switch Self.flaw(key) {
        case .nul: return "a key has a NUL byte"
        case .replacement: return "a key is not valid UTF-8"
        case nil: break
        }
        guard Self.netBSDKeys.contains(key) else {
            if key == "rcvbuf" { return "unknown key 'rcvbuf': NetBSD's key is recvbuf" }
            return "unknown key '\(key)' (\(Self.netBSDKeyList))"
        }
        for value in values {
            switch Self.flaw(value) {
            case .nul: return "a value of '\(key)' has a NUL byte"
            case .replacement: return "a value of '\(key)' is not valid UTF-8"
            case nil: break
            }
        }
        switch key {
        case "acceptfilter":
            return "acceptfilter: accept filters are a BSD kernel feature (SO_ACCEPTFILTER), not supported"
        case "ipsec":
            // `ipsec =` with no value turns IPsec off for the service, which
            // is how every service runs here.
            return values.isEmpty ? nil : "ipsec: IPsec policies are not supported (only 'ipsec =', no policy, is)"
        case "args":
            return nil
        default:
            if values.isEmpty { return "'\(key)' needs a value" }
            guard values.count == 1 else {
                var text = "'\(key)' takes one value, not \(values.count): \(values.joined(separator: " "))"
                if let equals = values.firstIndex(of: "="), equals > 0 {
                    text += " (is a ',' missing before '\(values[equals - 1])'?)"
                }
                return text
            }
            return valueProblem(key, values[0])
        }
    }

    /// What is wrong with the one value of a key, on its own; the mapping
    /// reads the values again, knowing them valid, and judges them together.
    func valueProblem(_ key: String, _ value: String) -> String? {
        do throws(Failure) {
            switch key {
            case "protocol":
                if value.utf8.contains(UInt8(ascii: ",")) {
                    throw fail("protocol takes a name alone: sndbuf and recvbuf are keys of their own")
                }
                _ = try parseProtocol(value)
            case "socktype":
                if SocketType(name: value) == nil {
                    throw fail("unsupported socket type '\(value)' (stream, dgram, or seqpacket for unix)")
                }
            case "bind": _ = try parseHosts(value).get()
            case "wait": if value != "yes" && value != "no" { throw fail("wait takes yes or no, not '\(value)'") }
            case "sndbuf", "recvbuf": _ = try bufferSize(value, for: key)
            case "service_max", "ip_max", "accept_max": _ = try netBSDLimit(value, key: key)
            case "user":
                if value.utf8.contains(UInt8(ascii: ":")) {
                    throw fail("user takes a name alone: give the group as group = NAME")
                }
            case "group":
                if value.isEmpty || value.utf8.contains(UInt8(ascii: ":")) {
                    throw fail("group takes a group name, not '\(value)'")
                }
            default: break
            }
            return nil
        } catch {
            return error.text
        }
    }

    /// The mapping proper, once every setting is well formed: the first
    /// error, on the line of the key it is about.
    func mapBlock(_ block: KeyValueBlock, _ settings: [String: KeyValueBlock.Setting],
                  defaultHosts: [String]) throws(LocatedFailure) -> ServiceEntry {
        /// A key's one value and its line.
        struct Given {
            var text: String
            var line: Int
        }
        func value(_ key: String) -> Given? { settings[key].map { Given(text: $0.values[0], line: $0.line) } }
        func on<T>(_ line: Int, _ body: () throws(Failure) -> T) throws(LocatedFailure) -> T {
            do {
                return try body()
            } catch {
                throw LocatedFailure(line: line, text: error.text)
            }
        }

        let proto = value("protocol")!
        let transport = try on(proto.line) { () throws(Failure) in try parseProtocol(proto.text).0 }
        let socketType: SocketType
        if let type = value("socktype") {
            socketType = try on(type.line) { () throws(Failure) in try parseSocketType(type.text, transport: transport) }
        } else {
            switch transport.kind {
            case .tcp: socketType = .stream
            case .udp: socketType = .dgram
            case .unix:
                throw LocatedFailure(line: block.line, text: "'\(block.header)' has no socktype: protocol unix needs one")
            }
        }
        // Only a built-in may leave wait out: NetBSD's table of built-ins
        // says, as here, that a datagram one waits and a stream one does not.
        let wait = value("wait").map { $0.text == "yes" } ?? (socketType == .dgram)
        var entry = ServiceEntry(line: block.line, hosts: [], service: "", socketType: socketType, transport: transport,
                                 wait: wait, user: "", program: .path(""), arguments: [])
        var limits = Limits(), options = Options()
        try on(block.line) { () throws(Failure) in
            try parseServiceField(block.service, into: &entry, options: &options, defaultHosts: defaultHosts)
        }
        if let bind = value("bind") {
            if transport.kind == .unix { throw LocatedFailure(line: bind.line, text: "bind does not apply to a unix socket") }
            if block.service.utf8.contains(UInt8(ascii: ":")) {
                throw LocatedFailure(line: bind.line, text: "bind repeats the address that '\(block.service)' gives")
            }
            entry.hosts = try on(bind.line) { () throws(Failure) in try parseHosts(bind.text).get() }
        }
        let user = value("user")!
        try on(user.line) { () throws(Failure) in try parseUser(user.text, into: &entry) }
        if let group = value("group") {
            if entry.user == "-" { throw LocatedFailure(line: group.line, text: "'-' (inetd's own identity) takes no group") }
            entry.group = group.text
        }
        let program = value("exec"), arguments = settings["args"]
        try on(program?.line ?? arguments?.line ?? block.line) { () throws(Failure) in
            try parseProgram(program?.text ?? "internal", arguments: arguments?.values ?? [], into: &entry)
        }
        var sendBuffer: Int?, receiveBuffer: Int?
        if let size = value("sndbuf") {
            sendBuffer = try on(size.line) { () throws(Failure) in try bufferSize(size.text, for: "sndbuf") }
        }
        if let size = value("recvbuf") {
            receiveBuffer = try on(size.line) { () throws(Failure) in try bufferSize(size.text, for: "recvbuf") }
        }
        if let count = value("service_max") {
            limits.rate = try on(count.line) { () throws(Failure) in try netBSDLimit(count.text, key: "service_max") }
        }
        if let count = value("ip_max") {
            limits.perSourceRate = try on(count.line) { () throws(Failure) in try netBSDLimit(count.text, key: "ip_max") }
        }
        if let count = value("accept_max") {
            limits.maxConcurrent = try on(count.line) { () throws(Failure) in try netBSDLimit(count.text, key: "accept_max") }
        }
        entry.setTuning(sendBuffer: sendBuffer, receiveBuffer: receiveBuffer, limits: limits, options: options)
        try on(block.line) { () throws(Failure) in try validate(entry) }
        return entry
    }

    /// One of NetBSD's limits, from 1; `written` names the positional form
    /// (`:N`, `stream,N`) where the limit came from one. Its 0 is refused:
    /// for service_max and ip_max NetBSD's inetd never serves, where this
    /// project's 0 is no limit; for accept_max its manual has the service
    /// wait for fewer than 0 handlers, which never comes, while its code
    /// never suspends the service.
    func netBSDLimit(_ text: String, key: String, written: String? = nil) throws(Failure) -> Int {
        if text == "0" {
            let zero = written.map { "'\($0)' (NetBSD's \(key))" } ?? "\(key) = 0"
            switch key {
            case "service_max":
                throw fail("\(zero) never serves: NetBSD closes the service at its first request; "
                           + "disable a service with 'off', or give a number from 1")
            case "ip_max":
                throw fail("\(zero) never serves: NetBSD refuses every source; "
                           + "disable a service with 'off', or give a number from 1")
            default:
                throw fail("\(zero) has no one meaning (NetBSD's manual: never serve; its inetd: no cap): "
                           + "give a number from 1, or leave it out for the default cap (max=64)")
            }
        }
        return try number(text, for: written.map { "'\($0)' (NetBSD's \(key))" } ?? key, in: 1...Int(Int32.max))
    }
}
