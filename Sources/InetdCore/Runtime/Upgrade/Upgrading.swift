import Glibc

/// Where an upgrade (SIGUSR2, SPEC 5) stands. The new binary first runs
/// `--check` on the running configuration, in a child the loop does not
/// wait for; only when it exits 0 does inetd exec it.
enum UpgradePhase: Equatable {
    case idle
    /// The new binary's `--check` runs as `pid`; `killed` once it overran
    /// its bound (its exit is then only reaped).
    case checking(pid: pid_t, binary: String, killed: Bool)
}

/// Why an upgrade did not happen; each is logged as `upgrade_refused`
/// and the running image serves on.
enum UpgradeRefusal: CustomStringConvertible {
    /// The path inetd was started from could not be read at start.
    case noBinaryPath(SystemError)
    case checkDidNotStart(SpawnError)
    case checkFailed(ExitStatus)
    case checkOverran(milliseconds: Int64)
    case stopping

    var description: String {
        switch self {
        case .noBinaryPath(let error): "the binary's path is unknown (\(error))"
        case .checkDidNotStart(let error): "the new binary did not start: \(error)"
        case .checkFailed(let status): "the new binary's --check failed (\(status))"
        case .checkOverran(let ms): "the new binary's --check did not finish in \(ms) ms"
        case .stopping: "inetd is stopping"
        }
    }
}

extension Daemon {
    /// How long the new binary's `--check` may take: NSS look-ups of every
    /// user and group included.
    static let upgradeCheckBoundMilliseconds: Int64 = 10_000

    /// SIGUSR2: starts the new binary's `--check`, unless an upgrade is
    /// already under way (a second SIGUSR2 is logged and ignored).
    func beginUpgrade() {
        guard case .idle = upgrade else {
            log.warn("upgrade_ignored", ("reason", "an upgrade is in progress"))
            return
        }
        if shutdown.stopping { return refuseUpgrade(.stopping) }
        let binary: String
        switch executablePath {
        case .success(let path): binary = path
        case .failure(let error): return refuseUpgrade(.noBinaryPath(error))
        }
        // A child starts in /: a relative CONFIG is named from inetd's
        // working directory (the new image, exec'd in place, keeps it).
        var config = configPath
        if !config.hasPrefix("/"), let directory = try? CurrentProcess.workingDirectory() {
            config = directory + "/" + config
        }
        let check = PreparedProgram(path: binary, arguments: [binary, "--check", config],
                                    environment: HandlerEnvironment(CurrentProcess.environment()), identity: nil)
        // Its table and diagnostics are not read: stdout and stderr go to
        // /dev/null; the refusal says how to see them.
        var fds: (CInt, CInt, CInt) = (devNull.rawValue, devNull.rawValue, devNull.rawValue)
        let result = withUnsafeBytes(of: &fds) { raw in
            check.spawn(fds: raw.bindMemory(to: CInt.self)) { _ in }
        }
        switch result {
        case .failure(let error):
            refuseUpgrade(.checkDidNotStart(error))
        case .success(let pid):
            upgrade = .checking(pid: pid, binary: binary, killed: false)
            let now = monotonicMilliseconds()
            deadlines.schedule(.upgradeCheck, at: now + Self.upgradeCheckBoundMilliseconds)
            deadlines.scheduleIfUnset(.execBound, at: now + Self.execBoundMilliseconds)
            log.info("upgrade_checking", ("binary", binary), ("pid", "\(pid)"))
        }
    }

    /// The check's child did not reach exec (its binary is missing or
    /// cannot run). True when `pid` was that child.
    func upgradeCheckDidNotStart(_ pid: pid_t, _ error: SpawnError) -> Bool {
        guard case .checking(pid, _, let killed) = upgrade else { return false }
        upgrade = .idle
        deadlines.cancel(.upgradeCheck)
        if !killed { refuseUpgrade(.checkDidNotStart(error)) }
        return true
    }

    /// A reaped child that was the check: the upgrade goes on when it
    /// passed. True when `pid` was that child.
    func upgradeCheckExited(_ pid: pid_t, status: CInt) -> Bool {
        guard case .checking(pid, let binary, let killed) = upgrade else { return false }
        upgrade = .idle
        deadlines.cancel(.upgradeCheck)
        if killed { return true }
        let exit = ExitStatus(status)
        guard exit.isSuccess else {
            refuseUpgrade(.checkFailed(exit), binary: binary)
            return true
        }
        if shutdown.stopping {
            refuseUpgrade(.stopping)
        } else {
            replaceImage(with: binary)
        }
        return true
    }

    /// The check overran its bound: killed, and the upgrade refused now.
    func upgradeCheckOverran() {
        guard case .checking(let pid, let binary, false) = upgrade else { return }
        upgrade = .checking(pid: pid, binary: binary, killed: true)
        try? signalProcessGroup(SIGKILL, pid)
        refuseUpgrade(.checkOverran(milliseconds: Self.upgradeCheckBoundMilliseconds), binary: binary)
    }

    func refuseUpgrade(_ reason: UpgradeRefusal, binary: String? = nil) {
        var fields: [(String, String)] = [("reason", reason.description)]
        if let binary {
            fields.append(("action", "old image serving; run \(binary) --check \(configPath) to see why"))
        } else {
            fields.append(("action", "old image serving"))
        }
        log.write(.error, "upgrade_refused", fields)
    }
}
