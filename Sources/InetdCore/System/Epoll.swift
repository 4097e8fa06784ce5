import Glibc
import _InetdSystem

/// An epoll instance. Each registration carries a 64-bit token the caller
/// chooses: the runtime packs a slot and a generation into it, so that an event
/// for a descriptor closed and reused since is recognised and dropped.
public struct Epoll: ~Copyable {
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

    /// Readable, plus the error and hang-up conditions, asked for explicitly.
    static let readable = EPOLLIN.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue

    /// C equivalent: `epoll_ctl(EPOLL_CTL_ADD)` for readability, and for
    /// writability too when `write`.
    public func add(_ target: FileDescriptor, token: UInt64, write: Bool = false) throws(SystemError) {
        var event = epoll_event()
        event.events = Self.readable | (write ? EPOLLOUT.rawValue : 0)
        event.data.u64 = token
        _ = try syscall("epoll_ctl") { epoll_ctl(fd.rawValue, EPOLL_CTL_ADD, target.rawValue, &event) }
    }

    /// C equivalent: `epoll_ctl(EPOLL_CTL_MOD)`: readable and/or writable.
    public func modify(_ target: FileDescriptor, token: UInt64, read: Bool, write: Bool) throws(SystemError) {
        var event = epoll_event()
        event.events = EPOLLERR.rawValue | EPOLLHUP.rawValue | (read ? EPOLLIN.rawValue : 0) | (write ? EPOLLOUT.rawValue : 0)
        event.data.u64 = token
        _ = try syscall("epoll_ctl") { epoll_ctl(fd.rawValue, EPOLL_CTL_MOD, target.rawValue, &event) }
    }

    /// C equivalent: `epoll_ctl(EPOLL_CTL_ADD)` with EPOLLIN | EPOLLET: one
    /// event each time new input arrives, none for input already waiting.
    public func watchArrivals(_ target: FileDescriptor, token: UInt64) throws(SystemError) {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLET.rawValue
        event.data.u64 = token
        _ = try syscall("epoll_ctl") { epoll_ctl(fd.rawValue, EPOLL_CTL_ADD, target.rawValue, &event) }
    }

    /// C equivalent: `epoll_ctl(EPOLL_CTL_DEL)`.
    public func remove(_ target: FileDescriptor) throws(SystemError) {
        var event = epoll_event()
        _ = try syscall("epoll_ctl") { epoll_ctl(fd.rawValue, EPOLL_CTL_DEL, target.rawValue, &event) }
    }

    /// Waits up to `timeout` milliseconds (-1: forever) and calls `handle`
    /// with each ready token and its event bits. C: `epoll_wait(2)`.
    public mutating func wait(timeout: CInt, _ handle: (UInt64, UInt32) -> Void) throws(SystemError) {
        let base = events.baseAddress!
        let capacity = CInt(events.count)
        let count = try syscall("epoll_wait") { epoll_wait(fd.rawValue, base, capacity, timeout) }
        for i in 0..<Int(count) { handle(events[i].data.u64, events[i].events) }
        if count == capacity {
            // A full batch: grow, so one wake-up sees every ready descriptor.
            let bigger = UnsafeMutableBufferPointer<epoll_event>.allocate(capacity: events.count * 2)
            events.deallocate()
            events = bigger
        }
    }
}
