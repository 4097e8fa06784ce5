import Glibc
import _InetdSystem

/// The process at the other end of a unix-domain connection, as the kernel
/// recorded it at connect(2).
struct PeerCredentials {
    var pid: Int
    var uid: Int
    var gid: Int

    /// C equivalent: `getsockopt(SOL_SOCKET, SO_PEERCRED)`.
    static func of(_ fd: FileDescriptor) throws(SystemError) -> PeerCredentials {
        var pid: pid_t = 0, uid: uid_t = 0, gid: gid_t = 0
        _ = try syscall("getsockopt") { inetd_peer_credentials(fd.rawValue, &pid, &uid, &gid) }
        return PeerCredentials(pid: Int(pid), uid: Int(uid), gid: Int(gid))
    }
}
