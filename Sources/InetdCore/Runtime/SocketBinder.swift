import Glibc
import _InetdSystem

/// Opens, configures and binds the socket for one endpoint.
enum SocketBinder {
    static let defaultUnixMode: UInt32 = 0o666

    /// Raised where the kernel has no IPv6: the socket is skipped with a warning.
    static func ipv6Unavailable(_ error: SystemError) -> Bool {
        error.call == "socket" && (error.errno == EAFNOSUPPORT || error.errno == EPROTONOSUPPORT)
    }

    /// A bound socket, and for a unix one the file its bind made.
    struct Bound {
        let fd: FileDescriptor
        let file: UnixSocketFile?
    }

    static func open(_ endpoint: Endpoint, _ service: Service) throws(SystemError) -> Bound {
        let entry = service.entry
        // Non-blocking from birth: inetd polls every socket it holds, and a
        // handler that is given one gets it with O_NONBLOCK cleared.
        let fd = try Socket.open(domain: endpoint.address.domain,
                                 type: endpoint.socketTypeValue | CInt(SOCK_NONBLOCK.rawValue))
        var file: UnixSocketFile?
        do throws(SystemError) {
            if endpoint.kind != .unix {
                try Socket.setOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR, value: 1)
            }
            if endpoint.address.family == .inet6 {
                try Socket.setOption(fd, level: CInt(IPPROTO_IPV6), name: IPV6_V6ONLY, value: endpoint.ipv6Only ? 1 : 0)
            }
            if let n = entry.sendBuffer { try Socket.setOption(fd, level: SOL_SOCKET, name: SO_SNDBUF, value: CInt(n)) }
            if let n = entry.receiveBuffer { try Socket.setOption(fd, level: SOL_SOCKET, name: SO_RCVBUF, value: CInt(n)) }
            if endpoint.kind == .udp {
                // Before bind, so that every datagram carries the arrival
                // stamp the crash-loop rule compares (CrashLoop.swift), on
                // every UDP socket: a reload may give a built-in's socket to
                // a handler. Without it that rule compares length and source.
                try? Socket.stampArrivals(fd)
            }
            if endpoint.kind == .unix {
                file = try bindUnix(fd, endpoint, service)
            } else {
                try Socket.bind(fd, to: endpoint.address)
            }
            if endpoint.socketType != .dgram {
                try Socket.listen(fd, backlog: CInt(entry.options.backlog ?? Int(SOMAXCONN)))
            }
        } catch {
            fd.close()
            if let file { _ = try? file.remove(at: endpoint.address.host) }
            throw error
        }
        return Bound(fd: fd, file: file)
    }

    /// Binds a unix socket so that its path appears with its final mode and
    /// owner: bound under a umask giving the mode, at a temporary name when it
    /// needs chown, then linked into place. A stale socket at the path is
    /// replaced; anything else there is left alone and is an error. Returns
    /// the socket file made (device and inode), the only file at that path
    /// inetd will later chmod, chown or unlink.
    static func bindUnix(_ fd: FileDescriptor, _ endpoint: Endpoint, _ service: Service) throws(SystemError) -> UnixSocketFile {
        let path = endpoint.address.host
        guard let address = SocketAddress(unixPath: path) else { throw SystemError(call: "bind", errno: ENAMETOOLONG) }
        try removeStaleSocket(at: path, type: endpoint.socketTypeValue)
        let mode = service.entry.options.mode ?? defaultUnixMode
        let previous = CurrentProcess.setFileCreationMask(mode_t(~mode & 0o777))
        defer { CurrentProcess.setFileCreationMask(previous) }
        guard let owner = service.socketOwner else {
            try Socket.bind(fd, to: address)
            return try UnixSocketFile.record(at: path)
        }
        let temporary = try bindTemporary(fd, beside: path)
        let file = try UnixSocketFile.record(at: temporary)
        do throws(SystemError) {
            guard try file.setOwnerAndMode(at: temporary, owner: (owner.uid, owner.gid), mode: mode) == .ours else {
                throw SystemError(call: "chown", errno: EEXIST)
            }
            // link, not rename: it fails with EEXIST where rename would
            // replace whatever appeared at the path since the check above.
            do {
                try FileSystemCalls.link(temporary, path)
            } catch where error.errno == EEXIST {
                throw SystemError(call: "bind", errno: EADDRINUSE)
            }
        } catch {
            _ = try? file.remove(at: temporary)
            throw error
        }
        _ = try? file.remove(at: temporary)
        guard try file.find(at: path) == .ours else { throw SystemError(call: "link", errno: EEXIST) }
        return file
    }

    /// Binds `fd` at a temporary name beside `path` that nothing else holds:
    /// `PATH.inetd-PID-N`. bind(2) fails with EADDRINUSE where anything
    /// exists at a name (a leftover of a killed inetd with the same pid, a
    /// file planted there), and then the next N is tried: a name bound here
    /// is always a file this call just created, and nothing found at one is
    /// ever removed.
    static func bindTemporary(_ fd: FileDescriptor, beside path: String) throws(SystemError) -> String {
        let pid = CurrentProcess.id
        for attempt in 0..<100 {
            let name = "\(path).inetd-\(pid)-\(attempt)"
            guard let address = SocketAddress(unixPath: name) else { throw SystemError(call: "bind", errno: ENAMETOOLONG) }
            do {
                try Socket.bind(fd, to: address)
                return name
            } catch where error.errno == EADDRINUSE {
                continue
            }
        }
        throw SystemError(call: "bind", errno: EADDRINUSE)
    }

    /// On reload, a kept unix socket takes the new entry's mode and owner,
    /// if the path still holds the socket file inetd bound (`file`); what
    /// else is found there is returned, untouched.
    static func applyOwnership(_ endpoint: Endpoint, _ service: Service,
                               file: UnixSocketFile?) throws(SystemError) -> UnixSocketFile.Found {
        guard let file else { return .nothing }
        let mode = service.entry.options.mode ?? defaultUnixMode
        return try file.setOwnerAndMode(at: endpoint.address.host,
                                        owner: service.socketOwner.map { ($0.uid, $0.gid) }, mode: mode)
    }

    /// A socket file nobody accepts on is stale and removed; a live one or
    /// a non-socket is reported as in use.
    ///
    /// The probe is a non-blocking connect: a blocking one to a live
    /// listener whose queue is full would sleep in the kernel until it had
    /// room, and the whole daemon with it. EAGAIN (or EINPROGRESS) is such a
    /// listener: live. Only ECONNREFUSED means stale, and then the path is
    /// unlinked only if it still names the socket file that was probed.
    static func removeStaleSocket(at path: String, type: CInt) throws(SystemError) {
        guard let info = try FileSystemCalls.lstat(path) else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else { throw SystemError(call: "bind", errno: EEXIST) }
        guard let address = SocketAddress(unixPath: path) else { return }
        let probe = try Socket.open(domain: AF_UNIX, type: type | CInt(SOCK_NONBLOCK.rawValue))
        defer { probe.close() }
        do throws(SystemError) {
            try Socket.connect(probe, to: address)
        } catch where error.call == "connect" && error.errno == ECONNREFUSED {
            _ = try UnixSocketFile(info).remove(at: path)
            return
        } catch where error.call == "connect" {
            // EAGAIN, EINPROGRESS, EPROTOTYPE...: someone is there.
        }
        throw SystemError(call: "bind", errno: EADDRINUSE)
    }
}
