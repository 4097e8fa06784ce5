import Glibc
import _InetdSystem

extension CurrentProcess {
    /// The path of the binary this process runs, as the kernel names it at
    /// the time of the call: read at start, it is the file an upgrade
    /// execs, so that a binary replaced since is the new version rather
    /// than the deleted inode behind /proc/self/exe. C: `readlink(2)`.
    static func executablePath() throws(SystemError) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = try buffer.withUnsafeMutableBufferPointer { (raw) -> Result<Int, SystemError> in
            Result { () throws(SystemError) in
                try syscall("readlink") { readlink("/proc/self/exe", raw.baseAddress!, raw.count - 1) }
            }
        }.get()
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The working directory. C: `getcwd(3)`.
    static func workingDirectory() throws(SystemError) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let result = buffer.withUnsafeMutableBufferPointer { raw in
            Result { () throws(SystemError) in
                try syscall("getcwd") { getcwd(raw.baseAddress!, raw.count) == nil ? -1 : 0 }
            }
        }
        _ = try result.get()
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Where replacing the image failed.
    enum ImageReplacementStep: Equatable {
        /// Placing the descriptors at 3, 4, ...
        case place
        case exec
    }

    /// Replaces this process's image: `execve(path, arguments,
    /// environment)` with `fds[i]` at descriptor 3 + i, as LISTEN_FDS
    /// says. Returns only when that failed, with every descriptor as it
    /// was. C: `inetd_reexec` (fcntl(F_DUPFD_CLOEXEC), dup2, execve).
    static func replaceImage(path: String, arguments: [String], environment: [String],
                             handing fds: [FileDescriptor]) -> (step: ImageReplacementStep, error: SystemError) {
        let argv = CStringArray(arguments), envp = CStringArray(environment)
        defer {
            argv.free()
            envp.free()
        }
        let raw = fds.map(\.rawValue)
        var step: CInt = 0
        let code = raw.withUnsafeBufferPointer { list in
            inetd_reexec(path, argv.pointers, envp.pointers, list.baseAddress ?? UnsafePointer(bitPattern: 8)!,
                         CInt(list.count), &step)
        }
        let failed: ImageReplacementStep = step == CInt(INETD_REEXEC_EXEC.rawValue) ? .exec : .place
        return (failed, SystemError(call: failed == .exec ? "execve" : "fcntl(F_DUPFD)", errno: code))
    }
}
