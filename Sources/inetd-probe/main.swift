// inetd-probe: the handler the end-to-end tests spawn. It reports, as
// `key=value` lines, everything a handler inherits from inetd (descriptors,
// ids, groups, session, cwd, umask, signal mask and dispositions,
// environment, argv), then behaves as argv[1] says:
//
//   report            write the report to fd 1 and exit 0 (the default)
//   hold              write the report, then wait for the peer to close
//   exit N            exit N at once, reporting nothing
//   wait-stream [N]   fd 0 is a listener: accept N connections (1), report on
//                     each, then exit 0: a worker that serves N clients
//   dgram             fd 0 is a datagram socket: answer one datagram with the report
//                     and cmsg_bytes, the control messages recvmsg gave unasked
//   listen-fds [N]    sd_listen_fds(3): exit 4 unless LISTEN_PID is this
//                     process; then, of fds 3 .. 3+LISTEN_FDS-1, write the
//                     report to each connected stream socket (nowait), and
//                     serve N clients (1) on the listeners and bound
//                     datagram sockets (wait): the report to each accepted
//                     connection, or as the answer to each datagram. Never
//                     writes to fd 1, which is inetd's stderr in this mode.
import Glibc

func statusField(_ name: String) -> String {
    guard let file = fopen("/proc/self/status", "r") else { return "?" }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 512)
    while fgets(&line, Int32(line.count), file) != nil {
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if text.hasPrefix(name + ":") {
            return String(text.dropFirst(name.count + 1).drop { $0 == " " || $0 == "\t" }.prefix { $0 != "\n" })
        }
    }
    return "?"
}

/// Open descriptors, read before the probe opens anything of its own.
func openDescriptors() -> [CInt] {
    var found: [CInt] = []
    for fd: CInt in 0..<1024 where fcntl(fd, F_GETFD) != -1 { found.append(fd) }
    return found
}

func describe(_ fd: CInt) -> String {
    var target = [CChar](repeating: 0, count: 256)
    let n = readlink("/proc/self/fd/\(fd)", &target, target.count - 1)
    let link = n > 0 ? String(decoding: target.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
    let flags = fcntl(fd, F_GETFL)
    let cloexec = fcntl(fd, F_GETFD) & FD_CLOEXEC != 0
    var type: CInt = 0
    var len = socklen_t(MemoryLayout<CInt>.size)
    let sockType = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 ? "\(type)" : "-"
    var listening: CInt = 0
    len = socklen_t(MemoryLayout<CInt>.size)
    let accepting = getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 ? "\(listening)" : "-"
    return "\(link) nonblock=\(flags & O_NONBLOCK != 0 ? 1 : 0) cloexec=\(cloexec ? 1 : 0) socktype=\(sockType) listening=\(accepting)"
}

/// `inet 127.0.0.1:7007`, `inet6 [::1]:7007`, `unix /path`: a socket's
/// family and address, from `getsockname` or `getpeername`; nil for a
/// descriptor that is not a socket.
func socketAddress(_ fd: CInt, peer: Bool = false) -> String? {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let ok = withUnsafeMutablePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            (peer ? getpeername(fd, $0, &length) : getsockname(fd, $0, &length)) == 0
        }
    }
    guard ok else { return nil }
    return withUnsafeBytes(of: &storage) { raw -> String in
        var text = [CChar](repeating: 0, count: 64)
        func host() -> String { String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        let port = { Int(UInt16(bigEndian: raw.loadUnaligned(fromByteOffset: 2, as: UInt16.self))) }
        switch CInt(raw.load(as: sa_family_t.self)) {
        case AF_INET:
            inet_ntop(AF_INET, raw.baseAddress! + 4, &text, socklen_t(text.count))
            return "inet \(host()):\(port())"
        case AF_INET6:
            inet_ntop(AF_INET6, raw.baseAddress! + 8, &text, socklen_t(text.count))
            return "inet6 [\(host())]:\(port())"
        case AF_UNIX:
            let path = raw[2..<Int(length)].prefix { $0 != 0 }
            return "unix " + String(decoding: path, as: UTF8.self)
        case let family:
            return "family\(family)"
        }
    }
}

func socketOption(_ fd: CInt, _ option: CInt) -> CInt? {
    var value: CInt = 0
    var len = socklen_t(MemoryLayout<CInt>.size)
    return getsockopt(fd, SOL_SOCKET, option, &value, &len) == 0 ? value : nil
}

/// The report; `extra` lines go just before `end`.
func report(fds: [CInt], extra: [String] = []) -> String {
    var lines: [String] = []
    lines.append("pid=\(getpid())")
    lines.append("ppid=\(getppid())")
    lines.append("sid=\(getsid(0))")
    lines.append("pgid=\(getpgid(0))")
    lines.append("uid=\(getuid())")
    lines.append("euid=\(geteuid())")
    lines.append("gid=\(getgid())")
    lines.append("egid=\(getegid())")
    var groups = [gid_t](repeating: 0, count: 256)
    let count = getgroups(Int32(groups.count), &groups)
    lines.append("groups=\(groups.prefix(Int(max(count, 0))).map(String.init).joined(separator: ","))")
    var cwd = [CChar](repeating: 0, count: 4096)
    let cwdText = getcwd(&cwd, cwd.count) != nil
        ? String(decoding: cwd.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
    lines.append("cwd=\(cwdText)")
    lines.append("umask=\(statusField("Umask"))")
    lines.append("sigblk=\(statusField("SigBlk"))")
    lines.append("sigign=\(statusField("SigIgn"))")
    var nofile = rlimit()
    getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &nofile)
    lines.append("nofile=\(nofile.rlim_cur)/\(nofile.rlim_max)")
    lines.append("fds=\(fds.map(String.init).joined(separator: ","))")
    for fd in fds { lines.append("fd.\(fd)=\(describe(fd))") }
    for fd in fds { if let address = socketAddress(fd) { lines.append("sock.\(fd)=\(address)") } }
    for (i, arg) in CommandLine.arguments.enumerated() { lines.append("argv.\(i)=\(arg)") }
    var cursor = environ
    while let entry = cursor.pointee {
        lines.append("env=" + String(cString: entry))
        cursor += 1
    }
    lines += extra
    lines.append("end")
    return lines.joined(separator: "\n") + "\n"
}

func writeAll(_ fd: CInt, _ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n <= 0 { return }
        offset += n
    }
}

let fds = openDescriptors()
let mode = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "report"
switch mode {
case "exit":
    exit(Int32(CommandLine.arguments.count > 2 ? CommandLine.arguments[2] : "0") ?? 0)
case "hold":
    writeAll(1, report(fds: fds))
    var buffer = [UInt8](repeating: 0, count: 4096)
    while read(0, &buffer, buffer.count) > 0 {}
case "wait-stream":
    let text = report(fds: fds)
    let count = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2]) ?? 1 : 1
    for _ in 0..<count {
        let connection = accept(0, nil, nil)
        guard connection >= 0 else { exit(3) }
        writeAll(connection, text)
        close(connection)
    }
case "dgram":
    let text = report(fds: fds)
    var buffer = [UInt8](repeating: 0, count: 65536)
    var peer = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    // recvmsg with room for control messages, as a handler that asks for
    // some (IP_PKTINFO...) reads: `cmsgs` counts those it got unasked.
    var control = [UInt64](repeating: 0, count: 64)
    var controlLength = 0
    let got = buffer.withUnsafeMutableBytes { data in
        control.withUnsafeMutableBytes { controlBytes in
            withUnsafeMutableBytes(of: &peer) { name in
                var vector = iovec(iov_base: data.baseAddress, iov_len: data.count)
                return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                    var message = msghdr(msg_name: name.baseAddress, msg_namelen: length, msg_iov: vectorPointer, msg_iovlen: 1,
                                         msg_control: controlBytes.baseAddress, msg_controllen: controlBytes.count, msg_flags: 0)
                    let n = recvmsg(0, &message, 0)
                    length = message.msg_namelen
                    controlLength = message.msg_controllen
                    return n
                }
            }
        }
    }
    guard got >= 0 else { exit(3) }
    let reply = text + "cmsg_bytes=\(controlLength)\n" + "datagram=" + String(decoding: buffer.prefix(got), as: UTF8.self) + "\n"
    let bytes = Array(reply.utf8)
    _ = withUnsafePointer(to: &peer) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(0, bytes, bytes.count, 0, $0, length) }
    }
case "listen-fds":
    serveListenFDs(fds: fds)
case "shut-down":
    // A wait handler that shuts down the socket it was given, and exits 0.
    exit(shutdown(0, CInt(SHUT_RDWR)) == 0 ? 0 : 3)
case "signal-children":
    // `signal-children SIGNAL UID GID PARENT`: as UID, signals every child
    // of PARENT (its /proc children list), over and over: the attacker with
    // a shell as a line's user, aiming at inetd's children. The kernel lets
    // the signal through once a child has that uid, from its setuid on.
    //
    // `signal-children SIGNAL 0 0 PARENT before-exec`, as root: only the
    // children that have not exec'd yet (their name is still the parent's),
    // at any step between clone and execve: a child stuck there for
    // whatever reason.
    let numbers = CommandLine.arguments.dropFirst(2).prefix(4).compactMap { UInt32($0) }
    guard numbers.count == 4, setgroups(0, nil) == 0, setgid(numbers[2]) == 0, setuid(numbers[1]) == 0 else { exit(2) }
    let beforeExec = CommandLine.arguments.count > 6
    func readFile(_ path: String, into buffer: inout [UInt8]) -> ArraySlice<UInt8>? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let n = read(fd, &buffer, buffer.count)
        return n >= 0 ? buffer.prefix(n) : nil
    }
    var buffer = [UInt8](repeating: 0, count: 65536)
    var name = [UInt8](repeating: 0, count: 64)
    guard let parentName = readFile("/proc/\(numbers[3])/comm", into: &name).map(Array.init) else { exit(0) }
    while true {
        guard let list = readFile("/proc/\(numbers[3])/task/\(numbers[3])/children", into: &buffer) else { exit(0) }
        var pid: pid_t = 0
        for byte in list {
            if byte >= 0x30 && byte <= 0x39 { pid = pid * 10 + pid_t(byte - 0x30); continue }
            if pid > 0, !beforeExec || readFile("/proc/\(pid)/comm", into: &name).map(Array.init) == parentName {
                _ = kill(pid, CInt(numbers[0]))
            }
            pid = 0
        }
    }
default:
    writeAll(1, report(fds: fds))
}
exit(0)

/// `listen-fds [N]`: what a program written to sd_listen_fds(3) does.
func serveListenFDs(fds: [CInt]) {
    let listenPID = getenv("LISTEN_PID").map { String(cString: $0) }
    guard listenPID == "\(getpid())" else {
        writeAll(2, "inetd-probe: LISTEN_PID=\(listenPID ?? "(unset)") is not my pid \(getpid())\n")
        exit(4)
    }
    let count = getenv("LISTEN_FDS").flatMap { Int(String(cString: $0)) } ?? 0
    let wanted = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2]) ?? 1 : 1
    var waiting: [CInt] = []
    for fd in CInt(3)..<CInt(3 + count) {
        guard let type = socketOption(fd, SO_TYPE) else { continue }
        if type == CInt(SOCK_DGRAM.rawValue) || socketOption(fd, SO_ACCEPTCONN) == 1 {
            waiting.append(fd)
        } else {
            // nowait,listen-fds: the connection itself.
            writeAll(fd, report(fds: fds, extra: ["served.fd=\(fd)", "served.count=1"]))
            close(fd)
        }
    }
    var served = 0
    while served < wanted, !waiting.isEmpty {
        var polled = waiting.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        guard poll(&polled, nfds_t(polled.count), -1) > 0 else { continue }
        for ready in polled where ready.revents != 0 && served < wanted {
            let fd = ready.fd
            if socketOption(fd, SO_TYPE) == CInt(SOCK_DGRAM.rawValue) {
                var buffer = [UInt8](repeating: 0, count: 65536)
                var peer = sockaddr_storage()
                var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let got = withUnsafeMutablePointer(to: &peer) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, &buffer, buffer.count, 0, $0, &length) }
                }
                guard got >= 0 else { exit(3) }
                served += 1
                let text = report(fds: fds, extra: ["served.fd=\(fd)", "served.count=\(served)",
                                                    "datagram=" + String(decoding: buffer.prefix(got), as: UTF8.self)])
                let bytes = Array(text.utf8)
                _ = withUnsafePointer(to: &peer) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, bytes, bytes.count, 0, $0, length) }
                }
            } else {
                let connection = accept(fd, nil, nil)
                guard connection >= 0 else { exit(3) }
                served += 1
                writeAll(connection, report(fds: fds, extra: [
                    "served.fd=\(fd)", "served.count=\(served)",
                    "served.peer=\(socketAddress(connection, peer: true) ?? "?")",
                ]))
                close(connection)
            }
        }
    }
}
