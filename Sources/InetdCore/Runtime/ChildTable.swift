import Glibc

/// A running handler.
struct Child {
    var state: ServiceState
    /// Started as a `wait` handler: signalled at stop, whatever a reload
    /// made of its service since.
    var wait: Bool
    /// The sockets the handler holds (wait, nowait dgram; every socket of
    /// the line for `wait,listen-fds`); they come back into the loop at its exit.
    var sockets: [Listener]
    var started: Int64
    /// A nowait handler's client, for the line that reports a spawn that
    /// failed after it returned (`Daemon.collectLateSpawnFailures`).
    var peer: SocketAddress?
    /// Its client's source, for the per-source limits.
    var source: SourceKey?
}

/// Every handler inetd started and has not reaped, and how many of each
/// service run now (the count a concurrency cap reads; each child carries
/// its source, which the per-source table counts, `SourceTable`). Only the
/// spawn and reap paths change it, and an upgrade's restore, which enters
/// the handlers the last image started.
struct ChildTable {
    private var byPID: [pid_t: Child] = [:]
    private var running: [ObjectIdentifier: Int] = [:]

    mutating func add(_ pid: pid_t, _ child: Child) {
        byPID[pid] = child
        running[ObjectIdentifier(child.state), default: 0] += 1
    }

    /// The child with this pid, taken out of the table; nil when it is not
    /// inetd's (an orphan adopted while inetd is PID 1).
    mutating func remove(_ pid: pid_t) -> Child? {
        guard let child = byPID.removeValue(forKey: pid) else { return nil }
        let key = ObjectIdentifier(child.state)
        if let n = running[key], n > 1 { running[key] = n - 1 } else { running[key] = nil }
        return child
    }

    /// The running handler with this pid.
    func child(_ pid: pid_t) -> Child? { byPID[pid] }

    /// The pids of this service's running handlers, lowest first (SIGUSR1).
    func pids(of state: ServiceState) -> [pid_t] {
        byPID.compactMap { $0.value.state === state ? $0.key : nil }.sorted()
    }

    /// Handlers of this service running now.
    func active(_ state: ServiceState) -> Int { running[ObjectIdentifier(state)] ?? 0 }

    var count: Int { byPID.count }

    /// The `wait` handlers: signalled at stop.
    var waitHandlers: [(pid: pid_t, child: Child)] {
        byPID.filter { $0.value.wait }.map { (pid: $0.key, child: $0.value) }
    }

    var hasWaitHandlers: Bool { byPID.values.contains { $0.wait } }

    /// Every running handler, lowest pid first (an upgrade hands them on).
    var all: [(pid: pid_t, child: Child)] {
        byPID.map { (pid: $0.key, child: $0.value) }.sorted { $0.pid < $1.pid }
    }
}
