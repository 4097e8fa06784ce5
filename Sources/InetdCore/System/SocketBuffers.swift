import Glibc
import _InetdSystem

extension Socket {
    /// Caps the kernel memory a connection can pin: SO_SNDBUF and SO_RCVBUF
    /// set to `bytes`. The kernel doubles the value (for its bookkeeping) and
    /// stops auto-tuning both buffers, which otherwise grow to tcp_wmem's and
    /// tcp_rmem's maximum (megabytes) for a peer that never reads. Set before
    /// any data is written. C equivalent: two `setsockopt(2)` at SOL_SOCKET.
    static func capBuffers(_ fd: FileDescriptor, bytes: CInt) throws(SystemError) {
        try setOption(fd, level: SOL_SOCKET, name: SO_SNDBUF, value: bytes)
        try setOption(fd, level: SOL_SOCKET, name: SO_RCVBUF, value: bytes)
    }
}
