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
//   listen-fds        report; the sockets are fds 3.. (LISTEN_FDS)
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

func report(fds: [CInt]) -> String {
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
    for (i, arg) in CommandLine.arguments.enumerated() { lines.append("argv.\(i)=\(arg)") }
    var cursor = environ
    while let entry = cursor.pointee {
        lines.append("env=" + String(cString: entry))
        cursor += 1
    }
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
    let got = withUnsafeMutablePointer(to: &peer) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(0, &buffer, buffer.count, 0, $0, &length) }
    }
    guard got >= 0 else { exit(3) }
    let reply = text + "datagram=" + String(decoding: buffer.prefix(got), as: UTF8.self) + "\n"
    let bytes = Array(reply.utf8)
    _ = withUnsafePointer(to: &peer) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(0, bytes, bytes.count, 0, $0, length) }
    }
default:
    writeAll(1, report(fds: fds))
}
exit(0)
