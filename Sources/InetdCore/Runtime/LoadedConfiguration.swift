import Glibc

/// A configuration file read, parsed and resolved.
public struct LoadedConfiguration {
    public var services: [Service]
    public var diagnostics: [Diagnostic]
    /// Lines that carried an entry, valid or not.
    public var entryLines: Int
    /// Nothing but blanks: no entry, no comment. A reload to such a file
    /// closes everything; to any other file with no valid line, it keeps
    /// the running table (SPEC 6).
    public var blank: Bool
    /// The file as read: the lines that diagnostics are told for
    /// (`ShownDiagnostics`).
    var text: String

    public var errorCount: Int { diagnostics.filter { $0.severity == .error }.count }
    public var warningCount: Int { diagnostics.filter { $0.severity == .warning }.count }

    /// Reads `path` and turns it into services. Throws only when the file
    /// cannot be read or is not a regular file of at most 16 MiB
    /// (`readWholeFile`); bad lines become diagnostics.
    /// With `lookUpGroups` false, supplementary groups are left for
    /// `lookUpGroups(_:lookup:)`. A line whose argument vector, with the
    /// handler environment, passes `execLimits` is an error on its line.
    public static func load(path: String, lookup: any NameLookup, lookUpGroups: Bool = true,
                            execLimits: ExecLimits) throws(FileReadError) -> LoadedConfiguration {
        let text = try readWholeFile(path)
        let parsed = ConfigParser(file: path).parse(text)
        let resolver = ServiceResolver(file: path, lookup: CachedLookup(lookup), lookUpGroups: lookUpGroups,
                                       execLimits: execLimits)
        let resolved = resolver.resolve(parsed.entries)
        var diagnostics = parsed.diagnostics + resolved.diagnostics
        // Many lines run one program: each is examined once.
        var programs: [String: Result<FileStatus, SystemError>] = [:]
        for service in resolved.services {
            for message in notInForce(service.entry) {
                diagnostics.append(Diagnostic(file: path, line: service.entry.line, message: message, severity: .warning))
            }
            guard case .path(let program) = service.entry.program else { continue }
            let status = programs[program] ?? Result { () throws(SystemError) in try FileStatus.of(program) }
            programs[program] = status
            if let message = programProblem(program, status, identity: service.identity) {
                diagnostics.append(Diagnostic(file: path, line: service.entry.line, message: message, severity: .warning))
            }
        }
        if let line = firstLineOnBothFamilies(resolved.services) {
            diagnostics.append(Diagnostic(file: path, line: line, message: bothFamiliesNote, severity: .note))
        }
        diagnostics.sort { $0.line < $1.line }
        return LoadedConfiguration(services: resolved.services, diagnostics: diagnostics,
                                   entryLines: parsed.entryLineCount,
                                   blank: text.utf8.allSatisfy { $0 == 0x20 || ($0 >= 0x09 && $0 <= 0x0D) },
                                   text: text)
    }

    /// Fills in the supplementary groups that `load` left out. The daemon
    /// calls it once the sockets listen: glibc's getgrouplist loads every NSS
    /// module named for `group:` in nsswitch.conf (0.6-1.0 ms for `files
    /// systemd`), and connections queue in the meantime instead of being
    /// refused. Each user and group pair is looked up once.
    public static func lookUpGroups(_ services: [Service], lookup: any NameLookup) {
        let cached = CachedLookup(lookup)
        for service in services {
            guard let identity = service.identity, identity.groups == nil else { continue }
            service.identity?.groups = cached.groups(user: identity.user, gid: identity.gid)
        }
    }

    /// What a valid line asks for that is not in force, or that holds less
    /// than it seems, one message each: a limit another dialect spells too
    /// that cannot apply to this line (the line runs, as in that dialect),
    /// or a PROXY header believed from anyone. Nothing may look in force
    /// that is not.
    public static func notInForce(_ entry: ServiceEntry) -> [String] {
        var messages: [String] = []
        let limits = entry.limits
        let kind = entry.wait ? "a wait line" : "a dgram line"
        if entry.wait || entry.socketType == .dgram {
            // wait, or dgram: one handler gets the socket and reads its clients itself.
            if let max = limits.maxConcurrent, max > 0, !(entry.wait && max == 1) {
                messages.append("max= does not apply to \(kind): one handler at a time holds the socket")
            }
            for (name, value) in [("per-ip", limits.perSourceConcurrent), ("per-ip-rate", limits.perSourceRate)] {
                if let value, value > 0 {
                    messages.append("\(name)= does not apply to \(kind): inetd never sees each client")
                }
            }
        }
        if entry.options.proxy, entry.options.proxyFrom.isEmpty, entry.transport.kind != .unix {
            messages.append("proxy without proxy-from=: any client can claim any address")
        }
        return messages
    }

    /// Told once per load, on the first `tcp` or `udp` line that listens on
    /// both families: OpenBSD's `tcp` is IPv4 only, and a file from there
    /// now listens on IPv6 too.
    static let bothFamiliesNote = "tcp and udp lines listen on IPv4 and IPv6 (one socket each; this is the first "
        + "such line); tcp4 and udp4 are IPv4 only"

    /// The first line whose `tcp` or `udp` (both families) gave it sockets
    /// of both; nil when none did (an IPv4 literal, or an IPv6 wildcard
    /// that yielded to a `tcp6` line).
    public static func firstLineOnBothFamilies(_ services: [Service]) -> Int? {
        services.lazy.filter { service in
            service.entry.transport.families == .both
                && service.endpoints.contains { $0.address.family == .inet }
                && service.endpoints.contains { $0.address.family == .inet6 }
        }.map(\.entry.line).min()
    }

    /// Why the handler's program cannot be run now, as far as stat(2) tells:
    /// a warning, not an error, since it may be installed later.
    static func programProblem(_ program: String, _ status: Result<FileStatus, SystemError>,
                               identity: Identity?) -> String? {
        let file: FileStatus
        switch status {
        case .success(let found): file = found
        case .failure(let error):
            return error.errno == ENOENT ? "program \(program) does not exist (yet)" : "program \(program): \(error)"
        }
        guard file.isRegularFile else { return "program \(program) is not a regular file" }
        let me = currentIdentity()
        let uid = identity?.uid ?? me.uid, gid = identity?.gid ?? me.gid
        guard file.executable(uid: uid, gid: gid, groups: identity?.groups ?? []) else {
            return "program \(program) is not executable by uid \(uid)"
        }
        return nil
    }
}
