import Glibc

/// The kernel's arrival time of each datagram, the one fact about a pending
/// datagram its sender cannot choose: the crash-loop rule compares it to tell
/// a handler that read its datagram (a new one may have the same length and
/// source) from one that left it (docs/DESIGN.md "Crash-loop back-off").
///
/// SO_TIMESTAMPING separates making the stamps from reporting them:
/// `stampArrivals` asks for generation only, so every datagram is stamped
/// and a handler's recvmsg(2) sees no control message it did not ask for;
/// `peekDatagramHead` turns reporting on for its one peek and off again.
/// The kernel stamps UDP datagrams this way; unix datagrams it does not
/// (AF_UNIX stamps only for SO_TIMESTAMP(NS), which reports to every
/// reader), and those heads come back without a stamp.
extension Socket {
    /// SOF_TIMESTAMPING_RX_SOFTWARE and SOF_TIMESTAMPING_SOFTWARE
    /// (linux/net_tstamp.h, which Glibc does not import).
    static let stampOnArrival: CInt = 1 << 3
    static let reportStamps: CInt = 1 << 4

    /// Stamps every datagram on arrival, reporting none. C equivalent:
    /// `setsockopt(SOL_SOCKET, SO_TIMESTAMPING, SOF_TIMESTAMPING_RX_SOFTWARE)`.
    static func stampArrivals(_ fd: FileDescriptor) throws(SystemError) {
        try setOption(fd, level: SOL_SOCKET, name: SO_TIMESTAMPING, value: stampOnArrival)
    }

    /// The datagram at the head of the receive queue, left there: its full
    /// length, its source in `source`, and its arrival in nanoseconds since
    /// the epoch (0 when it carries no stamp); nil when none is pending.
    /// Leaves the socket stamping without reporting, as `stampArrivals`
    /// does, whatever a handler set. Only while no handler holds the socket:
    /// a handler reading during the peek could get the stamp too. C
    /// equivalent: `setsockopt(SO_TIMESTAMPING)`, `recvmsg(2)` with
    /// MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT and a buffer for SCM_TIMESTAMPING,
    /// `setsockopt(SO_TIMESTAMPING)`.
    static func peekDatagramHead(_ fd: FileDescriptor, source: inout PeerBuffer) throws(SystemError) -> (length: Int, arrival: Int64)? {
        let reporting = (try? setOption(fd, level: SOL_SOCKET, name: SO_TIMESTAMPING,
                                        value: stampOnArrival | reportStamps)) != nil
        defer { if reporting { try? stampArrivals(fd) } }
        // Room for SCM_TIMESTAMPING (64 bytes) and what a handler may have
        // turned on for itself (SO_TIMESTAMPNS, IP_PKTINFO...); a stamp cut
        // off (MSG_CTRUNC) is read as none.
        var control = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0),
                       UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0),
                       UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0),
                       UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        source.length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let flags = CInt(MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT)
        var filled = 0
        let result = try withUnsafeMutableBytes(of: &control) { (buffer) throws(SystemError) -> IOResult<Int> in
            try withUnsafeMutableBytes(of: &source.storage) { (name) throws(SystemError) -> IOResult<Int> in
                var message = msghdr()
                message.msg_name = name.baseAddress
                message.msg_namelen = source.length
                message.msg_control = buffer.baseAddress
                message.msg_controllen = buffer.count
                let got = try nonBlockingSyscall("recvmsg") { recvmsg(fd.rawValue, &message, flags) }
                source.length = message.msg_namelen
                filled = message.msg_flags & CInt(MSG_CTRUNC) != 0 ? 0 : Int(message.msg_controllen)
                return got
            }
        }
        guard case .done(let length) = result else { return nil }
        let arrival = withUnsafeBytes(of: &control) { Self.arrivalStamp(in: UnsafeRawBufferPointer(rebasing: $0.prefix(filled))) }
        return (length, arrival)
    }

    /// The software stamp of an SCM_TIMESTAMPING message among `control`'s
    /// messages (cmsghdr: a size_t length, the level, the type, then the
    /// data at the next word boundary; the data is three timespecs, the
    /// software stamp first); 0 when there is none.
    static func arrivalStamp(in control: UnsafeRawBufferPointer) -> Int64 {
        let word = MemoryLayout<Int>.size
        let header = MemoryLayout<cmsghdr>.size
        let stamp = 3 * MemoryLayout<timespec>.size
        var offset = 0
        while offset + header <= control.count {
            let length = Int(control.loadUnaligned(fromByteOffset: offset, as: Int.self))
            guard length >= header, offset + length <= control.count else { return 0 }
            let level = control.loadUnaligned(fromByteOffset: offset + word, as: CInt.self)
            let type = control.loadUnaligned(fromByteOffset: offset + word + 4, as: CInt.self)
            if level == SOL_SOCKET, type == SCM_TIMESTAMPING, length >= header + stamp {
                let seconds = control.loadUnaligned(fromByteOffset: offset + header, as: Int64.self)
                let nanoseconds = control.loadUnaligned(fromByteOffset: offset + header + 8, as: Int64.self)
                return seconds &* 1_000_000_000 &+ nanoseconds
            }
            offset += (length + word - 1) & ~(word - 1)
        }
        return 0
    }
}
