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

/// inetd's environment as handlers inherit it: without the names inetd sets
/// for a handler itself (PROTO, TCP*, UNIX*, LISTEN_*) and without
/// NOTIFY_SOCKET (meant for inetd, which reads it before this runs). An
/// inherited `TCPREMOTEIP=10.6.6.6` would otherwise come first in envp, and
/// getenv(3) would return it instead of the real peer.
public func inheritableEnvironment() -> [String] {
    var result: [String] = []
    guard var cursor = inetd_environ() else { return result }
    while let entry = cursor.pointee {
        let text = String(cString: entry)
        if !isSetForHandlers(text) { result.append(text) }
        cursor += 1
    }
    return result
}

/// True when `entry` (`NAME=value`, or a bare `NAME`) names a variable that
/// inetd sets, or withholds, for its handlers.
func isSetForHandlers(_ entry: String) -> Bool {
    let name = entry.firstIndex(of: "=").map { entry[..<$0] } ?? entry[...]
    return name == "PROTO" || name == "NOTIFY_SOCKET"
        || name.hasPrefix("TCP") || name.hasPrefix("UNIX") || name.hasPrefix("LISTEN_")
}

/// The environment every handler starts from, as C strings made once, and
/// the envp array spawns fill in. The daemon spawns from one thread, one
/// child at a time, so one array serves every service: per-connection
/// variables go into its spare slots and a scratch buffer, never into new
/// allocations.
final class HandlerEnvironment {
    private let envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    private let baseCount: Int
    private let scratch: UnsafeMutablePointer<UInt8>
    static let scratchCapacity = 1024
    static let extraSlots = 8

    init(_ variables: [String]) {
        baseCount = variables.count
        envp = .allocate(capacity: baseCount + Self.extraSlots + 1)
        for (i, variable) in variables.enumerated() { envp[i] = strdup(variable) }
        envp[baseCount] = nil
        scratch = .allocate(capacity: Self.scratchCapacity)
    }

    deinit {
        for i in 0..<baseCount { free(envp[i]) }
        envp.deallocate()
        scratch.deallocate()
    }

    /// Calls `body` with envp holding the base variables plus what `fill`
    /// writes; nil when that does not fit.
    func with<R>(_ fill: (inout VariableWriter) -> Void,
                 _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R? {
        var writer = VariableWriter(envp: envp, first: baseCount, slots: Self.extraSlots,
                                    scratch: scratch, capacity: Self.scratchCapacity)
        fill(&writer)
        defer { envp[baseCount] = nil }
        guard !writer.overflowed else { return nil }
        envp[writer.slot] = nil
        return body(envp)
    }
}

/// Writes `NAME=value` entries into the shared scratch buffer and envp
/// slots, formatting addresses and ports straight from `sockaddr` bytes.
struct VariableWriter {
    fileprivate let envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    fileprivate var slot: Int
    private let lastSlot: Int
    private let scratch: UnsafeMutablePointer<UInt8>
    private let capacity: Int
    private var used = 0
    fileprivate var overflowed = false

    fileprivate init(envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>, first: Int, slots: Int,
                     scratch: UnsafeMutablePointer<UInt8>, capacity: Int) {
        self.envp = envp
        slot = first
        lastSlot = first + slots
        self.scratch = scratch
        self.capacity = capacity
    }

    mutating func add(_ name: StaticString, _ value: StaticString) {
        guard let start = begin(name) else { return }
        append(value.utf8Start, value.utf8CodeUnitCount)
        finish(start)
    }

    /// `NAMEIP=...` and `NAMEPORT=...` from an IPv4 or IPv6 `sockaddr`; an
    /// IPv4-mapped IPv6 address is written as IPv4.
    mutating func add(address ipName: StaticString, port portName: StaticString, from raw: UnsafeRawBufferPointer) {
        guard raw.count >= MemoryLayout<sockaddr_in>.size else { return }
        let base = raw.baseAddress!
        if let start = begin(ipName) {
            let room = capacity - used
            let text = UnsafeMutableRawPointer(scratch + used).assumingMemoryBound(to: CChar.self)
            let ok: Bool
            if Self.isMappedIPv4(raw) {
                ok = inet_ntop(AF_INET, base + 20, text, socklen_t(room)) != nil
            } else if Self.isIPv6(raw) {
                ok = inet_ntop(AF_INET6, base + 8, text, socklen_t(room)) != nil
            } else {
                ok = inet_ntop(AF_INET, base + 4, text, socklen_t(room)) != nil
            }
            if ok { used += strlen(text) } else { overflowed = true }
            finish(start)
        }
        if let start = begin(portName) {
            var port = Int(UInt16(bigEndian: base.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
            var digits: (UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0)
            var count = 0
            withUnsafeMutableBytes(of: &digits) { d in
                repeat {
                    d[count] = UInt8(ascii: "0") + UInt8(port % 10)
                    port /= 10
                    count += 1
                } while port > 0
                for i in (0..<count).reversed() { append(byte: d[i]) }
            }
            finish(start)
        }
    }

    static func isIPv6(_ raw: UnsafeRawBufferPointer) -> Bool {
        raw.load(as: sa_family_t.self) == sa_family_t(AF_INET6)
    }

    static func isMappedIPv4(_ raw: UnsafeRawBufferPointer) -> Bool {
        guard isIPv6(raw), raw.count >= 24 else { return false }
        for i in 8..<18 where raw[i] != 0 { return false }
        return raw[18] == 0xFF && raw[19] == 0xFF
    }

    /// Writes `NAME=`; nil when no slot or room is left.
    private mutating func begin(_ name: StaticString) -> Int? {
        guard slot < lastSlot, used + name.utf8CodeUnitCount + 2 < capacity else {
            overflowed = true
            return nil
        }
        let start = used
        append(name.utf8Start, name.utf8CodeUnitCount)
        append(byte: UInt8(ascii: "="))
        return start
    }

    private mutating func append(_ bytes: UnsafePointer<UInt8>, _ count: Int) {
        guard used + count < capacity else {
            overflowed = true
            return
        }
        (scratch + used).update(from: bytes, count: count)
        used += count
    }

    private mutating func append(byte: UInt8) {
        guard used + 1 < capacity else {
            overflowed = true
            return
        }
        scratch[used] = byte
        used += 1
    }

    private mutating func finish(_ start: Int) {
        guard !overflowed else { return }
        scratch[used] = 0
        used += 1
        envp[slot] = UnsafeMutableRawPointer(scratch + start).assumingMemoryBound(to: CChar.self)
        slot += 1
    }
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

    /// Starts the handler with `fds` as its descriptors 0, 1 and 2 and what
    /// `variables` writes added to its environment. Returns its pid once
    /// exec succeeded. C equivalent: `inetd_spawn` (see inetd_system.h).
    func spawn(fds: (CInt, CInt, CInt), variables: (inout VariableWriter) -> Void) -> Result<pid_t, SpawnError> {
        var fds = fds
        var pid: pid_t = 0
        var step: CInt = 0
        let code = environment.with(variables) { envp in
            withUnsafePointer(to: &fds) { tuple in
                tuple.withMemoryRebound(to: CInt.self, capacity: 3) { fdList in
                    var request = inetd_spawn_req(
                        path: path, argv: argv, envp: envp, fds: fdList, nfds: 3,
                        change_identity: identity == nil ? 0 : 1, uid: identity?.uid ?? 0, gid: identity?.gid ?? 0,
                        groups: groups, ngroups: CInt(identity?.groups?.count ?? 0),
                        listen_pid_entry: nil, listen_pid_capacity: 0)
                    return inetd_spawn(&request, &pid, &step)
                }
            }
        }
        guard let code else { return .failure(SpawnError(step: Int32(INETD_STEP_NONE.rawValue), errno: E2BIG)) }
        return code == 0 ? .success(pid) : .failure(SpawnError(step: step, errno: code))
    }
}
