import Glibc

/// The file a unix socket that inetd bound has in the file system, known by
/// its device and inode as `lstat(2)` gave them right after the bind.
///
/// inetd changes (chmod, chown) and removes (unlink) only this file: what is
/// at the path is checked against it first and never followed through a
/// symlink. Anything else found there (a symlink, a regular file, another
/// program's socket, a socket bound again by someone else) is left alone.
struct UnixSocketFile: Equatable, Sendable {
    let device: UInt64
    let inode: UInt64

    init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    /// What was found at a path, compared with the socket file inetd made.
    enum Found: Equatable {
        /// inetd's own socket file.
        case ours
        /// Nothing at the path.
        case nothing
        /// Something else: its kind ("symlink", "file", "socket", ...).
        case other(String)
    }

    /// Records the socket file just bound at `path`: it must be a socket.
    static func record(at path: String) throws(SystemError) -> UnixSocketFile {
        guard let info = try FileSystemCalls.lstat(path) else { throw SystemError(call: "lstat", errno: ENOENT) }
        guard info.st_mode & S_IFMT == S_IFSOCK else { throw SystemError(call: "lstat", errno: EEXIST) }
        return UnixSocketFile(info)
    }

    /// Whether `info` (an `lstat` or `fstat` result) is this socket file.
    func matches(_ info: stat) -> Bool {
        info.st_mode & S_IFMT == S_IFSOCK && UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    /// What is at `path` now, without following a symlink.
    func find(at path: String) throws(SystemError) -> Found {
        guard let info = try FileSystemCalls.lstat(path) else { return .nothing }
        return matches(info) ? .ours : .other(Self.kind(info))
    }

    /// Removes `path` if it is still this socket file; anything else stays.
    ///
    /// lstat, compare, unlink: Linux has no unlink-by-inode, so a window
    /// remains between the check and the unlink. Only a process that can
    /// already remove or replace entries in that directory can use it, and
    /// unlink removes the name it put there, never the file another name
    /// points to.
    func remove(at path: String) throws(SystemError) -> Found {
        let found = try find(at: path)
        if found == .ours { try FileSystemCalls.unlink(path) }
        return found
    }

    /// Sets owner (when given) and mode on `path` if it is this socket file,
    /// without a window for a swapped name: the path is opened O_PATH |
    /// O_NOFOLLOW (a symlink is opened as itself, never followed), the
    /// descriptor is checked with fstat, and the changes go through the
    /// descriptor: fchownat(fd, "", AT_EMPTY_PATH) for the owner and
    /// chmod("/proc/self/fd/N") for the mode (fchmod refuses an O_PATH
    /// descriptor; the /proc link names the inode that was opened and
    /// checked, whatever the path names by then). Needs /proc mounted; where it
    /// is not, the chmod fails and is reported.
    func setOwnerAndMode(at path: String, owner: (uid: uid_t, gid: gid_t)?, mode: UInt32) throws(SystemError) -> Found {
        let fd: FileDescriptor
        do {
            fd = try FileSystemCalls.openPathNoFollow(path)
        } catch where error.errno == ENOENT {
            return .nothing
        }
        defer { fd.close() }
        let info = try FileSystemCalls.fstat(fd)
        guard matches(info) else { return .other(Self.kind(info)) }
        if let owner { try FileSystemCalls.chownDescriptor(fd, owner.uid, owner.gid) }
        try FileSystemCalls.chmod("/proc/self/fd/\(fd.rawValue)", mode)
        return .ours
    }

    /// A word for what an lstat found, for the log.
    static func kind(_ info: stat) -> String {
        switch info.st_mode & S_IFMT {
        case S_IFLNK: "symlink"
        case S_IFREG: "file"
        case S_IFDIR: "directory"
        case S_IFSOCK: "socket"
        case S_IFIFO: "fifo"
        case S_IFCHR, S_IFBLK: "device"
        default: "unknown"
        }
    }
}

/// Path calls for unix socket files, each through the syscall seam.
enum FileSystemCalls {
    /// O_PATH and AT_EMPTY_PATH are GNU extensions the Glibc module does not
    /// export; these are Linux's values on every architecture Swift runs on
    /// (asm-generic/fcntl.h, linux/fcntl.h).
    static let openPathFlag: CInt = 0o10000000
    static let atEmptyPath: CInt = 0x1000

    /// C equivalent: `lstat(2)`; nil when nothing is at the path (ENOENT).
    static func lstat(_ path: String) throws(SystemError) -> stat? {
        var info = stat()
        do {
            _ = try syscall("lstat") { Glibc.lstat(path, &info) }
        } catch where error.errno == ENOENT {
            return nil
        }
        return info
    }

    /// C equivalent: `fstat(2)`.
    static func fstat(_ fd: FileDescriptor) throws(SystemError) -> stat {
        var info = stat()
        _ = try syscall("fstat") { Glibc.fstat(fd.rawValue, &info) }
        return info
    }

    /// C equivalent: `open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC)`: a
    /// descriptor for the entry itself (a symlink is not followed), usable
    /// for fstat, fchownat(AT_EMPTY_PATH) and /proc/self/fd, not for I/O.
    static func openPathNoFollow(_ path: String) throws(SystemError) -> FileDescriptor {
        FileDescriptor(rawValue: try syscall("open") { Glibc.open(path, openPathFlag | O_NOFOLLOW | O_CLOEXEC) })
    }

    /// C equivalent: `fchownat(fd, "", uid, gid, AT_EMPTY_PATH)`: changes
    /// the owner of the file the descriptor refers to, O_PATH ones included.
    static func chownDescriptor(_ fd: FileDescriptor, _ uid: uid_t, _ gid: gid_t) throws(SystemError) {
        _ = try syscall("fchownat") { Glibc.fchownat(fd.rawValue, "", uid, gid, atEmptyPath) }
    }

    /// C equivalent: `chmod(2)`.
    static func chmod(_ path: String, _ mode: UInt32) throws(SystemError) {
        _ = try syscall("chmod") { Glibc.chmod(path, mode_t(mode)) }
    }

    /// C equivalent: `link(2)`: a second name for `existing`, failing with
    /// EEXIST when `new` exists (never replacing it, unlike rename). A
    /// symlink at `existing` is linked as itself, not followed.
    static func link(_ existing: String, _ new: String) throws(SystemError) {
        _ = try syscall("link") { Glibc.link(existing, new) }
    }

    /// C equivalent: `unlink(2)`.
    static func unlink(_ path: String) throws(SystemError) {
        _ = try syscall("unlink") { Glibc.unlink(path) }
    }
}
