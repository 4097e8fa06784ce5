import Glibc
import _InetdSystem

/// The connections waiting in a unix stream or seqpacket listener's queue,
/// as sock_diag(7) reports them: how many, and the inodes of the first
/// clients' sockets, in queue order. The queue is first in, first out and
/// an inode names one live socket, so a handler that accepted anything
/// changed the head: the crash-loop rule's evidence for unix listeners,
/// which no count of arrivals can give exactly (docs/DESIGN.md "Crash-loop
/// back-off"). A client that closed before being accepted shows as inode 0.
struct UnixListenerQueue: Equatable {
    var count = 0
    /// The first `min(count, 4)` inodes; the rest 0.
    var head: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)

    static func == (a: Self, b: Self) -> Bool { a.count == b.count && a.head == b.head }

    /// What `self`, seen when a handler started, would be now had the
    /// handler accepted nothing: the same clients at the front of `now`.
    func stillHeads(_ now: UnixListenerQueue) -> Bool {
        guard count > 0, now.count >= count else { return false }
        let seen = min(count, 4)
        let mine = [head.0, head.1, head.2, head.3], theirs = [now.head.0, now.head.1, now.head.2, now.head.3]
        return mine.prefix(seen) == theirs.prefix(seen)
    }
}

extension Socket {
    /// NETLINK_SOCK_DIAG, NLM_F_REQUEST, NLMSG_ERROR (linux/netlink.h),
    /// SOCK_DIAG_BY_FAMILY (linux/sock_diag.h), UDIAG_SHOW_ICONS |
    /// UDIAG_SHOW_RQLEN, UNIX_DIAG_ICONS, UNIX_DIAG_RQLEN
    /// (linux/unix_diag.h): headers Glibc does not import.
    private static let sockDiag: CInt = 4
    private static let request: UInt16 = 1
    private static let error: UInt16 = 2
    private static let byFamily: UInt16 = 20
    private static let showIconsAndQueue: UInt32 = 0x08 | 0x10
    private static let iconsAttribute: UInt16 = 3
    private static let queueAttribute: UInt16 = 4

    /// The queue of the unix listener `fd`. C equivalent: `fstat(2)` for its
    /// inode, then a sock_diag request for that inode on a NETLINK_SOCK_DIAG
    /// socket: `socket(2)`, `send(2)`, `recv(2)`. The answer is read into a
    /// fixed buffer: a long queue's list of inodes is cut (MSG_TRUNC), and
    /// the count comes from UNIX_DIAG_RQLEN, or, when that was cut too, from
    /// the list's own length.
    /// nil when the answer is not one this code can read.
    static func unixListenerQueue(_ fd: FileDescriptor) throws(SystemError) -> UnixListenerQueue? {
        var info = stat()
        _ = try syscall("fstat") { fstat(fd.rawValue, &info) }
        let link = try open(domain: AF_NETLINK, type: CInt(SOCK_DGRAM.rawValue), protocol: sockDiag)
        defer { link.close() }

        // struct nlmsghdr (16 bytes) + struct unix_diag_req (24 bytes).
        var message = [UInt8](repeating: 0, count: 40)
        message.withUnsafeMutableBytes { r in
            r.storeBytes(of: UInt32(40), toByteOffset: 0, as: UInt32.self)              // nlmsg_len
            r.storeBytes(of: byFamily, toByteOffset: 4, as: UInt16.self)                // nlmsg_type
            r.storeBytes(of: Self.request, toByteOffset: 6, as: UInt16.self)  // nlmsg_flags
            r.storeBytes(of: UInt8(AF_UNIX), toByteOffset: 16, as: UInt8.self)         // sdiag_family
            r.storeBytes(of: UInt32.max, toByteOffset: 20, as: UInt32.self)            // udiag_states
            r.storeBytes(of: UInt32(truncatingIfNeeded: info.st_ino), toByteOffset: 24, as: UInt32.self)
            r.storeBytes(of: showIconsAndQueue, toByteOffset: 28, as: UInt32.self)      // udiag_show
            // udiag_cookie: INET_DIAG_NOCOOKIE, the inode alone names the socket.
            r.storeBytes(of: UInt32.max, toByteOffset: 32, as: UInt32.self)
            r.storeBytes(of: UInt32.max, toByteOffset: 36, as: UInt32.self)
        }
        _ = try syscall("send") { message.withUnsafeBytes { Glibc.send(link.rawValue, $0.baseAddress, $0.count, 0) } }
        var answer = [UInt8](repeating: 0, count: 512)
        let got = try syscall("recv") { answer.withUnsafeMutableBytes { Glibc.recv(link.rawValue, $0.baseAddress, $0.count, 0) } }
        return try Self.parseUnixDiag(answer.prefix(got))
    }

    /// Reads an answer: an nlmsghdr, then NLMSG_ERROR's errno, or struct
    /// unix_diag_msg (16 bytes) and its attributes (rtattr: a 16-bit length
    /// including its 4-byte header, a 16-bit type, the data, padded to 4).
    static func parseUnixDiag(_ answer: ArraySlice<UInt8>) throws(SystemError) -> UnixListenerQueue? {
        let bytes = Array(answer)
        func u16(_ at: Int) -> UInt16 { bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt16.self) } }
        func u32(_ at: Int) -> UInt32 { bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt32.self) } }
        guard bytes.count >= 20 else { return nil }
        if u16(4) == Self.error {
            throw SystemError(call: "sock_diag", errno: -CInt(bitPattern: u32(16)))
        }
        guard u16(4) == byFamily, bytes.count >= 32 else { return nil }
        var queue = UnixListenerQueue()
        var counted = false, listedIcons = false
        var offset = 32
        while offset + 4 <= bytes.count {
            let length = Int(u16(offset)), type = u16(offset + 2)
            guard length >= 4 else { break }
            if type == iconsAttribute {
                let listed = (length - 4) / 4
                var inodes: [UInt32] = []
                for i in 0..<min(listed, 4) where offset + 8 + 4 * i <= bytes.count { inodes.append(u32(offset + 4 + 4 * i)) }
                inodes += [UInt32](repeating: 0, count: 4 - inodes.count)
                queue.head = (inodes[0], inodes[1], inodes[2], inodes[3])
                if !counted { queue.count = listed }
                listedIcons = true
            } else if type == queueAttribute, offset + 8 <= bytes.count {
                queue.count = Int(u32(offset + 4))
                counted = true
            }
            offset += (length + 3) & ~3
        }
        return listedIcons ? queue : nil
    }
}
