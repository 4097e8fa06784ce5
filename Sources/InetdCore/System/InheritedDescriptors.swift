import Glibc
import _InetdSystem

/// What the kernel says of one inherited socket: enough to tell which
/// endpoint of the configuration it is, if any (`AdoptionPlan`).
public struct SocketFacts: Equatable, Sendable {
    /// SO_DOMAIN, SO_TYPE and SO_PROTOCOL.
    public var domain: CInt
    public var type: CInt
    public var protocolNumber: CInt
    /// getsockname(2).
    public var address: SocketAddress
    /// SO_ACCEPTCONN: listen(2) was called on it.
    public var listening: Bool
    /// It has a peer (getpeername(2)): a connection, or a datagram socket
    /// connected to one address.
    public var connected: Bool
    /// IPV6_V6ONLY; false for other families.
    public var ipv6Only: Bool

    /// Asks the kernel about `fd`; nil when it is not a socket. C
    /// equivalent: `getsockopt(2)` (SO_DOMAIN, SO_TYPE, SO_PROTOCOL,
    /// SO_ACCEPTCONN, IPV6_V6ONLY), `getsockname(2)`, `getpeername(2)`.
    static func of(_ fd: FileDescriptor) -> SocketFacts? {
        do throws(SystemError) {
            let domain = try Socket.option(fd, level: SOL_SOCKET, name: SO_DOMAIN)
            var ipv6Only = false
            if domain == AF_INET6 { ipv6Only = try Socket.option(fd, level: CInt(IPPROTO_IPV6), name: IPV6_V6ONLY) != 0 }
            let listening = try Socket.option(fd, level: SOL_SOCKET, name: SO_ACCEPTCONN) != 0
            return SocketFacts(
                domain: domain,
                type: try Socket.option(fd, level: SOL_SOCKET, name: SO_TYPE),
                protocolNumber: try Socket.option(fd, level: SOL_SOCKET, name: SO_PROTOCOL),
                address: try Socket.localAddress(fd),
                listening: listening,
                // A listening socket has no peer: one call fewer a socket
                // when an upgrade passes a thousand.
                connected: listening ? false : Socket.hasPeer(fd),
                ipv6Only: ipv6Only)
        } catch {
            // ENOTSOCK, or a socket of a family getsockname cannot tell.
            return nil
        }
    }
}

/// One descriptor inetd was started with (sd_listen_fds(3)).
public struct InheritedSocket: Equatable, Sendable {
    public let fd: FileDescriptor
    /// Its LISTEN_FDNAMES name (`unknown` when none was given).
    public let name: String
    /// nil: not a socket.
    public let facts: SocketFacts?
}

/// The descriptors inetd was started with under sd_listen_fds(3)'s
/// protocol: by systemd's socket units, an fd holder, a wrapper, or a
/// previous inetd. Taken once, first thing at start, before inetd opens a
/// descriptor of its own; `--check` never takes them.
public struct InheritedDescriptors: Sendable {
    /// Each open descriptor of the range, close-on-exec by now.
    public private(set) var sockets: [InheritedSocket] = []
    /// The range LISTEN_FDS named, open or not: `--notify-fd` must lie outside.
    public private(set) var range: Range<CInt> = ListenFdsVariables.firstDescriptor..<ListenFdsVariables.firstDescriptor
    /// What was wrong with the variables or the descriptors, for the log.
    public private(set) var problems: [ListenFdsVariables.Problem] = []

    public init() {}

    /// Reads LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES, removes them from
    /// the environment whatever they say (no handler and no later look
    /// sees them; libsystemd's `unset_environment`), marks each descriptor
    /// they pass to this process close-on-exec (they come without it, so
    /// that they survive the exec that started inetd) and describes it. C
    /// equivalent: `getenv(3)`, `unsetenv(3)`, `fcntl(2)` F_GETFD and
    /// F_SETFD, and `SocketFacts.of`.
    public static func take() -> InheritedDescriptors {
        let values = ListenFdsVariables.variables.map { CurrentProcess.environmentValue($0) }
        for name in ListenFdsVariables.variables { CurrentProcess.removeEnvironmentValue(name) }
        // A descriptor past the hard limit cannot be open (nor one past
        // what the kernel allows at all): LISTEN_FDS=4000000000 costs no
        // four billion calls.
        let limit = (try? DescriptorLimit.current().hard) ?? 1 << 20
        var variables = ListenFdsVariables(pid: values[0], fds: values[1], names: values[2], ownPID: CurrentProcess.id,
                                           descriptorLimit: min(limit, 1 << 20))
        var taken = InheritedDescriptors()
        taken.range = variables.descriptors
        var closed: [CInt] = []
        for (fd, name) in zip(variables.descriptors.map(FileDescriptor.init(rawValue:)), variables.names) {
            guard fd.isOpen, (try? fd.setCloseOnExec()) != nil else {
                closed.append(fd.rawValue)
                continue
            }
            taken.sockets.append(InheritedSocket(fd: fd, name: name, facts: SocketFacts.of(fd)))
        }
        if !closed.isEmpty { variables.problems.append(.notOpen(closed)) }
        taken.problems = variables.problems
        return taken
    }
}
