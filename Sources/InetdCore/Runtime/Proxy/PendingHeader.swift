/// A connection of a `proxy` line whose PROXY header is being read in the
/// loop: no process, no buffer of its own (the header is peeked into the
/// loop's scratch buffer), one descriptor, until its header is read or its
/// time is up.
final class PendingHeader: LoopConnection {
    let listener: Listener
    /// The connection's own peer: the balancer (or, for a unix line, the
    /// local process that relays).
    var balancer: PeerBuffer
    /// Monotonic milliseconds after which it is closed unread.
    let deadline: Int64

    init(fd: FileDescriptor, listener: Listener, token: EventToken, balancer: PeerBuffer, now: Int64, deadline: Int64) {
        self.listener = listener
        self.balancer = balancer
        self.deadline = deadline
        // Edge-triggered: the header is peeked, not read, until it is
        // whole; a level-triggered socket holding half a header would wake
        // the loop on every turn.
        super.init(fd: fd, state: listener.state, token: token, now: now, interest: [.readable, .edgeTriggered])
    }
}

/// What a handler of a `proxy` line is told besides its client (the
/// header's source): the address the client reached, and the balancer.
struct ProxiedEndpoints {
    var local: PeerBuffer
    var balancer: PeerBuffer
}
