import Glibc
import _InetdSystem

/// Why a socket could not be bound.
enum BindFailure: Error, CustomStringConvertible {
    case system(SystemError)
    /// A unix socket's directory (or a parent) that inetd will not use
    /// (`SocketDirectoryRule`): a symlink, another user's, or writable by
    /// others. The load refuses such a line; this is a directory changed
    /// since, found at a bind or at its retry.
    case unsafeDirectory(String)

    var description: String {
        switch self {
        case .system(let error): "\(error)"
        case .unsafeDirectory(let problem): problem
        }
    }
}

/// Opens, configures and binds the socket for one endpoint.
enum SocketBinder {
    static let defaultUnixMode: UInt32 = 0o666

    /// Raised where the kernel has no IPv6: the socket is skipped with a warning.
    static func ipv6Unavailable(_ error: BindFailure) -> Bool {
        guard case .system(let error) = error else { return false }
        return error.call == "socket" && (error.errno == EAFNOSUPPORT || error.errno == EPROTONOSUPPORT)
    }

    /// A bound socket, and for a unix one the file its bind made (with the
    /// directory it was made in, held open: the caller closes it).
    struct Bound {
        let fd: FileDescriptor
        let file: UnixSocketFile?
    }

    static func open(_ endpoint: Endpoint, _ service: Service) throws(BindFailure) -> Bound {
        let entry = service.entry
        var directory: SocketDirectory?
        var path: UnixSocketPath?
        if endpoint.kind == .unix {
            guard let parsed = UnixSocketPath(endpoint.address.host) else { throw .system(SystemError(call: "bind", errno: EINVAL)) }
            path = parsed
            directory = try openDirectory(parsed)
        }
        let fd: FileDescriptor
        do {
            // Non-blocking from birth: inetd polls every socket it holds, and a
            // handler that is given one gets it with O_NONBLOCK cleared.
            fd = try Socket.open(domain: endpoint.address.domain,
                                 type: endpoint.socketTypeValue | CInt(SOCK_NONBLOCK.rawValue))
        } catch {
            directory?.close()
            throw .system(error)
        }
        var file: UnixSocketFile?
        do throws(SystemError) {
            if endpoint.kind != .unix {
                try Socket.setOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR, value: 1)
            }
            if endpoint.address.family == .inet6 {
                try Socket.setOption(fd, level: CInt(IPPROTO_IPV6), name: IPV6_V6ONLY, value: endpoint.ipv6Only ? 1 : 0)
            }
            try setBuffers(fd, entry)
            if endpoint.kind == .udp {
                // Before bind, so that every datagram carries the arrival
                // stamp the crash-loop rule compares (CrashLoop.swift), on
                // every UDP socket: a reload may give a built-in's socket to
                // a handler. Without it that rule compares length and source.
                try? Socket.stampArrivals(fd)
            }
            if let directory, let path {
                file = try bindUnix(fd, path, in: directory, endpoint, service)
            } else {
                try Socket.bind(fd, to: endpoint.address)
            }
            try listen(fd, endpoint, entry)
        } catch {
            fd.close()
            if let file { _ = try? file.remove() }
            directory?.close()
            throw .system(error)
        }
        return Bound(fd: fd, file: file)
    }

    /// Sets up an inherited socket that serves `endpoint` as `open` sets up
    /// its own: non-blocking (on the open file description, which a holder
    /// shares), the line's buffers, arrival stamps for UDP, and the line's
    /// backlog (listen(2) again on a listening socket changes the backlog
    /// and keeps the connections queued). What only binding sets is left
    /// as the holder made it: SO_REUSEADDR, IPV6_V6ONLY (matched, and fixed
    /// at bind), a unix socket's mode and owner.
    static func adopt(_ fd: FileDescriptor, _ endpoint: Endpoint, _ service: Service) throws(SystemError) {
        try fd.setNonBlocking(true)
        try setBuffers(fd, service.entry)
        if endpoint.kind == .udp { try? Socket.stampArrivals(fd) }
        try listen(fd, endpoint, service.entry)
    }

    /// The line's `sndbuf=` and `rcvbuf=`, where it gives them.
    static func setBuffers(_ fd: FileDescriptor, _ entry: ServiceEntry) throws(SystemError) {
        if let n = entry.sendBuffer { try Socket.setOption(fd, level: SOL_SOCKET, name: SO_SNDBUF, value: CInt(n)) }
        if let n = entry.receiveBuffer { try Socket.setOption(fd, level: SOL_SOCKET, name: SO_RCVBUF, value: CInt(n)) }
    }

    /// listen(2) with the line's backlog, on a socket that takes connections.
    static func listen(_ fd: FileDescriptor, _ endpoint: Endpoint, _ entry: ServiceEntry) throws(SystemError) {
        if endpoint.socketType != .dgram {
            try Socket.listen(fd, backlog: CInt(entry.options.backlog ?? Int(SOMAXCONN)))
        }
    }

    /// The socket's directory, opened without following a symlink and
    /// judged on the way (`SocketDirectoryRule`), at every bind: the load
    /// judged it too, but a retry may come minutes later.
    static func openDirectory(_ path: UnixSocketPath) throws(BindFailure) -> SocketDirectory {
        let inetdUID = currentIdentity().uid
        var steps: [DirectoryStep] = []
        let directory: SocketDirectory
        do {
            directory = try SocketDirectory.open(path, steps: &steps)
        } catch {
            if let problem = SocketDirectoryRule.problem(steps, inetdUID: inetdUID) { throw .unsafeDirectory(problem) }
            throw .system(error)
        }
        if let problem = SocketDirectoryRule.problem(steps, inetdUID: inetdUID) {
            directory.close()
            throw .unsafeDirectory(problem)
        }
        return directory
    }

    /// Binds a unix socket at `path`, whose directory is `directory`, so
    /// that it appears with its final mode and owner: bound under a umask
    /// giving the mode, at a temporary name when it needs chown, then linked
    /// into place. A stale socket there is replaced; anything else is left
    /// alone and is an error. Returns the socket file made (device and
    /// inode, found by its name in `directory`), the only file there inetd
    /// will later chmod, chown or unlink.
    ///
    /// bind(2) takes a path, and Linux has no bindat. The path bound is the
    /// configured one, not /proc/self/fd/N/NAME (which the kernel would
    /// resolve through the directory's descriptor), because the path given
    /// to bind becomes the socket's address: what getsockname tells a
    /// handler and getpeername a client, what sd_is_socket_unix(3) and
    /// programs that match inherited sockets to their configuration compare,
    /// what ss(8) shows. A /proc path there breaks them. (A short-lived
    /// fchdir and a relative bind would change the working directory of the
    /// whole process, and give a relative address.) The bind runs right
    /// after the walk that opened and judged every directory on that path
    /// (`SocketDirectoryRule`): none is a symlink, and none can be renamed,
    /// replaced or made writable by anyone but root and inetd's user, so
    /// the path still leads to the directory held. The same holds for the
    /// stale-socket probe's connect.
    static func bindUnix(_ fd: FileDescriptor, _ path: UnixSocketPath, in directory: SocketDirectory,
                         _ endpoint: Endpoint, _ service: Service) throws(SystemError) -> UnixSocketFile {
        guard let address = SocketAddress(unixPath: path.path) else { throw SystemError(call: "bind", errno: ENAMETOOLONG) }
        try removeStaleSocket(path, in: directory, type: endpoint.socketTypeValue)
        let mode = service.entry.options.mode ?? defaultUnixMode
        let previous = CurrentProcess.setFileCreationMask(mode_t(~mode & 0o777))
        defer { CurrentProcess.setFileCreationMask(previous) }
        guard let owner = service.socketOwner else {
            try Socket.bind(fd, to: address)
            return try UnixSocketFile.record(path.name, in: directory)
        }
        let temporary = try bindTemporary(fd, beside: path)
        let file = try UnixSocketFile.record(temporary, in: directory)
        do throws(SystemError) {
            guard try file.setOwnerAndMode(owner: (owner.uid, owner.gid), mode: mode) == .ours else {
                throw SystemError(call: "chown", errno: EEXIST)
            }
            // link, not rename: it fails with EEXIST where rename would
            // replace whatever appeared at the name since the check above.
            do {
                try FileSystemCalls.linkEntry(temporary, to: path.name, in: directory.fd)
            } catch where error.errno == EEXIST {
                throw SystemError(call: "bind", errno: EADDRINUSE)
            }
        } catch {
            _ = try? file.remove()
            throw error
        }
        _ = try? file.remove()
        let linked = file.named(path.name)
        guard try linked.find() == .ours else { throw SystemError(call: "linkat", errno: EEXIST) }
        return linked
    }

    /// Binds `fd` at a temporary name beside `path` that nothing else holds:
    /// `PATH.inetd-PID-N`; returns its name in the directory. bind(2) fails with EADDRINUSE where anything
    /// exists at a name (a leftover of a killed inetd with the same pid, a
    /// file planted there), and then the next N is tried: a name bound here
    /// is always a file this call just created, and nothing found at one is
    /// ever removed.
    static func bindTemporary(_ fd: FileDescriptor, beside path: UnixSocketPath) throws(SystemError) -> String {
        let pid = CurrentProcess.id
        for attempt in 0..<100 {
            let suffix = ".inetd-\(pid)-\(attempt)"
            guard let address = SocketAddress(unixPath: path.path + suffix) else { throw SystemError(call: "bind", errno: ENAMETOOLONG) }
            do {
                try Socket.bind(fd, to: address)
                return path.name + suffix
            } catch where error.errno == EADDRINUSE {
                continue
            }
        }
        throw SystemError(call: "bind", errno: EADDRINUSE)
    }

    /// On reload, a kept unix socket takes the new entry's mode and owner,
    /// if its name still holds the socket file inetd bound (`file`); what
    /// else is found there is returned, untouched.
    static func applyOwnership(_ service: Service, file: UnixSocketFile?) throws(SystemError) -> UnixSocketFile.Found {
        guard let file else { return .nothing }
        let mode = service.entry.options.mode ?? defaultUnixMode
        return try file.setOwnerAndMode(owner: service.socketOwner.map { ($0.uid, $0.gid) }, mode: mode)
    }

    /// A socket file nobody accepts on is stale and removed; a live one or
    /// a non-socket is reported as in use.
    ///
    /// The probe is a non-blocking connect: a blocking one to a live
    /// listener whose queue is full would sleep in the kernel until it had
    /// room, and the whole daemon with it. EAGAIN (or EINPROGRESS) is such a
    /// listener: live. Only ECONNREFUSED means stale, and then the name is
    /// unlinked only if it still holds the socket file that was probed.
    static func removeStaleSocket(_ path: UnixSocketPath, in directory: SocketDirectory, type: CInt) throws(SystemError) {
        guard let info = try FileSystemCalls.statEntry(path.name, in: directory.fd) else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else { throw SystemError(call: "bind", errno: EEXIST) }
        guard let address = SocketAddress(unixPath: path.path) else { return }
        let probe = try Socket.open(domain: AF_UNIX, type: type | CInt(SOCK_NONBLOCK.rawValue))
        defer { probe.close() }
        do throws(SystemError) {
            try Socket.connect(probe, to: address)
        } catch where error.call == "connect" && error.errno == ECONNREFUSED {
            _ = try UnixSocketFile(info, path.name, in: directory).remove()
            return
        } catch where error.call == "connect" {
            // EAGAIN, EINPROGRESS, EPROTOTYPE...: someone is there.
        }
        throw SystemError(call: "bind", errno: EADDRINUSE)
    }
}
