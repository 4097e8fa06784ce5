import Glibc

/// The file a unix socket that inetd bound has in the file system: its
/// name in the directory inetd holds open (`SocketDirectory`), and its
/// device and inode as `fstatat` gave them right after the bind.
///
/// inetd changes (chmod, chown) and removes (unlink) only this file, and
/// only in that directory: what is at the name is checked against it first
/// and never followed through a symlink. Anything else found there (a
/// symlink, a regular file, another program's socket, a socket bound again
/// by someone else) is left alone.
struct UnixSocketFile: Equatable, Sendable {
    let directory: SocketDirectory
    let name: String
    let device: UInt64
    let inode: UInt64

    /// What was found at the name, compared with the socket file inetd made.
    enum Found: Equatable {
        /// inetd's own socket file.
        case ours
        /// Nothing at the name.
        case nothing
        /// Something else: its kind ("symlink", "file", "socket", ...).
        case other(String)
    }

    /// Records the socket file just bound as `name`: it must be a socket.
    static func record(_ name: String, in directory: SocketDirectory) throws(SystemError) -> UnixSocketFile {
        guard let info = try FileSystemCalls.statEntry(name, in: directory.fd) else {
            throw SystemError(call: "fstatat", errno: ENOENT)
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else { throw SystemError(call: "fstatat", errno: EEXIST) }
        return UnixSocketFile(info, name, in: directory)
    }

    /// The same file under another name in the same directory (a link).
    func named(_ other: String) -> UnixSocketFile {
        UnixSocketFile(directory: directory, name: other, device: device, inode: inode)
    }

    /// Whether `info` (an `fstatat` or `fstat` result) is this socket file.
    func matches(_ info: stat) -> Bool {
        info.st_mode & S_IFMT == S_IFSOCK && UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    /// What is at the name now, without following a symlink.
    func find() throws(SystemError) -> Found {
        guard let info = try FileSystemCalls.statEntry(name, in: directory.fd) else { return .nothing }
        return matches(info) ? .ours : .other(Self.kind(info))
    }

    /// Removes the name if it still is this socket file; anything else stays.
    ///
    /// fstatat, compare, unlinkat, in the directory held open: a directory
    /// on the path swapped meanwhile does not move the unlink elsewhere.
    /// Linux has no unlink-by-inode, so a window remains between the check
    /// and the unlink, within this one directory: only root, inetd's user
    /// or (in a sticky directory) the owner of the entry can replace it
    /// there (SocketDirectoryRule), and unlink removes the name they put
    /// there, never the file another name points to.
    func remove() throws(SystemError) -> Found {
        let found = try find()
        if found == .ours { try FileSystemCalls.unlinkEntry(name, in: directory.fd) }
        return found
    }

    /// Sets owner (when given) and mode if the name is this socket file,
    /// without a window for a swapped name: the entry is opened O_PATH |
    /// O_NOFOLLOW in the directory (a symlink is opened as itself, never
    /// followed), the descriptor is checked with fstat, and the changes go
    /// through the descriptor: fchownat(fd, "", AT_EMPTY_PATH) for the owner
    /// and chmod("/proc/self/fd/N") for the mode (fchmod refuses an O_PATH
    /// descriptor; the /proc link names the inode that was opened and
    /// checked, whatever the name holds by then). Needs /proc mounted;
    /// where it is not, the chmod fails and is reported.
    func setOwnerAndMode(owner: (uid: uid_t, gid: gid_t)?, mode: UInt32) throws(SystemError) -> Found {
        let fd: FileDescriptor
        do {
            fd = try FileSystemCalls.openEntry(name, in: directory.fd)
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

    /// A word for what an fstatat found, for the log.
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

extension UnixSocketFile {
    init(_ info: stat, _ name: String, in directory: SocketDirectory) {
        self.init(directory: directory, name: name, device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }
}

/// File-system calls for unix socket files and their directories, each
/// through the syscall seam, each relative to a directory descriptor.
enum FileSystemCalls {
    /// O_PATH and AT_EMPTY_PATH are GNU extensions the Glibc module does not
    /// export; these are Linux's values on every architecture Swift runs on
    /// (asm-generic/fcntl.h, linux/fcntl.h).
    static let openPathFlag: CInt = 0o10000000
    static let atEmptyPath: CInt = 0x1000

    /// C equivalent: `open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)`.
    static func openRoot() throws(SystemError) -> FileDescriptor {
        FileDescriptor(rawValue: try syscall("open") { Glibc.open("/", openPathFlag | O_DIRECTORY | O_CLOEXEC) })
    }

    /// C equivalent: `openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW |
    /// O_CLOEXEC)`: the directory `name` in `dir`; a symlink there fails
    /// with ENOTDIR instead of being followed.
    static func openDirectory(_ name: String, in dir: FileDescriptor) throws(SystemError) -> FileDescriptor {
        FileDescriptor(rawValue: try syscall("openat") {
            Glibc.openat(dir.rawValue, name, openPathFlag | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        })
    }

    /// C equivalent: `openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC)`:
    /// a descriptor for the entry itself (a symlink is not followed), usable
    /// for fstat, fchownat(AT_EMPTY_PATH) and /proc/self/fd, not for I/O.
    static func openEntry(_ name: String, in dir: FileDescriptor) throws(SystemError) -> FileDescriptor {
        FileDescriptor(rawValue: try syscall("openat") { Glibc.openat(dir.rawValue, name, openPathFlag | O_NOFOLLOW | O_CLOEXEC) })
    }

    /// C equivalent: `fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW)`; nil
    /// when nothing is there (ENOENT).
    static func statEntry(_ name: String, in dir: FileDescriptor) throws(SystemError) -> stat? {
        var info = stat()
        do {
            _ = try syscall("fstatat") { Glibc.fstatat(dir.rawValue, name, &info, AT_SYMLINK_NOFOLLOW) }
        } catch where error.errno == ENOENT {
            return nil
        }
        return info
    }

    /// C equivalent: `readlinkat(2)`: a symlink's target, for a message.
    static func readLink(_ name: String, in dir: FileDescriptor) throws(SystemError) -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = try buffer.withUnsafeMutableBufferPointer { bytes throws(SystemError) in
            try syscall("readlinkat") { Glibc.readlinkat(dir.rawValue, name, bytes.baseAddress!, bytes.count) }
        }
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// C equivalent: `fstat(2)`.
    static func fstat(_ fd: FileDescriptor) throws(SystemError) -> stat {
        var info = stat()
        _ = try syscall("fstat") { Glibc.fstat(fd.rawValue, &info) }
        return info
    }

    /// C equivalent: `fchownat(fd, "", uid, gid, AT_EMPTY_PATH)`: changes
    /// the owner of the file the descriptor refers to, O_PATH ones included.
    static func chownDescriptor(_ fd: FileDescriptor, _ uid: uid_t, _ gid: gid_t) throws(SystemError) {
        _ = try syscall("fchownat") { Glibc.fchownat(fd.rawValue, "", uid, gid, atEmptyPath) }
    }

    /// C equivalent: `chmod(2)`, on a /proc/self/fd path only.
    static func chmod(_ path: String, _ mode: UInt32) throws(SystemError) {
        _ = try syscall("chmod") { Glibc.chmod(path, mode_t(mode)) }
    }

    /// C equivalent: `linkat(dir, existing, dir, new, 0)`: a second name
    /// for `existing` in the same directory, failing with EEXIST when `new`
    /// exists (never replacing it, unlike rename); a symlink at `existing`
    /// is linked as itself, not followed.
    static func linkEntry(_ existing: String, to new: String, in dir: FileDescriptor) throws(SystemError) {
        _ = try syscall("linkat") { Glibc.linkat(dir.rawValue, existing, dir.rawValue, new, 0) }
    }

    /// C equivalent: `unlinkat(dir, name, 0)`.
    static func unlinkEntry(_ name: String, in dir: FileDescriptor) throws(SystemError) {
        _ = try syscall("unlinkat") { Glibc.unlinkat(dir.rawValue, name, 0) }
    }
}
