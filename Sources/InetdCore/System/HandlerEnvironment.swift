import Glibc
import _InetdSystem

/// True when `entry` (`NAME=value`, or a bare `NAME`) names a variable that
/// inetd sets, or withholds, for its handlers.
func isSetForHandlers(_ entry: String) -> Bool {
    HandlerVariables.isReserved(entry.firstIndex(of: "=").map { entry[..<$0] } ?? entry[...])
}

/// The room per-handler variables are written into: one buffer for every
/// environment, since the daemon spawns one child at a time from one
/// thread. It grows, once, for a handler whose variables do not fit (a
/// `wait,listen-fds` line with many sockets and a long `name=`).
final class VariableScratch {
    fileprivate var bytes: UnsafeMutablePointer<UInt8>
    /// Room for the per-handler variables: the UCSPI ones, the unix peer's
    /// ids, and LISTEN_FDNAMES with one name per socket.
    fileprivate var capacity = 4096
    /// Past this, exec would refuse the variables anyway (MAX_ARG_STRLEN is
    /// 128 KiB for one string).
    static let maxCapacity = 256 << 10

    init() { bytes = .allocate(capacity: capacity) }
    deinit { bytes.deallocate() }

    fileprivate func grow(to wanted: Int) -> Bool {
        guard capacity < Self.maxCapacity else { return false }
        bytes.deallocate()
        capacity = min(max(capacity * 2, wanted + 1), Self.maxCapacity)
        bytes = .allocate(capacity: capacity)
        return true
    }
}

/// A handler's environment: its base variables as C strings made once per
/// load (`HandlerVariables.base`), and the envp array a spawn fills in with
/// the per-handler variables. Services whose base is the same share one.
/// A spawn copies every string into its child's slot, so a reload may drop
/// an environment while a child of it is still setting up.
final class HandlerEnvironment {
    private let envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    private let baseCount: Int
    private let scratch: VariableScratch
    static let extraSlots = 12

    init(_ variables: [String], scratch: VariableScratch = VariableScratch()) {
        baseCount = variables.count
        self.scratch = scratch
        envp = .allocate(capacity: baseCount + Self.extraSlots + 1)
        for (i, variable) in variables.enumerated() { envp[i] = strdup(variable) }
        envp[baseCount] = nil
    }

    deinit {
        for i in 0..<baseCount { free(envp[i]) }
        envp.deallocate()
    }

    /// The leading envp entries a child may read in place instead of from
    /// its copy: none, since an environment lives only as long as its load.
    var sharedCount: Int { 0 }

    /// Calls `body` with envp holding the base variables plus what `fill`
    /// writes, and the entry reserved for LISTEN_PID if `fill` reserved one;
    /// nil when that does not fit.
    func with<R>(_ fill: (inout VariableWriter) -> Void,
                 _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>, VariableWriter.Reserved?) -> R) -> R? {
        defer { envp[baseCount] = nil }
        while true {
            var writer = VariableWriter(envp: envp, first: baseCount, slots: Self.extraSlots,
                                        scratch: scratch.bytes, capacity: scratch.capacity)
            fill(&writer)
            if writer.overflowed {
                guard !writer.outOfSlots, scratch.grow(to: writer.wanted) else { return nil }
                continue
            }
            envp[writer.slot] = nil
            return body(envp, writer.reserved)
        }
    }
}

/// Writes `NAME=value` entries into the shared scratch buffer and envp
/// slots, formatting addresses and ports straight from `sockaddr` bytes.
struct VariableWriter {
    fileprivate let envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    fileprivate var slot: Int
    private let lastSlot: Int
    private let scratch: UnsafeMutablePointer<UInt8>
    private let capacity: Int
    private var used = 0
    fileprivate var overflowed = false
    /// Every envp slot was taken: more room would not help.
    fileprivate var outOfSlots = false
    /// Bytes asked for so far, fitting or not: the room a retry needs.
    fileprivate var wanted = 0
    fileprivate var reserved: Reserved?

    /// An entry the child fills in after clone (LISTEN_PID: only the child
    /// knows its pid), with its room counting the terminating NUL.
    struct Reserved {
        var entry: UnsafeMutablePointer<CChar>
        var capacity: Int
    }

    fileprivate init(envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>, first: Int, slots: Int,
                     scratch: UnsafeMutablePointer<UInt8>, capacity: Int) {
        self.envp = envp
        slot = first
        lastSlot = first + slots
        self.scratch = scratch
        self.capacity = capacity
    }

    mutating func add(_ name: StaticString, _ value: StaticString) {
        guard let start = begin(name) else { return }
        append(value.utf8Start, value.utf8CodeUnitCount)
        finish(start)
    }

    /// `NAME=value` from bytes.
    mutating func add(_ name: StaticString, bytes value: [UInt8]) {
        guard let start = begin(name) else { return }
        value.withUnsafeBufferPointer { append($0.baseAddress!, $0.count) }
        finish(start)
    }

    /// `NAME=value` with `value` written `count` times, `:`-separated
    /// (LISTEN_FDNAMES: one name per descriptor).
    mutating func add(_ name: StaticString, repeating value: [UInt8], count: Int) {
        guard let start = begin(name) else { return }
        for i in 0..<count {
            if i > 0 { append(byte: UInt8(ascii: ":")) }
            value.withUnsafeBufferPointer { append($0.baseAddress!, $0.count) }
        }
        finish(start)
    }

    /// `NAME=` and a decimal number.
    mutating func add(_ name: StaticString, number: Int) {
        guard let start = begin(name) else { return }
        appendDecimal(number)
        finish(start)
    }

    /// An entry of `capacity` bytes for the child to write (LISTEN_PID);
    /// it holds `NAME=` until then.
    mutating func reserve(_ name: StaticString, capacity: Int) {
        guard let start = begin(name) else { return }
        let end = start + capacity - 1
        guard end < self.capacity else {
            overflowed = true
            return
        }
        (scratch + used).update(repeating: 0, count: end - used)
        used = end
        finish(start)
        reserved = Reserved(entry: UnsafeMutableRawPointer(scratch + start).assumingMemoryBound(to: CChar.self),
                            capacity: capacity)
    }

    /// `NAMEIP=...` and `NAMEPORT=...` from an IPv4 or IPv6 `sockaddr`; an
    /// IPv4-mapped IPv6 address is written as IPv4.
    mutating func add(address ipName: StaticString, port portName: StaticString, from raw: UnsafeRawBufferPointer) {
        guard raw.count >= MemoryLayout<sockaddr_in>.size else { return }
        let base = raw.baseAddress!
        if let start = begin(ipName) {
            let room = capacity - used
            let text = UnsafeMutableRawPointer(scratch + used).assumingMemoryBound(to: CChar.self)
            let (family, offset) = Self.isMappedIPv4(raw) ? (AF_INET, 20) : Self.isIPv6(raw) ? (AF_INET6, 8) : (AF_INET, 4)
            if let length = writeAddressText(family: family, address: base + offset, into: text, capacity: room) {
                used += length
            } else {
                overflowed = true
            }
            finish(start)
        }
        if let start = begin(portName) {
            appendDecimal(Int(UInt16(bigEndian: base.loadUnaligned(fromByteOffset: 2, as: UInt16.self))))
            finish(start)
        }
    }

    private mutating func appendDecimal(_ number: Int) {
        var value = number.magnitude
        if number < 0 { append(byte: UInt8(ascii: "-")) }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for 20 digits
        var count = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[count] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
                count += 1
            } while value > 0
            for i in (0..<count).reversed() { append(byte: d[i]) }
        }
    }

    static func isIPv6(_ raw: UnsafeRawBufferPointer) -> Bool {
        raw.load(as: sa_family_t.self) == sa_family_t(AF_INET6)
    }

    static func isMappedIPv4(_ raw: UnsafeRawBufferPointer) -> Bool {
        guard isIPv6(raw), raw.count >= 24 else { return false }
        for i in 8..<18 where raw[i] != 0 { return false }
        return raw[18] == 0xFF && raw[19] == 0xFF
    }

    /// Writes `NAME=`; nil when no slot or room is left.
    private mutating func begin(_ name: StaticString) -> Int? {
        wanted += name.utf8CodeUnitCount + 2
        guard slot < lastSlot else {
            overflowed = true
            outOfSlots = true
            return nil
        }
        guard used + name.utf8CodeUnitCount + 2 < capacity else {
            overflowed = true
            return nil
        }
        let start = used
        append(name.utf8Start, name.utf8CodeUnitCount)
        append(byte: UInt8(ascii: "="))
        return start
    }

    private mutating func append(_ bytes: UnsafePointer<UInt8>, _ count: Int) {
        wanted += count
        guard used + count < capacity else {
            overflowed = true
            return
        }
        (scratch + used).update(from: bytes, count: count)
        used += count
    }

    private mutating func append(byte: UInt8) {
        wanted += 1
        guard used + 1 < capacity else {
            overflowed = true
            return
        }
        scratch[used] = byte
        used += 1
    }

    private mutating func finish(_ start: Int) {
        guard !overflowed else { return }
        scratch[used] = 0
        used += 1
        envp[slot] = UnsafeMutableRawPointer(scratch + start).assumingMemoryBound(to: CChar.self)
        slot += 1
    }
}
