/// A configuration file read, parsed and resolved.
public struct LoadedConfiguration {
    public var services: [Service]
    public var diagnostics: [Diagnostic]
    /// Lines that carried an entry, valid or not.
    public var entryLines: Int

    public var errorCount: Int { diagnostics.filter { $0.severity == .error }.count }

    /// Reads `path` and turns it into services. Throws only when the file
    /// cannot be read; bad lines become diagnostics.
    public static func load(path: String, lookup: any NameLookup) throws(SystemError) -> LoadedConfiguration {
        let parsed = ConfigParser(file: path).parse(try readWholeFile(path))
        let resolved = ServiceResolver(file: path, lookup: CachedLookup(lookup)).resolve(parsed.entries)
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

    /// Valid lines this version parses but does not serve yet; nil when served.
    public static func unservedReason(_ entry: ServiceEntry) -> String? {
        if entry.options.listenFDs { return "listen-fds is not served yet: this line is skipped" }
        return nil
    }
}
