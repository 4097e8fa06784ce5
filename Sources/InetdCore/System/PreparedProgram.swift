import Glibc
import _InetdSystem

/// A failed spawn: the set-up step and the errno the child (or fork) hit.
public struct SpawnError: Error, CustomStringConvertible {
    public var step: Int32
    public var errno: Int32

    public var stepName: String {
        switch UInt32(step) {
        case INETD_STEP_CLONE.rawValue: return "clone"
        case INETD_STEP_SIGNALS.rawValue: return "sigprocmask"
        case INETD_STEP_SETSID.rawValue: return "setsid"
        case INETD_STEP_CHDIR.rawValue: return "chdir"
        case INETD_STEP_DUP.rawValue: return "dup2"
        case INETD_STEP_SETGROUPS.rawValue: return "setgroups"
        case INETD_STEP_SETGID.rawValue: return "setgid"
        case INETD_STEP_SETUID.rawValue: return "setuid"
        case INETD_STEP_VERIFY.rawValue: return "setuid(0) after drop"
        case INETD_STEP_RLIMIT.rawValue: return "setrlimit"
        case INETD_STEP_CLOSE.rawValue: return "close_range"
        case INETD_STEP_EXEC.rawValue: return "execve"
        default: return "spawn"
        }
    }

    public var description: String { "\(stepName): \(errnoText(errno)) (errno \(errno))" }
}

/// A handler program made ready to exec once, at load: path, argv and
/// numeric ids as C data.
final class PreparedProgram {
    private let path: UnsafeMutablePointer<CChar>
    private let argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    private let argc: Int
    private let groups: UnsafeMutablePointer<gid_t>
    private let identity: Identity?
    private let environment: HandlerEnvironment

    init(path: String, arguments: [String], environment: HandlerEnvironment, identity: Identity?) {
        self.path = strdup(path)!
        argc = arguments.count
        argv = .allocate(capacity: argc + 1)
        for (i, arg) in arguments.enumerated() { argv[i] = strdup(arg) }
        argv[argc] = nil
        self.environment = environment
        self.identity = identity
        precondition(identity == nil || identity?.groups != nil, "supplementary groups not looked up")
        let ids = identity?.groups ?? []
        groups = .allocate(capacity: max(ids.count, 1))
        for (i, gid) in ids.enumerated() { groups[i] = gid }
    }

    deinit {
        free(path)
        for i in 0..<argc { free(argv[i]) }
        argv.deallocate()
        groups.deallocate()
    }

    /// How a spawn waits for its child.
    enum Wait {
        /// Until the child has exec'd or failed: a failure is the result.
        /// C equivalent: `inetd_spawn` (clone with CLONE_VFORK).
        case forExec
        /// Not at all: the child sets itself up and execs while the caller
        /// goes on, and a failure after clone comes later, from
        /// `nextLateFailure()`. C equivalent: `inetd_spawn_overlapped`.
        case overlapped
    }

    /// Starts the handler with `fds` as its descriptors 0, 1 and 2 and what
    /// `variables` writes added to its environment. Returns its pid.
    func spawn(fds: (CInt, CInt, CInt), wait: Wait = .forExec,
               variables: (inout VariableWriter) -> Void) -> Result<pid_t, SpawnError> {
        var fds = fds
        return withUnsafePointer(to: &fds) { tuple in
            tuple.withMemoryRebound(to: CInt.self, capacity: 3) {
                spawn(fds: UnsafeBufferPointer(start: $0, count: 3), wait: wait, variables: variables)
            }
        }
    }

    /// Starts the handler with `fds[i]` as its descriptor i (socket
    /// activation: 0, 1 and 2, then the sockets from 3 up).
    func spawn(fds: UnsafeBufferPointer<CInt>, wait: Wait = .forExec,
               variables: (inout VariableWriter) -> Void) -> Result<pid_t, SpawnError> {
        guard fds.count <= Int(INETD_SPAWN_MAX_FDS) else {
            return .failure(SpawnError(step: Int32(INETD_STEP_DUP.rawValue), errno: EMFILE))
        }
        var pid: pid_t = 0
        var step: CInt = 0
        let code = environment.with(variables) { envp, listenPID in
            var request = inetd_spawn_req(
                path: path, argv: argv, envp: envp, envp_shared: CInt(environment.sharedCount),
                fds: fds.baseAddress!, nfds: CInt(fds.count),
                change_identity: identity == nil ? 0 : 1, uid: identity?.uid ?? 0, gid: identity?.gid ?? 0,
                groups: groups, ngroups: CInt(identity?.groups?.count ?? 0),
                listen_pid_entry: listenPID?.entry, listen_pid_capacity: CInt(listenPID?.capacity ?? 0))
            switch wait {
            case .forExec: return inetd_spawn(&request, &pid, &step)
            case .overlapped: return inetd_spawn_overlapped(&request, &pid, &step)
            }
        }
        guard let code else { return .failure(SpawnError(step: Int32(INETD_STEP_NONE.rawValue), errno: E2BIG)) }
        return code == 0 ? .success(pid) : .failure(SpawnError(step: step, errno: code))
    }

    /// Waits until every overlapped child has exec'd (or failed): they may
    /// read the environment's shared strings until then. C equivalent:
    /// `inetd_spawn_settle`.
    static func settle() { inetd_spawn_settle() }

    /// An overlapped spawn whose child failed after clone returned: its pid
    /// and what failed. The child, which waited with its descriptors open
    /// (a client's connection among them), exits 127 once this returns.
    /// C equivalent: `inetd_spawn_next_failure`.
    static func nextLateFailure() -> (pid: pid_t, error: SpawnError)? {
        var pid: pid_t = 0
        var step: CInt = 0
        var error: CInt = 0
        guard inetd_spawn_next_failure(&pid, &step, &error) != 0 else { return nil }
        return (pid, SpawnError(step: step, errno: error))
    }
}
