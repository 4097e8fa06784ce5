/// A connection the loop holds itself (`ConnectionTable`): a built-in's
/// client (`BuiltinConnection`), or one whose PROXY header is being read
/// (`PendingHeader`). Its descriptor, its service, its epoll token and
/// registration.
class LoopConnection {
    let fd: FileDescriptor
    let state: ServiceState
    let token: EventToken
    var lastActivity: Int64
    var interest: Epoll.Events

    init(fd: FileDescriptor, state: ServiceState, token: EventToken, now: Int64, interest: Epoll.Events) {
        self.fd = fd
        self.state = state
        self.token = token
        lastActivity = now
        self.interest = interest
    }
}
