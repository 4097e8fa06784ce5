import Glibc

/// `inetd --check`: the normalized table on stdout, one `FILE:LINE: message`
/// per problem on stderr, then the summary, a comment that ends the table;
/// 0 when every line is valid, 1 otherwise.
public func runCheck(configPath: String) -> Int32 {
    let configuration: LoadedConfiguration
    do {
        let handlers = ExecLimits.current(environmentBytes: HandlerEnvironments.argumentBytes(of: CurrentProcess.environment()))
        configuration = try LoadedConfiguration.load(path: configPath, lookup: SystemLookup(), execLimits: handlers)
    } catch {
        // `FILE: message`, as the per-line `FILE:LINE: message` errors.
        writeStandardError("\(configPath): \(error)\n")
        return 1
    }
    writeStandardOutput(NormalizedTable.render(configuration.services, file: configPath))
    for diagnostic in configuration.diagnostics { writeStandardError("\(diagnostic)\n") }
    writeStandardOutput(NormalizedTable.summary(configuration.services, errors: configuration.errorCount,
                                                warnings: configuration.warningCount) + "\n")
    return configuration.errorCount == 0 ? 0 : 1
}
