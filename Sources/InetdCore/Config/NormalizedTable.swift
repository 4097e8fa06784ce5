/// The `--check` listing: one inetd.conf line per socket, every name resolved
/// and every default spelled out, each after a comment giving its source line
/// and ids. The listing is itself a valid inetd.conf.
public enum NormalizedTable {
    public static func render(_ services: [Service], file: String) -> String {
        var out = ""
        for service in services {
            let entry = service.entry
            for endpoint in service.endpoints {
                var comment = "# \(file):\(entry.line)"
                if let id = service.identity {
                    comment += " uid=\(id.uid) gid=\(id.gid) groups=\((id.groups ?? []).map(String.init).joined(separator: ","))"
                } else {
                    comment += " identity=unchanged"
                }
                out += comment + "\n"
                out += fields(service, endpoint).joined(separator: " ") + "\n"
            }
        }
        return out
    }

    static func fields(_ service: Service, _ endpoint: Endpoint) -> [String] {
        let entry = service.entry
        let address: String
        let proto: String
        switch (endpoint.kind, endpoint.address.family) {
        case (.unix, _):
            address = endpoint.address.host
            proto = "unix"
        case (_, .inet):
            address = "\(endpoint.address.host):\(endpoint.address.port)"
            proto = endpoint.kind.name + "4"
        case (_, _):
            address = "[\(endpoint.address.host)]:\(endpoint.address.port)"
            proto = endpoint.kind.name + (endpoint.ipv6Only ? "6" : "46")
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
        // Defaults only where in force (the cap of a TCP built-in): max= on
        // a spawned handler is not enforced yet and must not look it.
        let enforcedDefault = entry.program.isBuiltin && entry.socketType == .stream && !entry.wait
        if let n = limits.maxConcurrent ?? (enforcedDefault ? Limits.defaultMaxConcurrent : nil) { parts.append("max=\(n)") }
        if let n = limits.rate { parts.append("rate=\(n)") }
        if let n = limits.perSourceConcurrent { parts.append("per-ip=\(n)") }
        if let n = limits.perSourceRate { parts.append("per-ip-rate=\(n)") }
        if limits.sourcePrefixV4 != Limits.defaultSourcePrefixV4 || limits.sourcePrefixV6 != Limits.defaultSourcePrefixV6 {
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
