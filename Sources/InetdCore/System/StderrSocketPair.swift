import Glibc
import _InetdSystem

/// The stderr a service's handlers share: a unix datagram socket pair.
/// Handlers get the sending end as fd 2 (and 1 where SPEC 3 gives them
/// inetd's stderr); inetd reads the other. Every write is one datagram and
/// the kernel stamps it with the writer's pid (SO_PASSCRED), which an
/// unprivileged writer cannot forge; no address exists, so only holders of
/// the sending end can write.
struct StderrSocketPair {
    let receiving: FileDescriptor
    let sending: FileDescriptor

    /// What the sending end asks for: the kernel caps it at twice
    /// net.core.wmem_max (416 KiB by default), which is then the largest
    /// single write a handler can make (a larger one fails with EMSGSIZE).
    /// The default, wmem_default, would refuse a 210 KiB write already.
    static let sendBufferRequest: CInt = 4 << 20

    /// Both ends close-on-exec from birth; the receiving end non-blocking
    /// with SO_PASSCRED; the sending end blocking (handlers expect a
    /// blocking stderr: a full queue makes their write wait, as a pipe
    /// does). C: `socketpair(2)`, `fcntl(2)`, `setsockopt(2)`.
    static func open() throws(SystemError) -> StderrSocketPair {
        var ends: (CInt, CInt) = (-1, -1)
        _ = try withUnsafeMutableBytes(of: &ends) { (raw) throws(SystemError) -> CInt in
            let pointer = raw.baseAddress!.assumingMemoryBound(to: CInt.self)
            return try syscall("socketpair") {
                Glibc.socketpair(AF_UNIX, CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0, pointer)
            }
        }
        let pair = StderrSocketPair(receiving: FileDescriptor(rawValue: ends.0), sending: FileDescriptor(rawValue: ends.1))
        do {
            try pair.receiving.setNonBlocking(true)
            try Socket.setOption(pair.receiving, level: SOL_SOCKET, name: SO_PASSCRED, value: 1)
            try Socket.setOption(pair.sending, level: SOL_SOCKET, name: SO_SNDBUF, value: sendBufferRequest)
        } catch {
            pair.close()
            throw error
        }
        return pair
    }

    func close() {
        receiving.close()
        sending.close()
    }

    /// One datagram as it was received.
    struct Datagram {
        var count: Int
        /// The writer's pid in inetd's namespace; 0 when the kernel gave none.
        var pid: pid_t
        /// The datagram was longer than the buffer: its tail is lost.
        var truncated: Bool
    }

    /// Copies the datagram at the head of the queue into `buffer` without
    /// waiting, and leaves it there: it is read in parts when it holds
    /// more lines than a turn may log, and its writer waits meanwhile.
    /// C: `recvmsg(2)` with MSG_PEEK and SCM_CREDENTIALS
    /// (`inetd_receive_with_pid`).
    func peek(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Datagram> {
        var pid: pid_t = 0
        var truncated: CInt = 0
        let result = try nonBlockingSyscall("recvmsg") {
            inetd_receive_with_pid(receiving.rawValue, buffer.baseAddress!, buffer.count, 1, &pid, &truncated)
        }
        guard case .done(let count) = result else { return .wouldBlock }
        return .done(Datagram(count: Int(count), pid: pid, truncated: truncated != 0))
    }

    /// Drops the datagram at the head of the queue (`peek` read it).
    func dropHead() throws(SystemError) {
        _ = try Socket.discardDatagram(receiving)
    }
}
