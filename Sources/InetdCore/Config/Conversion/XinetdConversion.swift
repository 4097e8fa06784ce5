/// xinetd's services as inetd.conf lines (`inetd --convert xinetd`): each
/// `service` section, with the `defaults` section applied first, becomes
/// one line; what has no equivalent becomes a comment that says what to
/// do instead. docs/converting.md has the table.
public enum XinetdConversion {
    public static func convert(_ files: [XinetdFile]) -> Conversion {
        var conversion = Conversion()
        conversion.diagnostics = files.flatMap(\.diagnostics)
        var defaults: [String: Value] = [:]
        for section in files.flatMap(\.sections) where section.name == nil {
            apply(section.attributes, file: section.file, to: &defaults)
        }
        let disabled = Set(defaults.removeValue(forKey: "disabled")?.values ?? [])
        let enabled = defaults.removeValue(forKey: "enabled").map { Set($0.values) }
        for section in files.flatMap(\.sections) {
            guard let name = section.name else { continue }
            var values = defaults
            apply(section.attributes, file: section.file, to: &values)
            var service = ServiceConversion(name: name, section: section, values: values)
            let id = values["id"]?.values.first ?? name
            if disabled.contains(id) || enabled.map({ !$0.contains(id) }) == true {
                service.turnedOff = "the defaults section's \(disabled.contains(id) ? "disabled" : "enabled") list"
            }
            conversion.services.append(service.convert())
        }
        return conversion
    }

    /// An attribute's values after the operators, and where it was last set.
    struct Value {
        var values: [String]
        var file: String
        var line: Int
    }

    static func apply(_ attributes: [XinetdFile.Attribute], file: String, to values: inout [String: Value]) {
        for attribute in attributes {
            var value = values[attribute.key] ?? Value(values: [], file: file, line: attribute.line)
            switch attribute.op {
            case .set: value.values = attribute.values
            case .add: value.values += attribute.values
            case .remove: value.values.removeAll { attribute.values.contains($0) }
            }
            value.file = file
            value.line = attribute.line
            values[attribute.key] = value
        }
    }

    /// One service section's conversion, attribute by attribute.
    struct ServiceConversion {
        var name: String
        var section: XinetdFile.Section
        var values: [String: Value]
        var result: ConvertedService
        /// What turned the service off, besides its own `disable`.
        var turnedOff: String?
        private var used: Set<String> = []

        init(name: String, section: XinetdFile.Section, values: [String: Value]) {
            self.name = name
            self.section = section
            self.values = values
            result = ConvertedService(origin: "\(section.file):\(section.line): service \(name)")
        }

        mutating func take(_ key: String) -> Value? {
            used.insert(key)
            return values[key]
        }

        mutating func note(_ value: Value?, _ message: String, error: Bool = false, severity: Diagnostic.Severity? = nil) {
            result.notes.append(Diagnostic(file: value?.file ?? section.file, line: value?.line ?? section.line,
                                           message: message, severity: severity ?? (error ? .error : .warning)))
        }

        mutating func fail(_ value: Value?, _ message: String) { note(value, message, error: true) }

        mutating func convert() -> ConvertedService {
            let typeValue = take("type")
            let types = Set((typeValue?.values ?? []).map { $0.uppercased() })
            let flagsValue = take("flags")
            var flags = (flagsValue?.values ?? []).map { $0.uppercased() }
            let disable = take("disable")
            var off = disable?.values.first?.lowercased() == "yes"
            if off { note(disable, "disable = yes: the line is off; remove '\(ConvertedService.offPrefix)' to serve it",
                              severity: .note) }
            if flags.contains("DISABLE") {
                off = true
                note(flagsValue, "flags = DISABLE: the line is off; remove '\(ConvertedService.offPrefix)' to serve it",
                     severity: .note)
            }
            if let turnedOff {
                off = true
                note(nil, "\(turnedOff) turns this service off: the line is off; remove '\(ConvertedService.offPrefix)' to serve it",
                     severity: .note)
            }
            _ = take("id")
            for type in types.sorted() {
                switch type {
                case "INTERNAL", "UNLISTED": break
                case "RPC": fail(typeValue, "RPC services are not supported")
                case "TCPMUX", "TCPMUXPLUS": fail(typeValue, "tcpmux services are not supported")
                default: note(typeValue, "type \(type) is not an xinetd type; ignored")
                }
            }
            let builtin = types.contains("INTERNAL")

            // socket_type and protocol.
            let socketValue = take("socket_type")
            let socketType = socketValue?.values.first ?? ""
            guard ["stream", "dgram"].contains(socketType) else {
                fail(socketValue, socketType.isEmpty ? "no socket_type" : "socket_type \(socketType) is not supported (stream or dgram)")
                return finish(nil, off: off)
            }
            let protocolValue = take("protocol")
            let proto = protocolValue?.values.first ?? (socketType == "stream" ? "tcp" : "udp")
            guard proto == (socketType == "stream" ? "tcp" : "udp") else {
                fail(protocolValue, "protocol \(proto) with socket_type \(socketType) is not supported (stream is tcp, dgram is udp)")
                return finish(nil, off: off)
            }
            // Families: xinetd listens on IPv4 unless flags say IPv6 (then a
            // dual-stack socket, unless v6only) or bind gives an address.
            var family = "4"
            let v6only = take("v6only")
            if flags.contains("IPV6") { family = v6only?.values.first == "yes" ? "6" : "46" }
            flags.removeAll { $0 == "IPV4" || $0 == "IPV6" || $0 == "DISABLE" }

            // The service field: the port for UNLISTED, else the name.
            let portValue = take("port")
            var service = name
            if types.contains("UNLISTED") {
                guard let port = portValue?.values.first, let number = Int(port), (1...65535).contains(number) else {
                    fail(portValue, "type UNLISTED needs a port from 1 to 65535")
                    return finish(nil, off: off)
                }
                service = String(number)
            } else if !name.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A)
                                               || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }) {
                // Not an /etc/services name: a ':', ',' or '#' would change what the field means.
                fail(nil, "service \(name) is no /etc/services name; give type = UNLISTED and a port")
                return finish(nil, off: off)
            }
            for key in ["bind", "interface"] {
                guard let bind = take(key), let address = bind.values.first else { continue }
                if let ip = IPAddress(literal: address) {
                    family = ip.family == .inet ? "4" : "6"
                    service = (ip.family == .inet ? address : "[\(address)]") + ":" + service
                } else if !InetdLine.unwritable(address) {
                    service = address + ":" + service
                } else {
                    fail(bind, "\(key) \(address) cannot be written as an address")
                }
                break
            }

            // Identity.
            let waitValue = take("wait")
            guard let waitWord = waitValue?.values.first, waitWord == "yes" || waitWord == "no" else {
                fail(waitValue, "no wait = yes or no")
                return finish(nil, off: off)
            }
            let wait = waitWord == "yes"
            let userValue = take("user"), groupValue = take("group")
            var user = userValue?.values.first ?? "-"
            if userValue == nil, !builtin {
                fail(nil, "no user: xinetd needs one when it runs as root; add user = NAME (or write '-' in the line to run as inetd's own user)")
            }
            if let group = groupValue?.values.first {
                user += (user == "-" ? "" : ":" + group)
                if user == "-" { note(groupValue, "group \(group) without a user: dropped") }
            }

            var line = InetdLine(service: service, socketType: socketType, transport: proto + family, wait: wait,
                                 user: user, program: "internal")
            if builtin {
                guard ConfigParser.builtins.contains(name) else {
                    fail(typeValue, "xinetd's internal service '\(name)' has no built-in here "
                         + "(the built-ins are echo, discard, chargen, daytime and time)")
                    return finish(nil, off: off)
                }
                if service.hasSuffix(":" + name) || service == name {
                    line.arguments = []
                } else {
                    line.arguments = [name]
                }
                for key in ["server", "server_args"] where values[key] != nil {
                    note(take(key), "\(key) is ignored for an INTERNAL service")
                }
            } else if let redirect = take("redirect") {
                fail(redirect, "redirect has no equivalent: run a forwarder as the server, as "
                     + "'\(service) stream tcp nowait nobody /usr/bin/socat socat STDIO TCP:\(redirect.values.joined(separator: ":"))'")
                return finish(nil, off: off)
            } else {
                let serverValue = take("server")
                guard let server = serverValue?.values.first, server.hasPrefix("/") else {
                    fail(serverValue, "no server given as an absolute path")
                    return finish(nil, off: off)
                }
                line.program = server
                let argsValue = take("server_args")
                var arguments = argsValue?.values ?? []
                if flags.contains("NAMEINARGS") {
                    // server_args starts with argv[0] (tcpd's way).
                    if arguments.isEmpty { arguments = [basename(server)] }
                } else {
                    arguments.insert(basename(server), at: 0)
                }
                flags.removeAll { $0 == "NAMEINARGS" }
                line.arguments = arguments
            }

            line.options = limits(wait: wait, builtin: builtin)
            line.options += access(wait: wait, builtin: builtin)
            line.options += environment(builtin: builtin)
            convertFlags(flags, flagsValue)
            noteTheRest()
            return finish(line, off: off)
        }

        /// `instances`, `per_source`, `cps` as `max=`, `per-ip=`, `rate=`.
        mutating func limits(wait: Bool, builtin: Bool) -> [String] {
            var options: [String] = []
            // A wait service has one handler at a time, which serves its clients itself.
            let perClient = !wait || builtin
            if let instances = take("instances"), let value = instances.values.first {
                if !perClient {
                    note(instances, "instances does not apply to a wait service: its one handler accepts the clients")
                } else if value == "UNLIMITED" {
                    options.append("max=0")
                } else if let count = Int(value), count >= 0 {
                    options.append("max=\(count)")
                } else {
                    note(instances, "instances \(value) is not a number; dropped")
                }
            }
            if let perSource = take("per_source"), let value = perSource.values.first, value != "UNLIMITED" {
                if !perClient {
                    note(perSource, "per_source does not apply to a wait service: its one handler accepts the clients")
                } else if let count = Int(value), count >= 0 {
                    // xinetd counts exact addresses; inetd counts an IPv6 /64 as one source by default.
                    options += ["per-ip=\(count)", "ip-prefix=32/128"]
                } else {
                    note(perSource, "per_source \(value) is not a number; dropped")
                }
            }
            if let cps = take("cps"), let value = cps.values.first {
                if let perSecond = Int(value), perSecond > 0 {
                    let perMinute = min(perSecond * 60, Int(Int32.max))
                    options.append("rate=\(perMinute)")
                    let wait = cps.values.count > 1 ? cps.values[1] : "?"
                    note(cps, "cps = \(cps.values.joined(separator: " ")) became rate=\(perMinute) (a minute's worth): "
                         + "over it xinetd closes the socket for \(wait) seconds; inetd keeps it bound and holds new "
                         + "connections in the backlog until the rate allows")
                } else {
                    note(cps, "cps \(cps.values.joined(separator: " ")) is not a positive number; dropped")
                }
            }
            return options
        }

        /// `only_from` and `no_access` as `allow=` and `deny=`.
        mutating func access(wait: Bool, builtin: Bool) -> [String] {
            let onlyFrom = take("only_from"), noAccess = take("no_access")
            guard onlyFrom != nil || noAccess != nil else { return [] }
            var allow: [AddressRange]?
            if let onlyFrom {
                var ranges: [AddressRange] = []
                for entry in onlyFrom.values {
                    if let found = AccessConversion.xinetdEntry(entry) { ranges += found } else {
                        note(onlyFrom, "only_from \(entry): allow= takes numeric addresses and prefixes, not names; "
                             + "it is left out, so that host is refused: add its addresses as allow=")
                    }
                }
                if ranges.isEmpty {
                    fail(onlyFrom, "only_from admits no numeric address: with nothing allowed xinetd refuses every "
                         + "client; the line is off until allow= names the addresses")
                }
                allow = ranges
            }
            var deny: [AddressRange] = []
            for entry in noAccess?.values ?? [] {
                if let found = AccessConversion.xinetdEntry(entry) { deny += found } else {
                    fail(noAccess, "no_access \(entry): deny= takes numeric addresses and prefixes, not names; "
                         + "the line is off until deny= names that host's addresses")
                }
            }
            // xinetd: the more precise match wins.
            let options = AccessConversion.options(allow: allow, deny: deny) { $0.prefix > $1.prefix }
            if wait, !builtin, !options.isEmpty {
                fail(onlyFrom ?? noAccess, "only_from and no_access cannot apply to a wait service here (its handler "
                     + "accepts the clients itself): filter them with a firewall or the server's own rules")
                return []
            }
            return options
        }

        /// `env` and `passenv` as `env=` and `passenv=`.
        mutating func environment(builtin: Bool) -> [String] {
            var options: [String] = []
            for (key, option) in [("env", "env"), ("passenv", "passenv")] {
                guard let value = take(key) else { continue }
                if builtin {
                    note(value, "\(key) does not apply to a built-in: no program runs")
                    continue
                }
                for item in value.values {
                    let name = item.split(separator: "=", maxSplits: 1).first ?? ""
                    if key == "env", !item.contains("=") {
                        note(value, "env \(item) is not NAME=VALUE; dropped")
                    } else if !HandlerVariables.isValidName(name) || HandlerVariables.isReserved(name) {
                        note(value, "\(key) \(name): inetd sets or withholds that variable itself, or it is no variable name; dropped")
                    } else if InetdLine.unwritable(item, option: true) {
                        note(value, "\(key) \(item): a value with a comma cannot be written in the wait field; "
                             + "set it in a script that runs the server")
                    } else {
                        options.append("\(option)=\(item)")
                    }
                }
            }
            return options
        }

        mutating func convertFlags(_ flags: [String], _ value: Value?) {
            for flag in flags {
                switch flag {
                case "REUSE": break  // inetd sets SO_REUSEADDR on every TCP listener
                case "NOLIBWRAP": break  // no libwrap here
                case "NODELAY", "KEEPALIVE":
                    note(value, "flags \(flag): inetd sets no TCP_NODELAY or SO_KEEPALIVE; the server can set it on its socket")
                case "SENSOR":
                    fail(value, "flags SENSOR (ban whoever connects) has no equivalent")
                default:
                    note(value, "flags \(flag) has no equivalent; dropped")
                }
            }
        }

        /// A comment for every other attribute, saying what to do instead.
        mutating func noteTheRest() {
            let rest = values.filter { !used.contains($0.key) }.sorted { ($0.value.file, $0.value.line, $0.key) < ($1.value.file, $1.value.line, $1.key) }
            for (key, value) in rest {
                note(value, "\(key) = \(value.values.joined(separator: " ")): \(Self.advice(key))")
            }
        }

        static func advice(_ key: String) -> String {
            switch key {
            case "log_type", "log_on_success", "log_on_failure":
                return "inetd logs to its standard error; with -d, one line per connection and per handler exit (peer, pid, status, duration)"
            case "nice":
                return "no equivalent: run the server through /usr/bin/nice"
            case "umask":
                return "handlers start with umask 022: run the server through a script that sets another"
            case "access_times":
                return "no equivalent: use firewall rules with a time match, or the server's own checks"
            case "banner", "banner_success", "banner_fail":
                return "no equivalent: the server prints its own greeting"
            case "groups":
                return "inetd always gives the handler its user's supplementary groups (initgroups), as groups = yes"
            case "max_load":
                return "no equivalent"
            case "deny_time":
                return "no equivalent: inetd refuses a client connection by connection and bans no one"
            case "libwrap":
                return "no libwrap: run /usr/sbin/tcpd as the server, with the program as its argument"
            case "mdns":
                return "no equivalent: inetd announces nothing"
            case "rpc_version", "rpc_number":
                return "RPC services are not supported"
            default:
                if key.hasPrefix("rlimit_") {
                    return "no equivalent: run the server through prlimit(1) or a script that runs ulimit"
                }
                return "not an attribute this converter knows; dropped"
            }
        }

        /// The line, off when the service is off or something could not
        /// be expressed; a service that is off fails nothing.
        mutating func finish(_ line: InetdLine?, off: Bool) -> ConvertedService {
            if let line { result.place(line, file: section.file, line: section.line) }
            let failed = result.notes.contains { $0.severity == .error }
            if off {
                result.notes = result.notes.map {
                    var note = $0
                    if note.severity == .error {
                        note.severity = .warning
                        note.message = "cannot convert (the service is off): " + note.message
                    }
                    return note
                }
            }
            result.off = result.off || off || failed
            return result
        }
    }

    static func basename(_ path: String) -> String {
        String(path.split(separator: "/").last ?? Substring(path))
    }
}
