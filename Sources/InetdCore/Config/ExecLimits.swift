/// What execve(2) accepts on Linux (fs/exec.c), as facts a load passes in:
/// a line whose handler could never be exec'd is an error at load, not an
/// E2BIG at every connection. Each string is at most MAX_ARG_STRLEN (the
/// parser refuses a longer argument: `ConfigParser.maxArgumentBytes`); and
/// the program path, every argument and environment string with its NUL,
/// and a pointer to each, fit in the argument space: a quarter of the stack
/// limit (RLIMIT_STACK, which a handler inherits from inetd), at most 6 MiB
/// (three quarters of the kernel's 8 MiB _STK_LIM) and at least 128 KiB
/// (ARG_MAX). Pure: the daemon and `--check` measure the space and the
/// environment (`ExecLimits.current` in System/); tests pass small numbers.
public struct ExecLimits: Equatable, Sendable {
    /// A pointer in argv or envp.
    public static let pointerBytes = 8
    /// The per-connection variables a spawn adds to the environment (PROTO,
    /// TCP*, UNIX*, LISTEN_FDS, LISTEN_PID): the reserved envp slots (12)
    /// and their text, at most 1 KiB (the longest set, an IPv6 TCP
    /// connection's five, is 165 bytes). LISTEN_FDNAMES is counted apart: it
    /// grows with the line's sockets and name.
    public static let connectionVariablesBytes = 1024 + 12 * pointerBytes

    /// Bytes of strings and pointers execve may take in all.
    public var argumentSpace: Int
    /// What the environment every handler starts from takes of it: each
    /// string with its NUL, and a pointer each.
    public var environmentBytes: Int

    public init(argumentSpace: Int, environmentBytes: Int) {
        self.argumentSpace = argumentSpace
        self.environmentBytes = environmentBytes
    }

    /// What `variables` (`NAME=value` each) take of the argument space.
    public static func environmentBytes(_ variables: [String]) -> Int {
        variables.reduce(0) { $0 + $1.utf8.count + 1 + pointerBytes }
    }

    /// No limit: for callers that check no argument vector.
    public static let unlimited = ExecLimits(argumentSpace: .max, environmentBytes: 0)

    /// The argument space the kernel gives a process whose stack limit
    /// yields `quarterOfStackLimit` (sysconf(_SC_ARG_MAX) on glibc):
    /// clamped between ARG_MAX and three quarters of _STK_LIM.
    public static func argumentSpace(quarterOfStackLimit: Int) -> Int {
        min(max(quarterOfStackLimit, 128 << 10), 6 << 20)
    }

    /// Why `entry`'s handler could not be exec'd with `sockets` sockets
    /// (LISTEN_FDNAMES names each); nil when it can, or runs no program.
    public func problem(_ entry: ServiceEntry, sockets: Int) -> String? {
        guard case .path(let path) = entry.program else { return nil }
        let argumentBytes = entry.arguments.reduce(0) { $0 + $1.utf8.count + 1 + Self.pointerBytes }
        var names = 0
        if entry.options.listenFDs {
            let name = entry.options.name ?? (entry.wait || entry.socketType == .dgram ? entry.service : "connection")
            names = "LISTEN_FDNAMES=".utf8.count + sockets * (min(name.utf8.count, 255) + 1)
        }
        // argv's and envp's NULL ends, and the path exec copies first.
        // `environmentBytes` is inetd's whole environment: what `-E` passes,
        // and more than the handler's own variables without it; `env=` adds.
        let rest = environmentBytes + Self.environmentBytes(entry.options.setEnvironment) + Self.connectionVariablesBytes
            + names + 2 * Self.pointerBytes + path.utf8.count + 1
        guard argumentBytes + rest > argumentSpace else { return nil }
        return "argv takes \(argumentBytes) bytes and the handler's environment \(rest): more than the \(argumentSpace) "
            + "exec takes (a quarter of the stack limit); every spawn would fail with E2BIG"
    }
}
