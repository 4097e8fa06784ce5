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
        let bytes = try readWholeFile(path)
        let parsed = ConfigParser(file: path).parse(String(decoding: bytes, as: UTF8.self))
        let resolved = ServiceResolver(file: path, lookup: lookup).resolve(parsed.entries)
        let diagnostics = (parsed.diagnostics + resolved.diagnostics).sorted { $0.line < $1.line }
        return LoadedConfiguration(services: resolved.services, diagnostics: diagnostics,
                                   entryLines: parsed.entryLineCount)
    }
}
