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
        case INETD_STEP_CLOSE.rawValue: return "close_range"
        case INETD_STEP_EXEC.rawValue: return "execve"
        default: return "spawn"
        }
    }

    public var description: String { "\(stepName): \(errnoText(errno)) (errno \(errno))" }
}

/// inetd's environment as handlers inherit it: without NOTIFY_SOCKET and any
/// LISTEN_* (those were meant for inetd, not for its children).
public func inheritableEnvironment() -> [String] {
    var result: [String] = []
    guard var cursor = inetd_environ() else { return result }
    while let entry = cursor.pointee {
        let text = String(cString: entry)
        if !text.hasPrefix("NOTIFY_SOCKET="), !text.hasPrefix("LISTEN_") { result.append(text) }
        cursor += 1
    }
    return result
}

/// A handler program made ready to exec once, at load: path, argv, base
/// environment and numeric ids as C data. Spawning then only fills in the
/// per-connection variables.
final class PreparedProgram {
    private let path: UnsafeMutablePointer<CChar>
    private let argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    private let argc: Int
    private let envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    private let baseCount: Int
    private let groups: UnsafeMutablePointer<gid_t>
    private let identity: Identity?
    /// Per-connection variables are written here, never allocated per spawn.
    private let scratch: UnsafeMutablePointer<CChar>
    static let scratchCapacity = 1024
    static let extraSlots = 8

    init(path: String, arguments: [String], environment: [String], identity: Identity?) {
        self.path = strdup(path)!
        argc = arguments.count
        argv = .allocate(capacity: argc + 1)
        for (i, arg) in arguments.enumerated() { argv[i] = strdup(arg) }
        argv[argc] = nil
        baseCount = environment.count
        envp = .allocate(capacity: baseCount + Self.extraSlots + 1)
        for (i, variable) in environment.enumerated() { envp[i] = strdup(variable) }
        envp[baseCount] = nil
        self.identity = identity
        let ids = identity?.groups ?? []
        groups = .allocate(capacity: max(ids.count, 1))
        for (i, gid) in ids.enumerated() { groups[i] = gid }
        scratch = .allocate(capacity: Self.scratchCapacity)
    }

    deinit {
        free(path)
        for i in 0..<argc { free(argv[i]) }
        argv.deallocate()
        for i in 0..<baseCount { free(envp[i]) }
        envp.deallocate()
        groups.deallocate()
        scratch.deallocate()
    }

    /// Forks and execs the handler with `fds` as its descriptors 0, 1, 2...
    /// and `extra` added to its environment. Returns its pid once exec
    /// succeeded. C equivalent: `inetd_spawn` (see inetd_system.h).
    func spawn(fds: [CInt], extra: [(String, String)]) -> Result<pid_t, SpawnError> {
        precondition(extra.count <= Self.extraSlots && fds.count <= Int(INETD_SPAWN_MAX_FDS))
        var used = 0
        var slot = baseCount
        var fits = true
        for (name, value) in extra {
            let needed = name.utf8.count + 1 + value.utf8.count + 1
            guard used + needed <= Self.scratchCapacity else { fits = false; break }
            let start = scratch + used
            var at = start
            for byte in name.utf8 { at.pointee = CChar(bitPattern: byte); at += 1 }
            at.pointee = 0x3D  // '='
            at += 1
            for byte in value.utf8 { at.pointee = CChar(bitPattern: byte); at += 1 }
            at.pointee = 0
            envp[slot] = start
            slot += 1
            used += needed
        }
        envp[slot] = nil
        guard fits else { return .failure(SpawnError(step: Int32(INETD_STEP_NONE.rawValue), errno: E2BIG)) }

        var pid: pid_t = 0
        var step: CInt = 0
        let code = fds.withUnsafeBufferPointer { fdBuffer in
            var request = inetd_spawn_req(
                path: path, argv: argv, envp: envp, fds: fdBuffer.baseAddress!, nfds: CInt(fds.count),
                change_identity: identity == nil ? 0 : 1, uid: identity?.uid ?? 0, gid: identity?.gid ?? 0,
                groups: groups, ngroups: CInt(identity?.groups.count ?? 0),
                listen_pid_entry: nil, listen_pid_capacity: 0)
            return inetd_spawn(&request, &pid, &step)
        }
        envp[baseCount] = nil
        return code == 0 ? .success(pid) : .failure(SpawnError(step: step, errno: code))
    }
}
