/// A configuration file read, parsed and resolved.
public struct LoadedConfiguration {
    public var services: [Service]
    public var diagnostics: [Diagnostic]
    /// Lines that carried an entry, valid or not.
    public var entryLines: Int

    public var errorCount: Int { diagnostics.filter { $0.severity == .error }.count }

    /// Reads `path` and turns it into services. Throws only when the file
    /// cannot be read; bad lines become diagnostics.
    /// With `lookUpGroups` false, supplementary groups are left for
    /// `lookUpGroups(_:lookup:)`.
    public static func load(path: String, lookup: any NameLookup,
                            lookUpGroups: Bool = true) throws(SystemError) -> LoadedConfiguration {
        let parsed = ConfigParser(file: path).parse(try readWholeFile(path))
        let resolver = ServiceResolver(file: path, lookup: CachedLookup(lookup), lookUpGroups: lookUpGroups)
        let resolved = resolver.resolve(parsed.entries)
        var diagnostics = parsed.diagnostics + resolved.diagnostics
        for service in resolved.services {
            if let reason = unservedReason(service.entry) {
                diagnostics.append(Diagnostic(file: path, line: service.entry.line, message: reason, severity: .warning))
            }
        }
        diagnostics.sort { $0.line < $1.line }
        return LoadedConfiguration(services: resolved.services, diagnostics: diagnostics,
                                   entryLines: parsed.entryLineCount)
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

    /// Valid lines this version parses but does not serve yet; nil when served.
    public static func unservedReason(_ entry: ServiceEntry) -> String? {
        if entry.options.listenFDs { return "listen-fds is not served yet: this line is skipped" }
        return nil
    }
}
