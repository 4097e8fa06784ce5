import Glibc
import _InetdSystem

/// The one seam every system call goes through.
///
/// `body` makes one call that returns -1 and sets errno on failure. EINTR is
/// retried; any other errno is thrown with the call's name. EBADF and EFAULT
/// mean this program passed a wrong descriptor or pointer: a bug, so they stop
/// the process instead of travelling as an error.
///
/// `@inline(never)` keeps ARC traffic and other calls from running between
/// the system call and the read of errno.
@inline(never)
func syscall<Result: BinaryInteger>(
    _ name: StaticString, _ body: () -> Result
) throws(SystemError) -> Result {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = inetd_errno()
        switch code {
        case EINTR:
            continue
        case EBADF, EFAULT:
            preconditionFailure("\(name): \(errnoText(code)): a descriptor or pointer bug")
        default:
            throw SystemError(call: "\(name)", errno: code)
        }
    }
}

/// What a call on a non-blocking descriptor (or one made with MSG_DONTWAIT)
/// did: its result, or nothing because it would have had to wait. Modelled
/// on swift-nio's `IOResult`.
public enum IOResult<T> {
    case done(T)
    case wouldBlock
}

extension IOResult: Equatable where T: Equatable {}
extension IOResult: Sendable where T: Sendable {}

/// The seam for calls that may find nothing to do on a non-blocking
/// descriptor, as swift-nio's `syscall(blocking: true)`: EAGAIN and
/// EWOULDBLOCK (the same value on Linux) are `.wouldBlock`, not an error.
/// Otherwise as `syscall`: EINTR is retried, any other errno is thrown with
/// the call's name, EBADF and EFAULT stop the process.
@inline(never)
func nonBlockingSyscall<Result: BinaryInteger>(
    _ name: StaticString, _ body: () -> Result
) throws(SystemError) -> IOResult<Result> {
    while true {
        let result = body()
        if result != -1 { return .done(result) }
        let code = inetd_errno()
        switch code {
        case EINTR:
            continue
        case EAGAIN, EWOULDBLOCK:
            return .wouldBlock
        case EBADF, EFAULT:
            preconditionFailure("\(name): \(errnoText(code)): a descriptor or pointer bug")
        default:
            throw SystemError(call: "\(name)", errno: code)
        }
    }
}
