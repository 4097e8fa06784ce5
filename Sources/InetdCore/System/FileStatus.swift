import Glibc

/// What `stat(2)` says of a path: its type, mode and owner.
struct FileStatus {
    var mode: mode_t
    var owner: uid_t
    var group: gid_t

    /// C equivalent: `stat(2)`, following symlinks as execve does.
    static func of(_ path: String) throws(SystemError) -> FileStatus {
        var info = stat()
        _ = try syscall("stat") { stat(path, &info) }
        return FileStatus(mode: info.st_mode, owner: info.st_uid, group: info.st_gid)
    }

    var isRegularFile: Bool { mode & S_IFMT == S_IFREG }

    /// Whether the mode bits let `uid` (with `gid` and `groups`) execute the
    /// file, as the kernel judges it: root needs any execute bit; others the
    /// owner's, else the group's, else everyone's.
    func executable(uid: uid_t, gid: gid_t, groups: [gid_t]) -> Bool {
        if uid == 0 { return mode & 0o111 != 0 }
        if owner == uid { return mode & 0o100 != 0 }
        if group == gid || groups.contains(group) { return mode & 0o010 != 0 }
        return mode & 0o001 != 0
    }
}

/// The identity this process runs with. C equivalent: `geteuid(2)`,
/// `getegid(2)`.
func currentIdentity() -> (uid: uid_t, gid: gid_t) { (geteuid(), getegid()) }
