/// The `--check` listing: one inetd.conf line per socket, every name resolved
/// and every default spelled out, each after a comment giving its source line
/// and ids. The listing is itself a valid inetd.conf. A `wait,listen-fds` line
/// stays one line with its addresses listed: split, it would start a handler
/// per socket instead of one with them all.
public enum NormalizedTable {
    /// Whether `service` is listed as one line for all its sockets.
    public static func listsAsOneLine(_ service: Service) -> Bool {
        let entry = service.entry
        return entry.wait && entry.options.listenFDs && service.endpoints.count > 1
            && service.endpoints.allSatisfy { $0.kind != .unix }
    }

    public static func render(_ services: [Service], file: String) -> String {
        var out = ""
        for service in services {
            let entry = service.entry
            let lines = listsAsOneLine(service) ? [service.endpoints] : service.endpoints.map { [$0] }
            for endpoints in lines {
                var comment = "# \(file):\(entry.line)"
                if let id = service.identity {
                    comment += " uid=\(id.uid) gid=\(id.gid) groups=\((id.groups ?? []).map(String.init).joined(separator: ","))"
                } else {
                    comment += " identity=unchanged"
                }
                out += comment + "\n"
                out += line(service, endpoints) + "\n"
            }
        }
        return out
    }

    /// The listing's last line, a comment (the listing stays an inetd.conf):
    /// `# 3 services (5 sockets), 1 error, 0 warnings`.
    public static func summary(_ services: [Service], errors: Int, warnings: Int) -> String {
        func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
        let sockets = services.reduce(0) { $0 + $1.endpoints.count }
        return "# \(count(services.count, "service")) (\(count(sockets, "socket"))), \(count(errors, "error")), "
            + count(warnings, "warning")
    }

    /// One line of the listing. A program or argument that holds a blank, a
    /// tab, a line break or nothing at all (only NetBSD's quotes give one)
    /// cannot be a field: that line is listed as a NetBSD block on one line.
    static func line(_ service: Service, _ endpoints: [Endpoint]) -> String {
        let fields = fields(service, endpoints)
        let unfit = fields[5...].contains { field in
            field.isEmpty || field.utf8.contains { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
        }
        guard unfit, let block = block(service, fields) else { return fields.joined(separator: " ") }
        return block
    }

    /// `fields` as a NetBSD block, with the keys its settings map from (see
    /// NetBSDKeys.swift); nil for an entry with options no key gives.
    static func block(_ service: Service, _ fields: [String]) -> String? {
        let entry = service.entry, limits = entry.limits
        var bare = Limits()
        (bare.maxConcurrent, bare.rate, bare.perSourceRate) = (limits.maxConcurrent, limits.rate, limits.perSourceRate)
        let counts = [limits.maxConcurrent, limits.rate, limits.perSourceRate]
        guard entry.options == Options(), limits == bare, counts.allSatisfy({ ($0 ?? 1) >= 1 }) else { return nil }
        var settings = ["socktype = \(entry.socketType.name)",
                        "protocol = \(fields[2].prefix { $0 != "," })",
                        "wait = \(entry.wait ? "yes" : "no")"]
        if let n = entry.sendBuffer { settings.append("sndbuf = \(n)") }
        if let n = entry.receiveBuffer { settings.append("recvbuf = \(n)") }
        let enforcedDefault = entry.socketType != .dgram && !entry.wait
        if let n = limits.maxConcurrent ?? (enforcedDefault ? Limits.defaultMaxConcurrent : nil) {
            settings.append("accept_max = \(n)")
        }
        if let n = limits.rate { settings.append("service_max = \(n)") }
        if let n = limits.perSourceRate { settings.append("ip_max = \(n)") }
        settings.append("user = " + quoted(service.identity?.user ?? entry.user))
        if let group = entry.group { settings.append("group = " + quoted(group)) }
        settings.append("exec = " + quoted(fields[5]))
        settings.append("args = " + fields[6...].map(quoted).joined(separator: " "))
        return "\(fields[0]) on " + settings.joined(separator: ", ") + ";"
    }

    /// A value as a NetBSD block reads it back: bare where it can be, else
    /// in double quotes with its escapes.
    static func quoted(_ value: String) -> String {
        let special: Set<UInt8> = Set("#,;\"'\\".utf8)
        if !value.isEmpty, value.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7F && !special.contains($0) }) { return value }
        var out: [UInt8] = [UInt8(ascii: "\"")]
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\\"), UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), byte]
            case 0x0A: out += Array("\\n".utf8)
            case 0x09: out += Array("\\t".utf8)
            case 0x0D: out += Array("\\r".utf8)
            case 0..<0x20, 0x7F:
                let hex = String(byte, radix: 16)
                out += Array(("\\x" + (hex.count == 1 ? "0" : "") + hex).utf8)
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
        return String(decoding: out, as: UTF8.self)
    }

    /// The fields of one line for `endpoints`: one socket, or every socket
    /// of a `wait,listen-fds` line (IP endpoints with one port).
    static func fields(_ service: Service, _ endpoints: [Endpoint]) -> [String] {
        let entry = service.entry
        let first = endpoints[0]
        let address: String
        var proto: String
        if first.kind == .unix {
            address = first.address.host
            proto = "unix"
        } else {
            let hosts = endpoints.map { $0.address.family == .inet ? $0.address.host : "[\($0.address.host)]" }
            address = hosts.joined(separator: ",") + ":\(first.address.port)"
            let families = Set(endpoints.map { $0.address.family == .inet ? "4" : $0.ipv6Only ? "6" : "46" })
            // IPv4 with IPv6-only sockets is what a plain `tcp` line makes.
            proto = first.kind.name + (families.count == 1 ? families.first! : "")
        }
        var protoField = proto
        if let n = entry.sendBuffer { protoField += ",sndbuf=\(n)" }
        if let n = entry.receiveBuffer { protoField += ",rcvbuf=\(n)" }
        // The group is kept without an identity too (inetd not root), so the
        // listing asks for what the line asked for.
        let name = service.identity?.user ?? entry.user
        let user = entry.group.map { "\(name):\($0)" } ?? name
        let program: String
        switch entry.program {
        case .path(let path): program = path
        case .builtin: program = "internal"
        }
        return [address, entry.socketType.name, protoField, waitField(entry), user, program] + entry.arguments
    }

    static func waitField(_ entry: ServiceEntry) -> String {
        var parts = [entry.wait ? "wait" : "nowait"]
        let limits = entry.limits
        // Defaults only where in force: the cap of a nowait stream line
        // (handlers, or a built-in's connections). A wait or dgram line
        // runs one handler per socket.
        let enforcedDefault = entry.socketType != .dgram && !entry.wait
        if let n = limits.maxConcurrent ?? (enforcedDefault ? Limits.defaultMaxConcurrent : nil) { parts.append("max=\(n)") }
        if let n = limits.rate { parts.append("rate=\(n)") }
        if let n = limits.perSourceConcurrent { parts.append("per-ip=\(n)") }
        if let n = limits.perSourceRate { parts.append("per-ip-rate=\(n)") }
        // What counts as one source, wherever a per-source limit is in force.
        let perSource = (limits.perSourceConcurrent ?? 0) > 0 || (limits.perSourceRate ?? 0) > 0
        if perSource && entry.transport.kind != .unix || limits.sourcePrefixV4 != Limits.defaultSourcePrefixV4
            || limits.sourcePrefixV6 != Limits.defaultSourcePrefixV6 {
            parts.append("ip-prefix=\(limits.sourcePrefixV4)/\(limits.sourcePrefixV6)")
        }
        let options = entry.options
        parts += options.allow.map { "allow=\($0)" }
        parts += options.deny.map { "deny=\($0)" }
        if options.listenFDs { parts.append("listen-fds") }
        if let name = options.name { parts.append("name=\(name)") }
        if let mode = options.stderr { parts.append("stderr=" + mode.rawValue) }
        if let n = options.backlog { parts.append("backlog=\(n)") }
        if let n = options.timeoutSeconds { parts.append("timeout=\(n)") }
        parts += options.passEnvironment.map { "passenv=" + $0 }
        parts += options.setEnvironment.map { "env=" + $0 }
        if options.proxy { parts.append(options.proxyRequired ? "proxy=required" : "proxy") }
        parts += options.proxyFrom.map { "proxy-from=\($0)" }
        if let n = options.proxyTimeoutSeconds { parts.append("proxy-timeout=\(n)") }
        if let mode = options.mode { parts.append("mode=0" + String(mode, radix: 8)) }
        if let user = options.ownerUser { parts.append("owner=" + user + (options.ownerGroup.map { ":" + $0 } ?? "")) }
        return parts.joined(separator: ",")
    }
}
