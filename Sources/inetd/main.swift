// inetd: argument handling and exit codes; everything else is in InetdCore.
import InetdCore

ensureStandardDescriptors()

let invocation: Invocation
switch Invocation.parse(Array(CommandLine.arguments.dropFirst())) {
case .success(let parsed):
    if let problem = parsed.usageProblem {
        writeStandardError("inetd: \(problem)\n\(Invocation.usage)\n")
        CurrentProcess.exit(2)
    }
    invocation = parsed
case .failure(let error):
    writeStandardError("inetd: \(error)\n\(Invocation.usage)\n")
    CurrentProcess.exit(2)
}

switch invocation.action {
case .help:
    writeStandardOutput(Invocation.usage + "\n")
    CurrentProcess.exit(0)
case .version:
    writeStandardOutput(Invocation.version + "\n")
    CurrentProcess.exit(0)
case .check:
    CurrentProcess.exit(runCheck(configPath: invocation.configPath))
case .convert(let kind, let path):
    CurrentProcess.exit(runConvert(kind, path: path))
case .serve:
    // First, before inetd opens a descriptor of its own: the sockets it was
    // started with (LISTEN_FDS), close-on-exec from here on.
    let inherited = InheritedDescriptors.take()
    var notifyFD: FileDescriptor?
    if let raw = invocation.notifyFD, inherited.range.contains(raw) {
        writeStandardError("inetd: --notify-fd \(raw): one of the inherited descriptors "
                           + "\(inherited.range.lowerBound)-\(inherited.range.upperBound - 1) (LISTEN_FDS)\n\(Invocation.usage)\n")
        CurrentProcess.exit(2)
    }
    if let raw = invocation.notifyFD {
        guard let fd = adoptNotifyFD(raw) else {
            writeStandardError("inetd: --notify-fd \(raw): not an open descriptor\n")
            CurrentProcess.exit(2)
        }
        notifyFD = fd
    }
    do {
        let daemon = try Daemon(Daemon.Settings(configPath: invocation.configPath, verbose: invocation.verbose,
                                                notifyFD: notifyFD, keepEnvironment: invocation.keepEnvironment,
                                                inherited: inherited))
        CurrentProcess.exit(daemon.run())
    } catch {
        writeStandardError("level=error event=start_failed error=\"\(error)\"\n")
        CurrentProcess.exit(111)
    }
}
