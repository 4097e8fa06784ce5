import Glibc
import _InetdSystem

/// The names in a directory, `.` and `..` left out, sorted bytewise.
/// C equivalent: `open(2)` with O_DIRECTORY, `fdopendir(3)`, `readdir(3)`,
/// `closedir(3)`.
public func directoryNames(_ path: String) throws(SystemError) -> [String] {
    let fd = try FileDescriptor.open(path, O_RDONLY | O_DIRECTORY)
    guard let directory = fdopendir(fd.rawValue) else {
        let code = inetd_errno()
        fd.close()
        throw SystemError(call: "fdopendir", errno: code)
    }
    defer { closedir(directory) }  // closes fd too
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != ".", name != ".." { names.append(name) }
    }
    return names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
}

/// Whether `path` names a directory, following symlinks. C: `stat(2)`.
public func isDirectory(_ path: String) -> Bool {
    guard let status = try? FileStatus.of(path) else { return false }
    return status.mode & S_IFMT == S_IFDIR
}
