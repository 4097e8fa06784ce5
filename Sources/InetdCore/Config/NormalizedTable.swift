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
                out += fields(service, endpoints).joined(separator: " ") + "\n"
            }
        }
        return out
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
        if options.stderrToSocket { parts.append("stderr=socket") }
        if let n = options.backlog { parts.append("backlog=\(n)") }
        if let n = options.timeoutSeconds { parts.append("timeout=\(n)") }
        if options.proxy { parts.append("proxy") }
        if let mode = options.mode { parts.append("mode=0" + String(mode, radix: 8)) }
        if let user = options.ownerUser { parts.append("owner=" + user + (options.ownerGroup.map { ":" + $0 } ?? "")) }
        return parts.joined(separator: ",")
    }
}
