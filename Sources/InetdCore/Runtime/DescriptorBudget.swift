import Glibc
import _InetdSystem

/// inetd's descriptors: the limit, the reserve kept for shedding a
/// connection at EMFILE, and how many sockets binding may still open.
struct DescriptorBudget {
    /// Descriptors kept free for accept, spawn, the built-ins' connections
    /// and a reload's file and NSS look-ups: binding stops short of them
    /// (OpenBSD's inetd keeps a margin of 8 too).
    static let reserve = 8

    /// RLIMIT_NOFILE after start-up raised the soft limit to the hard one.
    private(set) var limit: DescriptorLimit?
    /// Held open so that a connection can still be accepted and shed at
    /// EMFILE instead of being left to wake the loop again and again.
    private var reserveFD: FileDescriptor?
    /// Descriptors that binding may still use, counted at the start of each
    /// binding pass; nil when /proc/self/fd cannot be read.
    var bindRoom: Int?
    /// Sockets a binding pass has newly left unbound, and the first of
    /// them (service and address): logged once at the pass's end.
    private(set) var skipped = 0
    private(set) var firstSkipped: (service: String, address: String)?

    /// As OpenBSD's inetd: the soft descriptor limit (often 1024) up to the
    /// hard one, so that sockets, connections and reloads do not run out
    /// long before the system would let them. Handlers get the original back.
    init(log: Log) {
        do {
            let (before, after) = try DescriptorLimit.raiseSoftToHard()
            limit = after
            if before != after { inetd_spawn_set_handler_nofile(UInt(before.soft), UInt(before.hard)) }
            if before != after, log.verbose {
                log.debug("descriptor_limit", ("soft", "\(after.soft)"), ("hard", "\(after.hard)"),
                          ("raised_from", "\(before.soft)"))
            }
        } catch {
            log.warn("descriptor_limit", ("error", "\(error)"))
            limit = try? DescriptorLimit.current()
        }
    }

    mutating func openReserve() throws(SystemError) {
        reserveFD = try FileDescriptor.open("/dev/null", O_RDONLY)
    }

    /// Runs `body` with the reserve descriptor given back, then takes it again.
    mutating func withReserveReleased(_ body: () -> Void) {
        reserveFD?.close()
        reserveFD = nil
        body()
        reserveFD = try? FileDescriptor.open("/dev/null", O_RDONLY)
    }

    /// How many more sockets may be bound: the soft limit less the
    /// descriptors open now and the reserve (negative: the reserve is being
    /// used). nil when that cannot be told (no /proc).
    func available() -> Int? {
        guard let limit else { return nil }
        do {
            return limit.soft - (try openDescriptorCount()) - Self.reserve
        } catch where error.errno == EMFILE || error.errno == ENFILE {
            return -Self.reserve
        } catch {
            return nil
        }
    }

    /// Counts the descriptors open now, for a binding pass.
    mutating func startBinding() {
        bindRoom = available()
        skipped = 0
        firstSkipped = nil
    }

    /// One more socket left unbound in this pass.
    mutating func countSkipped(service: String, address: String) {
        if skipped == 0 { firstSkipped = (service, address) }
        skipped += 1
    }

    /// False when binding one more socket would eat into the reserve.
    var hasRoomToBind: Bool { (bindRoom ?? 1) > 0 }

    /// One more socket bound.
    mutating func countBound() {
        if let room = bindRoom { bindRoom = room - 1 }
    }
}
