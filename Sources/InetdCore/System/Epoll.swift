import Glibc
import _InetdSystem

/// An epoll instance, shared by the loop and the tables that register
/// descriptors in it. Each registration carries a 64-bit token the caller
/// chooses (the runtime's `EventToken`: kind, slot and generation), so that an
/// event for a descriptor closed and reused since is recognised and dropped.
public final class Epoll {
    /// What a registration asks for, and what an event reports. Error and
    /// hang-up are reported whether asked or not; they are asked explicitly
    /// so that the set says what the loop handles.
    public struct Events: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        public static let readable = Events(rawValue: EPOLLIN.rawValue)
        public static let writable = Events(rawValue: EPOLLOUT.rawValue)
        public static let error = Events(rawValue: EPOLLERR.rawValue)
        public static let hangUp = Events(rawValue: EPOLLHUP.rawValue)
        /// One event each time new input arrives, none for input already waiting.
        public static let edgeTriggered = Events(rawValue: EPOLLET.rawValue)

        /// Readable, with the error and hang-up conditions.
        public static let input: Events = [.readable, .error, .hangUp]
    }

    public let fd: FileDescriptor
    private var events: UnsafeMutableBufferPointer<epoll_event>

    /// C equivalent: `epoll_create1(EPOLL_CLOEXEC)`.
    public init(capacity: Int = 64) throws(SystemError) {
        fd = FileDescriptor(rawValue: try syscall("epoll_create1") { epoll_create1(CInt(EPOLL_CLOEXEC)) })
        events = .allocate(capacity: capacity)
    }

    deinit {
        events.deallocate()
        fd.close()
    }

    /// C equivalent: `epoll_ctl(EPOLL_CTL_ADD)`.
    public func add(_ target: FileDescriptor, token: UInt64, events asked: Events = .input) throws(SystemError) {
        try control(EPOLL_CTL_ADD, target, token: token, events: asked)
    }

    /// C equivalent: `epoll_ctl(EPOLL_CTL_MOD)`.
    public func modify(_ target: FileDescriptor, token: UInt64, events asked: Events) throws(SystemError) {
        try control(EPOLL_CTL_MOD, target, token: token, events: asked)
    }

    /// C equivalent: `epoll_ctl(EPOLL_CTL_DEL)`.
    public func remove(_ target: FileDescriptor) throws(SystemError) {
        try control(EPOLL_CTL_DEL, target, token: 0, events: [])
    }

    private func control(_ operation: CInt, _ target: FileDescriptor, token: UInt64, events asked: Events) throws(SystemError) {
        var event = epoll_event()
        event.events = asked.rawValue
        event.data.u64 = token
        _ = try syscall("epoll_ctl") { epoll_ctl(fd.rawValue, operation, target.rawValue, &event) }
    }

    /// Waits up to `timeout` milliseconds (-1: forever) and calls `handle`
    /// with each ready token and its events. C: `epoll_wait(2)`.
    public func wait(timeout: CInt, _ handle: (UInt64, Events) -> Void) throws(SystemError) {
        let base = events.baseAddress!
        let capacity = CInt(events.count)
        let count = try syscall("epoll_wait") { epoll_wait(fd.rawValue, base, capacity, timeout) }
        for i in 0..<Int(count) { handle(events[i].data.u64, Events(rawValue: events[i].events)) }
        if count == capacity {
            // A full batch: grow, so one wake-up sees every ready descriptor.
            let bigger = UnsafeMutableBufferPointer<epoll_event>.allocate(capacity: events.count * 2)
            events.deallocate()
            events = bigger
        }
    }
}
