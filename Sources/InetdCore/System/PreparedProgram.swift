import Glibc
import _InetdSystem

/// A step of starting a handler: in the parent (clone), or in the child
/// between its clone and its execve (inetd_spawn.c, in this order).
public enum SpawnStep: Sendable {
    case clone, signals, setsid, chdir, dup, setgroups, setgid, setuid, verify, rlimit, close, exec

    /// From the C side's INETD_STEP_*.
    init(_ raw: CInt) {
        switch UInt32(bitPattern: raw) {
        case INETD_STEP_SIGNALS.rawValue: self = .signals
        case INETD_STEP_SETSID.rawValue: self = .setsid
        case INETD_STEP_CHDIR.rawValue: self = .chdir
        case INETD_STEP_DUP.rawValue: self = .dup
        case INETD_STEP_SETGROUPS.rawValue: self = .setgroups
        case INETD_STEP_SETGID.rawValue: self = .setgid
        case INETD_STEP_SETUID.rawValue: self = .setuid
        case INETD_STEP_VERIFY.rawValue: self = .verify
        case INETD_STEP_RLIMIT.rawValue: self = .rlimit
        case INETD_STEP_CLOSE.rawValue: self = .close
        case INETD_STEP_EXEC.rawValue: self = .exec
        default: self = .clone
        }
    }

    /// The call the step makes, as logs name it.
    public var call: String {
        switch self {
        case .clone: return "clone"
        case .signals: return "sigprocmask"
        case .setsid: return "setsid"
        case .chdir: return "chdir"
        case .dup: return "dup2"
        case .setgroups: return "setgroups"
        case .setgid: return "setgid"
        case .setuid: return "setuid"
        case .verify: return "setuid(0) after drop"
        case .rlimit: return "setrlimit"
        case .close: return "close_range"
        case .exec: return "execve"
        }
    }
}

/// Why a handler did not start.
public enum SpawnError: Error, CustomStringConvertible {
    /// A step failed with this errno.
    case failed(SpawnStep, errno: Int32)
    /// The child had not exec'd this long after its clone: stopped (any
    /// process of the handler's uid may stop it once it has that uid) or
    /// stuck at the step, and killed.
    case noExec(SpawnStep, milliseconds: Int64)
    /// Every child slot is lent to a child still setting up: the caller
    /// waits out of its loop instead (`PreparedProgram.slotFree`).
    case noFreeSlot
    /// The per-connection variables do not fit the environment block.
    case environmentFull
    /// More descriptors than a child is handed (INETD_SPAWN_MAX_FDS).
    case tooManyDescriptors(Int)

    public var description: String {
        switch self {
        case .failed(let step, let errno): return "\(step.call): \(errnoText(errno)) (errno \(errno))"
        case .noExec(let step, let ms): return "\(step.call): no execve \(ms) ms after clone (stopped or stuck), killed"
        case .noFreeSlot: return "clone: every child slot is lent"
        case .environmentFull: return "environment: the handler's variables do not fit"
        case .tooManyDescriptors(let n): return "dup2: \(n) descriptors, at most \(INETD_SPAWN_MAX_FDS)"
        }
    }
}

/// A handler program made ready to exec once, at load: path, argv and
/// numeric ids as C data.
final class PreparedProgram {
    private let path: UnsafeMutablePointer<CChar>
    private let argv: CStringArray
    private let groups: UnsafeMutablePointer<gid_t>
    private let identity: Identity?
    private let environment: HandlerEnvironment

    init(path: String, arguments: [String], environment: HandlerEnvironment, identity: Identity?) {
        self.path = strdup(path)!
        argv = CStringArray(arguments)
        self.environment = environment
        self.identity = identity
        precondition(identity == nil || identity?.groups != nil, "supplementary groups not looked up")
        let ids = identity?.groups ?? []
        groups = .allocate(capacity: max(ids.count, 1))
        for (i, gid) in ids.enumerated() { groups[i] = gid }
    }

    deinit {
        free(path)
        argv.free()
        groups.deallocate()
    }

    /// Starts the handler with `fds[i]` as its descriptor i and what
    /// `variables` writes added to its environment, and returns its pid as
    /// soon as it is cloned: the child sets itself up and execs from a copy
    /// of the request while the caller goes on. A failure after this returns
    /// comes from `nextLateFailure()`, a child that does not exec in time
    /// from `nextOverdue(bound:)`. C equivalent: `inetd_spawn`.
    func spawn(fds: UnsafeBufferPointer<CInt>, variables: (inout VariableWriter) -> Void) -> Result<pid_t, SpawnError> {
        guard fds.count <= Int(INETD_SPAWN_MAX_FDS) else { return .failure(.tooManyDescriptors(fds.count)) }
        var pid: pid_t = 0
        var step: CInt = 0
        let code = environment.with(variables) { envp, listenPID in
            var request = inetd_spawn_req(
                path: path, argv: argv.pointers, envp: envp, envp_shared: CInt(environment.sharedCount),
                fds: fds.baseAddress!, nfds: CInt(fds.count),
                change_identity: identity == nil ? 0 : 1, uid: identity?.uid ?? 0, gid: identity?.gid ?? 0,
                groups: groups, ngroups: CInt(identity?.groups?.count ?? 0),
                listen_pid_entry: listenPID?.entry, listen_pid_capacity: CInt(listenPID?.capacity ?? 0))
            return inetd_spawn(&request, &pid, &step)
        }
        switch code {
        case nil: return .failure(.environmentFull)
        case 0: return .success(pid)
        case -1: return .failure(.noFreeSlot)
        case let errno?: return .failure(.failed(SpawnStep(step), errno: errno))
        }
    }

    /// True when a spawn will find a slot for its child. Slots come back
    /// when children exec or exit, between two spawns, never during one.
    /// C equivalent: `inetd_spawn_slot_free`.
    static var slotFree: Bool { inetd_spawn_slot_free() != 0 }

    /// Waits at most `microseconds` for the oldest child still setting up
    /// to exec or exit: true when a slot is free then. Bounded, because that
    /// child may be stopped. C equivalent: `inetd_spawn_wait_slot`.
    static func waitForSlot(microseconds: Int64) -> Bool { inetd_spawn_wait_slot(microseconds) != 0 }

    /// A child not exec'd `bound` ms after its clone, killed: its pid and
    /// the step it was at. Otherwise nil, and `next` is when the next child
    /// still setting up will be overdue (monotonic ms), if any.
    /// C equivalent: `inetd_spawn_next_overdue`.
    static func nextOverdue(bound: Int64, next: inout Int64?) -> (pid: pid_t, error: SpawnError)? {
        var pid: pid_t = 0
        var step: CInt = 0
        var nextMilliseconds: Int64 = -1
        if inetd_spawn_next_overdue(bound, &pid, &step, &nextMilliseconds) != 0 {
            return (pid, .noExec(SpawnStep(step), milliseconds: bound))
        }
        next = nextMilliseconds < 0 ? nil : nextMilliseconds
        return nil
    }

    /// Waits until every child has exec'd (or failed), killing those still
    /// setting up `bound` ms after their clone: they may read the
    /// environment's shared strings until then. C equivalent:
    /// `inetd_spawn_settle`.
    static func settle(bound: Int64) { inetd_spawn_settle(bound) }

    /// A spawn whose child failed after clone returned: its pid
    /// and what failed. The child, which waited with its descriptors open
    /// (a client's connection among them), exits 127 once this returns.
    /// C equivalent: `inetd_spawn_next_failure`.
    static func nextLateFailure() -> (pid: pid_t, error: SpawnError)? {
        var pid: pid_t = 0
        var step: CInt = 0
        var error: CInt = 0
        guard inetd_spawn_next_failure(&pid, &step, &error) != 0 else { return nil }
        return (pid, .failed(SpawnStep(step), errno: error))
    }
}
