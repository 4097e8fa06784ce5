/// Which warnings and notes the log has already told (SPEC 6, issue 18): a
/// reload repeats none of them for a line whose text is unchanged, wherever
/// the line moved in the file. Errors are logged at every load: their line
/// does not run, and `ready`/`reloaded` count them.
struct ShownDiagnostics {
    /// Severity, message and the text of the line each was told for.
    private var told: Set<String> = []

    /// The diagnostics of `configuration` to log, and how many were left out
    /// as already told. What this load found replaces what the last one
    /// found: a warning that goes away and comes back is told again.
    mutating func toLog(_ configuration: LoadedConfiguration) -> (diagnostics: [Diagnostic], repeated: Int) {
        var now = Set<String>()
        var fresh: [Diagnostic] = []
        var repeated = 0
        for (diagnostic, key) in zip(configuration.diagnostics, configuration.diagnosticKeys()) {
            guard let key else {
                fresh.append(diagnostic)
                continue
            }
            now.insert(key)
            if told.contains(key) { repeated += 1 } else { fresh.append(diagnostic) }
        }
        told = now
        return (fresh, repeated)
    }
}

extension LoadedConfiguration {
    /// For each diagnostic, what makes it the same across loads: nil for an
    /// error (always told), else its severity, message and the text of its
    /// line. The file is split once, only when there is something to key.
    func diagnosticKeys() -> [String?] {
        guard diagnostics.contains(where: { $0.severity != .error }) else {
            return Array(repeating: nil, count: diagnostics.count)
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return diagnostics.map { diagnostic in
            let label: String
            switch diagnostic.severity {
            case .error: return nil
            case .warning: label = "warning"
            case .note: label = "note"
            }
            let index = diagnostic.line - 1
            let line = lines.indices.contains(index) ? lines[index] : ""
            return "\(label)\u{0}\(diagnostic.message)\u{0}\(line)"
        }
    }
}
