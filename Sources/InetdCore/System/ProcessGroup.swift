import Glibc
import _InetdSystem

/// Sends a signal to every process of a process group. C equivalent:
/// `kill(-pgid, signal)`.
func signalProcessGroup(_ signal: CInt, _ pgid: pid_t) throws(SystemError) {
    precondition(pgid > 1, "process group \(pgid)")
    _ = try syscall("kill") { kill(-pgid, signal) }
}

/// Whether a process of the group is still running. A zombie does not
/// count: it is dead, and where nobody reaps orphans (an init that does not,
/// a container without one) it would never leave the group. C equivalent:
/// `kill(-pgid, 0)`, then `/proc/[pid]/stat` (state, pgrp) for each process;
/// true when /proc cannot be read.
func processGroupIsAlive(_ pgid: pid_t) -> Bool {
    do {
        try signalProcessGroup(0, pgid)
    } catch {
        return error.errno != ESRCH
    }
    guard let fd = try? FileDescriptor.open("/proc", O_RDONLY | O_DIRECTORY) else { return true }
    guard let directory = fdopendir(fd.rawValue) else {
        fd.close()
        return true
    }
    defer { closedir(directory) }
    var buffer = [UInt8](repeating: 0, count: 512)
    while let entry = readdir(directory) {
        let first = entry.pointee.d_name.0
        guard first >= 0x31, first <= 0x39 else { continue }  // a pid: 1-9 first
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard let stat = try? FileDescriptor.open("/proc/" + name + "/stat", O_RDONLY) else { continue }
        let count = buffer.withUnsafeMutableBytes { (try? stat.read(into: $0)) ?? 0 }
        stat.close()
        // "pid (comm) S ppid pgrp ...": comm may hold anything, so the
        // fields start after the last ')'.
        guard let close = buffer[0..<count].lastIndex(of: UInt8(ascii: ")")) else { continue }
        let fields = buffer[(close + 1)..<count].split(separator: UInt8(ascii: " "), maxSplits: 4)
        guard fields.count >= 3, let state = fields[0].first, state != UInt8(ascii: "Z"), state != UInt8(ascii: "X"),
              let pgrp = pid_t(String(decoding: fields[2], as: UTF8.self)), pgrp == pgid else { continue }
        return true
    }
    return false
}
