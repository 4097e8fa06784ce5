import Glibc

/// Opens, configures and binds the socket for one endpoint.
enum SocketBinder {
    static let defaultUnixMode: UInt32 = 0o666

    /// Raised where the kernel has no IPv6: the socket is skipped with a warning.
    static func ipv6Unavailable(_ error: SystemError) -> Bool {
        error.call == "socket" && (error.errno == EAFNOSUPPORT || error.errno == EPROTONOSUPPORT)
    }

    static func open(_ endpoint: Endpoint, _ service: Service) throws(SystemError) -> FileDescriptor {
        let entry = service.entry
        // Non-blocking from birth: inetd polls every socket it holds, and a
        // handler that is given one gets it with O_NONBLOCK cleared.
        let fd = try Socket.open(domain: endpoint.address.domain,
                                 type: endpoint.socketTypeValue | CInt(SOCK_NONBLOCK.rawValue))
        do throws(SystemError) {
            if endpoint.kind != .unix {
                try Socket.setOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR, value: 1)
            }
            if endpoint.address.family == .inet6 {
                try Socket.setOption(fd, level: CInt(IPPROTO_IPV6), name: IPV6_V6ONLY, value: endpoint.ipv6Only ? 1 : 0)
            }
            if let n = entry.sendBuffer { try Socket.setOption(fd, level: SOL_SOCKET, name: SO_SNDBUF, value: CInt(n)) }
            if let n = entry.receiveBuffer { try Socket.setOption(fd, level: SOL_SOCKET, name: SO_RCVBUF, value: CInt(n)) }
            if endpoint.kind == .unix {
                try bindUnix(fd, endpoint, service)
            } else {
                try Socket.bind(fd, to: endpoint.address)
            }
            if endpoint.socketType != .dgram {
                try Socket.listen(fd, backlog: CInt(entry.options.backlog ?? Int(SOMAXCONN)))
            }
        } catch {
            fd.close()
            throw error
        }
        return fd
    }

    /// Binds a unix socket so that its path appears with its final mode and
    /// owner: bound under a umask giving the mode, at a temporary name when it
    /// needs chown, then renamed into place. A stale socket at the path is
    /// replaced; anything else there is left alone and is an error.
    static func bindUnix(_ fd: FileDescriptor, _ endpoint: Endpoint, _ service: Service) throws(SystemError) {
        let path = endpoint.address.host
        try removeStaleSocket(at: path, type: endpoint.socketTypeValue)
        let mode = service.entry.options.mode ?? defaultUnixMode
        let owner = service.socketOwner
        let temporary = owner == nil ? path : path + ".inetd-new"
        guard let bindAddress = SocketAddress(unixPath: temporary) else {
            throw SystemError(call: "bind", errno: ENAMETOOLONG)
        }
        if owner != nil { _ = unlink(temporary) }
        let previous = umask(mode_t(~mode & 0o777))
        defer { umask(previous) }
        try Socket.bind(fd, to: bindAddress)
        if let owner {
            do throws(SystemError) {
                _ = try syscall("chown") { chown(temporary, owner.uid, owner.gid) }
                _ = try syscall("rename") { rename(temporary, path) }
            } catch {
                _ = unlink(temporary)
                throw error
            }
        }
    }

    /// On reload, a kept unix socket takes the new entry's mode and owner.
    static func applyOwnership(_ endpoint: Endpoint, _ service: Service) throws(SystemError) {
        let path = endpoint.address.host
        if let owner = service.socketOwner { _ = try syscall("chown") { chown(path, owner.uid, owner.gid) } }
        let mode = service.entry.options.mode ?? defaultUnixMode
        _ = try syscall("chmod") { chmod(path, mode_t(mode)) }
    }

    /// A socket file nobody accepts on is stale and removed; a live one or
    /// a non-socket is reported as in use.
    static func removeStaleSocket(at path: String, type: CInt) throws(SystemError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else { throw SystemError(call: "bind", errno: EEXIST) }
        guard let address = SocketAddress(unixPath: path) else { return }
        let probe = try Socket.open(domain: AF_UNIX, type: type)
        defer { probe.close() }
        do throws(SystemError) {
            try Socket.connect(probe, to: address)
            throw SystemError(call: "bind", errno: EADDRINUSE)
        } catch where error.call == "connect" && error.errno == ECONNREFUSED {
            _ = try syscall("unlink") { unlink(path) }
        } catch where error.call == "connect" {
            throw SystemError(call: "bind", errno: EADDRINUSE)
        }
    }
}
