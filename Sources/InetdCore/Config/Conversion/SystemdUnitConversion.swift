/// A systemd .socket unit and the .service it activates as inetd.conf
/// lines (`inetd --convert systemd`): one line per `Listen*=`, nowait for
/// `Accept=yes`, `wait,listen-fds` for `Accept=no`; what has no equivalent
/// becomes a comment that says what to do instead. docs/converting.md has
/// the table.
public enum SystemdUnitConversion {
    /// The service unit's file name, as systemd finds it: `Service=`, else
    /// the socket's name with `.service`, or the template `NAME@.service`
    /// for `Accept=yes`.
    public static func serviceName(for socket: SystemdUnit) -> String {
        if let named = socket.value("Socket", "Service")?.value { return named }
        let stem = socket.name.hasSuffix(".socket") ? String(socket.name.dropLast(".socket".count)) : socket.name
        return stem + (accepts(socket) ? "@.service" : ".service")
    }

    static func accepts(_ socket: SystemdUnit) -> Bool {
        socket.value("Socket", "Accept").flatMap { SystemdUnit.boolean($0.value) } ?? false
    }

    /// `service` is nil when its file could not be read (the caller says why).
    public static func convert(socket: SystemdUnit, service: SystemdUnit?) -> Conversion {
        var conversion = Conversion()
        conversion.diagnostics = socket.diagnostics + (service?.diagnostics ?? [])
        var job = Job(socket: socket, service: service)
        conversion.services = job.convert()
        return conversion
    }

    /// Keys read into the line, so that every other one gets a comment.
    static let socketKeys: Set<String> = [
        "ListenStream", "ListenDatagram", "ListenSequentialPacket", "Accept", "MaxConnections",
        "MaxConnectionsPerSource", "BindIPv6Only", "FileDescriptorName", "Service", "SocketUser", "SocketGroup",
        "SocketMode", "Backlog", "ReceiveBuffer", "SendBuffer", "IPAddressAllow", "IPAddressDeny",
    ]
    static let serviceKeys: Set<String> = [
        "ExecStart", "User", "Group", "Environment", "StandardInput", "StandardOutput", "StandardError",
        "IPAddressAllow", "IPAddressDeny",
    ]

    struct Job {
        var socket: SystemdUnit
        var service: SystemdUnit?
        /// Notes for the unit as a whole: they go on the first line's block.
        var notes: [Diagnostic] = []

        mutating func note(_ unit: SystemdUnit, _ entry: SystemdUnit.Entry?, _ message: String, error: Bool = false) {
            notes.append(Diagnostic(file: unit.path, line: entry?.line ?? 1, message: message,
                                    severity: error ? .error : .warning))
        }

        mutating func convert() -> [ConvertedService] {
            let accept = accepts(socket)
            let listens = resetLists(socket.entries.filter { $0.section == "Socket" && $0.key.hasPrefix("Listen") })
            var endpoints: [(entry: SystemdUnit.Entry, endpoint: Endpoint)] = []
            for entry in listens {
                if let endpoint = endpoint(entry) { endpoints.append((entry, endpoint)) }
            }
            if listens.isEmpty { note(socket, nil, "no Listen*= line: nothing to listen on", error: true) }
            if !accept, listens.count > 1 {
                if let merged = Endpoint.merged(endpoints.map(\.endpoint)), endpoints.count == listens.count {
                    // One port on several addresses: one line, its hosts listed,
                    // whose handler gets every socket, as systemd's does.
                    endpoints = [(listens[0], merged)]
                } else {
                    note(socket, listens.first, "Accept=no with \(listens.count) Listen*= lines: systemd gives all "
                         + "the sockets to one process, and an inetd line carries one port or path; no line here can "
                         + "start one handler with them all", error: true)
                }
            }

            // The program.
            let serviceUnit = service
            var environment: (values: [String: String], order: [String]) = ([:], [])
            var command: SystemdCommandLine?
            var standardInputSocket = false
            var stderrToSocket = false
            var user = "root"
            if let unit = serviceUnit {
                environment = SystemdCommandLine.environment(unit.list("Service", "Environment"))
                let starts = unit.list("Service", "ExecStart")
                if starts.count > 1 {
                    note(unit, starts[1], "more than one ExecStart= (Type=oneshot): an inetd line runs one program; "
                         + "run a script that runs them in turn", error: true)
                }
                if let start = starts.first, unit.expandingSpecifiers(start.value) == nil {
                    note(unit, start, "ExecStart holds a specifier only systemd can fill in (the instance, the host, "
                         + "...): write the value itself", error: true)
                } else if let start = starts.first {
                    switch SystemdCommandLine.parse(unit.expandingSpecifiers(start.value)!, environment: environment.values) {
                    case .success(let parsed):
                        command = parsed
                        if !parsed.unknownVariables.isEmpty {
                            let names = parsed.unknownVariables.map { "$" + $0 }.joined(separator: ", ")
                            let files = unit.list("Service", "EnvironmentFile").map(\.value).joined(separator: " ")
                            note(unit, start, "ExecStart uses \(names), which the unit does not set"
                                 + (files.isEmpty ? "" : " (EnvironmentFile=\(files) may)")
                                 + ": left out, as systemd does with an unset variable; write its value into the line's arguments")
                        }
                        for prefix in parsed.prefixes.sorted() {
                            switch prefix {
                            case "-": note(unit, start, "ExecStart's '-' (ignore failure): inetd logs a handler's failure and goes on anyway")
                            case "@", ":": break
                            default: note(unit, start, "ExecStart's '\(prefix)' (privileges outside the unit's sandbox) has no equivalent: the handler runs as the line's user")
                            }
                        }
                    case .failure(let failure):
                        let why = switch failure {
                        case .empty: "names no program"
                        case .unbalancedQuote: "has a quote that is not closed"
                        case .notAbsolute(let name): "runs '\(name)', which is no absolute path"
                        }
                        note(unit, start, "ExecStart \(why)", error: true)
                    }
                } else {
                    note(unit, nil, "no ExecStart=", error: true)
                }
                if let entry = unit.value("Service", "User") {
                    if let name = unit.expandingSpecifiers(entry.value), !InetdLine.unwritable(name) { user = name }
                    else { note(unit, entry, "User=\(entry.value) cannot be written here", error: true) }
                }
                if let entry = unit.value("Service", "Group"), let group = unit.expandingSpecifiers(entry.value),
                   !InetdLine.unwritable(group) {
                    user += ":" + group
                }
                if let dynamic = unit.value("Service", "DynamicUser"), SystemdUnit.boolean(dynamic.value) == true {
                    note(unit, dynamic, "DynamicUser=yes has no equivalent: name a user (User=) for the line", error: true)
                }
                standardInputSocket = unit.value("Service", "StandardInput")?.value == "socket"
                if let output = unit.value("Service", "StandardOutput"), output.value != "socket" || !standardInputSocket,
                   output.value != "inherit" {
                    note(unit, output, "StandardOutput=\(output.value): a handler's standard output is the connection "
                         + "(StandardInput=socket) or inetd's standard error")
                }
                if let error = unit.value("Service", "StandardError") {
                    if error.value == "socket" { stderrToSocket = true }
                    else if error.value != "inherit", error.value != "journal" {
                        note(unit, error, "StandardError=\(error.value): a handler's standard error is inetd's (its log)")
                    }
                }
                if let type = unit.value("Service", "Type"), !["simple", "exec"].contains(type.value) {
                    note(unit, type, "Type=\(type.value): inetd starts the program and reads no readiness from it"
                         + (type.value == "forking" ? "; it must stay in the foreground" : ""))
                }
                for file in unit.list("Service", "EnvironmentFile") {
                    note(unit, file, "EnvironmentFile=\(file.value): inetd reads no environment file; give the "
                         + "variables as env=NAME=VALUE or run a script that reads it")
                }
            }

            // Options common to every line.
            var options: [String] = []
            var limitOptions: [String] = []
            let maxConnections = socket.value("Socket", "MaxConnections")
            let perSource = socket.value("Socket", "MaxConnectionsPerSource")
            if accept {
                if let entry = maxConnections {
                    if let count = Int(entry.value), count >= 0 { limitOptions.append("max=\(count)") }
                    else { note(socket, entry, "MaxConnections=\(entry.value) is not a number; dropped") }
                }
                if let entry = perSource {
                    if let count = Int(entry.value), count >= 0 { limitOptions.append("per-ip=\(count)") }
                    else { note(socket, entry, "MaxConnectionsPerSource=\(entry.value) is not a number; dropped") }
                }
            } else {
                for entry in [maxConnections, perSource].compactMap({ $0 }) {
                    note(socket, entry, "\(entry.key) applies to Accept=yes only; dropped")
                }
            }
            let listenFDs = !standardInputSocket
            if listenFDs {
                options.append("listen-fds")
                if let entry = socket.value("Socket", "FileDescriptorName") {
                    if SystemdUnitConversion.validName(entry.value) { options.append("name=\(entry.value)") }
                    else { note(socket, entry, "FileDescriptorName=\(entry.value) cannot be an inetd name=; dropped") }
                } else if !accept, SystemdUnitConversion.validName(socket.name) {
                    // systemd names the fds after the socket unit by default.
                    options.append("name=\(socket.name)")
                }
            } else if let entry = socket.value("Socket", "FileDescriptorName") {
                note(socket, entry, "FileDescriptorName= has no use with StandardInput=socket (no LISTEN_FDNAMES); dropped")
            }
            if stderrToSocket {
                if accept { options.append("stderr=socket") }
                else { note(serviceUnit ?? socket, serviceUnit?.value("Service", "StandardError"),
                            "StandardError=socket needs Accept=yes here; standard error is inetd's") }
            }
            if let entry = socket.value("Socket", "Backlog") {
                if let count = Int(entry.value), (1...65535).contains(count) { options.append("backlog=\(count)") }
                else { note(socket, entry, "Backlog=\(entry.value) is not from 1 to 65535; dropped") }
            }
            var buffers: [String] = []
            for (key, option) in [("SendBuffer", "sndbuf"), ("ReceiveBuffer", "rcvbuf")] {
                guard let entry = socket.value("Socket", key) else { continue }
                if let bytes = SystemdUnitConversion.size(entry.value), (1...(1 << 30)).contains(bytes) { buffers.append("\(option)=\(bytes)") }
                else { note(socket, entry, "\(key)=\(entry.value) is not a size from 1 byte to 1G; dropped") }
            }
            var environmentOptions: [String] = []
            for name in environment.order {
                let value = environment.values[name]!
                let item = "\(name)=\(value)"
                if !HandlerVariables.isValidName(Substring(name)) || HandlerVariables.isReserved(Substring(name)) {
                    note(serviceUnit!, serviceUnit!.value("Service", "Environment"),
                         "Environment \(name): inetd sets or withholds that variable itself, or it is no variable name; dropped")
                } else if InetdLine.unwritable(value.isEmpty ? "x" : item, option: true) {
                    note(serviceUnit!, serviceUnit!.value("Service", "Environment"),
                         "Environment \(name): a value with a blank or a comma cannot be written in the wait field; "
                         + "set it in a script that runs the program")
                } else {
                    environmentOptions.append("env=\(item)")
                }
            }
            let access = accessOptions()
            noteOtherKeys()

            let program = command
            // A problem of the whole unit turns every line off.
            let unitFails = notes.contains { $0.severity == .error }
            var blocks: [ConvertedService] = []
            for (index, found) in endpoints.enumerated() {
                let endpoint = found.endpoint
                var block = ConvertedService(origin: "\(socket.path):\(found.entry.line): \(found.entry.key)=\(found.entry.value)"
                    + (serviceUnit.map { " with \($0.path)" } ?? ""))
                var line = InetdLine(service: endpoint.service, socketType: endpoint.socketType,
                                     transport: endpoint.transport, wait: !accept, user: user,
                                     program: program?.program ?? "/nonexistent")
                line.arguments = program?.arguments ?? []
                line.bufferOptions = buffers
                var lineOptions = options
                if accept {
                    lineOptions = limitOptions + lineOptions
                    // systemd counts a source by its exact address; inetd an IPv6 /64 by default.
                    if perSource != nil, endpoint.transport != "unix", limitOptions.contains(where: { $0.hasPrefix("per-ip=") }) {
                        lineOptions.insert("ip-prefix=32/128", at: limitOptions.count)
                    }
                }
                if endpoint.transport == "unix" {
                    lineOptions += unixOptions(&block)
                    if !access.isEmpty {
                        block.notes.append(Diagnostic(file: socket.path, line: found.entry.line,
                            message: "IPAddressAllow=/IPAddressDeny= do not apply to a unix socket; dropped",
                            severity: .warning))
                    }
                } else if !access.isEmpty {
                    if accept { lineOptions += access } else {
                        block.notes.append(Diagnostic(file: socket.path, line: found.entry.line,
                            message: "IPAddressAllow=/IPAddressDeny= cannot apply to an Accept=no service here "
                                + "(its program accepts the clients itself): filter them with a firewall",
                            severity: .error))
                    }
                }
                if endpoint.socketType == "dgram", accept {
                    block.notes.append(Diagnostic(file: socket.path, line: found.entry.line,
                        message: "Accept=yes does not apply to a datagram socket", severity: .error))
                }
                line.options = lineOptions + environmentOptions
                if index == 0 { block.notes = notes + block.notes }
                if program != nil { block.place(line, file: socket.path, line: found.entry.line) }
                block.off = unitFails || block.notes.contains { $0.severity == .error }
                blocks.append(block)
            }
            if blocks.isEmpty {
                var block = ConvertedService(origin: "\(socket.path): \(socket.name)")
                block.notes = notes
                blocks.append(block)
            }
            return blocks
        }

        /// Listen*= entries after the empty assignments that reset them.
        func resetLists(_ entries: [SystemdUnit.Entry]) -> [SystemdUnit.Entry] {
            var kept: [SystemdUnit.Entry] = []
            for entry in entries {
                if entry.value.isEmpty { kept.removeAll { $0.key == entry.key } } else { kept.append(entry) }
            }
            return kept
        }

        struct Endpoint {
            var service: String
            var socketType: String
            var transport: String
            /// The address as the service field writes it, and the port:
            /// for `ADDRESS:PORT` listeners, which `merged` can join.
            var host: String?
            var port: Int?

            /// `127.0.0.1:8000` and `[::1]:8000` as `127.0.0.1,[::1]:8000`
            /// with `tcp` (each address in its own family); nil unless
            /// every endpoint gives an address and they share port and type.
            static func merged(_ endpoints: [Endpoint]) -> Endpoint? {
                guard let first = endpoints.first, let port = first.port,
                      endpoints.allSatisfy({ $0.host != nil && $0.port == port && $0.socketType == first.socketType })
                else { return nil }
                let hosts = endpoints.compactMap(\.host)
                guard Set(hosts).count == hosts.count else { return nil }
                let kind = first.socketType == "stream" ? "tcp" : "udp"
                return Endpoint(service: hosts.joined(separator: ",") + ":\(port)", socketType: first.socketType,
                                transport: kind)
            }
        }

        /// One Listen*= value as a service field, socket type and protocol.
        mutating func endpoint(_ entry: SystemdUnit.Entry) -> Endpoint? {
            let socketType: String
            switch entry.key {
            case "ListenStream": socketType = "stream"
            case "ListenDatagram": socketType = "dgram"
            case "ListenSequentialPacket": socketType = "seqpacket"
            default:
                note(socket, entry, "\(entry.key)= has no equivalent: inetd listens on sockets only", error: true)
                return nil
            }
            guard let value = socket.expandingSpecifiers(entry.value) else {
                note(socket, entry, "\(entry.key)=\(entry.value) holds a specifier only systemd can fill in; write the path itself", error: true)
                return nil
            }
            if value.hasPrefix("/") {
                guard !InetdLine.unwritable(value) else {
                    note(socket, entry, "the path \(value) cannot be written in an inetd.conf line", error: true)
                    return nil
                }
                return Endpoint(service: value, socketType: socketType, transport: "unix")
            }
            if value.hasPrefix("@") {
                note(socket, entry, "abstract unix sockets (\(value)) are not supported: use a path", error: true)
                return nil
            }
            guard socketType != "seqpacket" else {
                note(socket, entry, "ListenSequentialPacket= takes a unix path here", error: true)
                return nil
            }
            let kind = socketType == "stream" ? "tcp" : "udp"
            let only = socket.value("Socket", "BindIPv6Only")?.value ?? "default"
            if value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let port = Int(value), (1...65535).contains(port) {
                // systemd: one IPv6 socket for both families; `tcp` is the same
                // clients on two sockets, and still works where there is no IPv6.
                let family = only == "ipv6-only" ? "6" : only == "both" ? "46" : ""
                return Endpoint(service: String(port), socketType: socketType, transport: kind + family)
            }
            if value.hasPrefix("["), let close = value.firstIndex(of: "]"),
               let address = IPAddress(literal: String(value[value.index(after: value.startIndex)..<close])),
               address.family == .inet6 {
                let port = value[value.index(after: close)...]
                guard port.hasPrefix(":"), let number = Int(port.dropFirst()), (1...65535).contains(number) else {
                    note(socket, entry, "\(entry.key)=\(value): expected [ADDRESS]:PORT", error: true)
                    return nil
                }
                let dual = address.isUnspecified && only != "ipv6-only"
                return Endpoint(service: "[\(address)]:\(number)", socketType: socketType, transport: kind + (dual ? "46" : "6"),
                                host: dual ? nil : "[\(address)]", port: number)
            }
            if let colon = value.lastIndex(of: ":"), let address = IPAddress(literal: String(value[..<colon])),
               address.family == .inet, let number = Int(value[value.index(after: colon)...]), (1...65535).contains(number) {
                return Endpoint(service: "\(address):\(number)", socketType: socketType, transport: kind + "4",
                                host: "\(address)", port: number)
            }
            note(socket, entry, "\(entry.key)=\(value) is not a port, ADDRESS:PORT, [ADDRESS]:PORT or a path here "
                 + "(vsock, network interfaces and host names are not supported)", error: true)
            return nil
        }

        /// SocketUser=, SocketGroup=, SocketMode= as owner= and mode=.
        func unixOptions(_ block: inout ConvertedService) -> [String] {
            var options: [String] = []
            func drop(_ entry: SystemdUnit.Entry, _ why: String) {
                block.notes.append(Diagnostic(file: socket.path, line: entry.line, message: why, severity: .warning))
            }
            let user = socket.value("Socket", "SocketUser"), group = socket.value("Socket", "SocketGroup")
            if let user {
                let owner = user.value + (group.map { ":" + $0.value } ?? "")
                if InetdLine.unwritable(owner, option: true) { drop(user, "SocketUser=/SocketGroup= \(owner) cannot be an owner=; dropped") }
                else { options.append("owner=\(owner)") }
            } else if let group {
                drop(group, "SocketGroup= without SocketUser=: write owner=root:\(group.value)")
            }
            if let mode = socket.value("Socket", "SocketMode") {
                if let bits = UInt32(mode.value, radix: 8), bits <= 0o777, mode.value.utf8.count <= 4 {
                    options.append("mode=" + (mode.value.hasPrefix("0") ? mode.value : "0" + mode.value))
                } else {
                    drop(mode, "SocketMode=\(mode.value) is not octal permission bits; dropped")
                }
            }
            return options
        }

        /// IPAddressAllow= and IPAddressDeny= of both units: an address
        /// that an allow matches is let through whatever the denies say.
        mutating func accessOptions() -> [String] {
            var allow: [AddressRange] = [], deny: [AddressRange] = []
            for (unit, section) in [(socket, "Socket")] + (service.map { [($0, "Service")] } ?? []) {
                for (key, isAllow) in [("IPAddressAllow", true), ("IPAddressDeny", false)] {
                    for entry in unit.list(section, key) {
                        for word in entry.value.split(separator: " ") {
                            if let ranges = AccessConversion.systemdEntry(String(word)) {
                                if isAllow { allow += ranges } else { deny += ranges }
                            } else {
                                note(unit, entry, "\(key) \(word) is not an address, prefix or keyword; dropped",
                                     error: !isAllow)
                            }
                        }
                    }
                }
            }
            guard !deny.isEmpty else { return [] }
            if AccessConversion.covers(deny, AccessConversion.everything) {
                // Deny any: only the allowed get through.
                return allow.isEmpty ? AccessConversion.everything.map { "deny=\($0)" } : allow.map { "allow=\($0)" }
            }
            return AccessConversion.options(allow: nil, deny: deny.flatMap { AccessConversion.subtract(allow, from: $0) }) { _, _ in false }
        }

        /// One comment for every key nothing above read.
        mutating func noteOtherKeys() {
            var general: [String] = []
            let units = [(socket, ("Socket", SystemdUnitConversion.socketKeys))]
                + (service.map { [($0, ("Service", SystemdUnitConversion.serviceKeys))] } ?? [])
            for (unit, own) in units {
                var seen: Set<String> = []
                for entry in unit.entries where !seen.contains(entry.section + "." + entry.key) {
                    seen.insert(entry.section + "." + entry.key)
                    if entry.section == own.0 {
                        if own.1.contains(entry.key) || entry.key.hasPrefix("Listen")
                            || ["DynamicUser", "Type", "EnvironmentFile"].contains(entry.key) { continue }
                        note(unit, entry, "\(entry.key)=\(entry.value) has no equivalent; dropped")
                    } else if entry.key != "Description", !general.contains("\(entry.section).\(entry.key)") {
                        general.append("\(entry.section).\(entry.key)")
                    }
                }
            }
            if !general.isEmpty {
                notes.append(Diagnostic(file: socket.path, line: 1, message: "\(general.joined(separator: ", ")): "
                    + "dependencies, ordering, conditions and installation mean nothing to inetd, which serves "
                    + "every line from its start", severity: .warning))
            }
        }
    }

    /// What inetd's name= takes: at most 255 printable characters, no ':'.
    static func validName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 255 && !name.contains(":") && !InetdLine.unwritable(name, option: true)
    }

    /// systemd's sizes: bytes, or K, M, G (powers of 1024).
    static func size(_ text: String) -> Int? {
        var digits = text
        var unit = 1
        switch digits.last {
        case "K": unit = 1 << 10
        case "M": unit = 1 << 20
        case "G": unit = 1 << 30
        default: break
        }
        if unit > 1 { digits.removeLast() }
        guard !digits.isEmpty, digits.utf8.count <= 10, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let count = Int(digits) else { return nil }
        return count * unit
    }
}
