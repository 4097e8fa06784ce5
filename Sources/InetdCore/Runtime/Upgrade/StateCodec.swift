/// The byte form of what one image of inetd hands the next across an
/// upgrade (`UpgradeState`): little-endian integers of fixed width and
/// length-prefixed lists, read back with every length checked against
/// what is left, so that a short, long or forged state is an error and
/// never a crash.
struct StateWriter {
    private(set) var bytes: [UInt8] = []

    mutating func put<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func put(_ flag: Bool) { put(UInt8(flag ? 1 : 0)) }

    /// nil as -1: every time the state carries is a monotonic instant,
    /// which is never negative.
    mutating func put(instant: Int64?) { put(instant ?? -1) }

    mutating func put(_ raw: [UInt8]) {
        put(UInt32(raw.count))
        bytes.append(contentsOf: raw)
    }

    mutating func put(_ text: String) { put(Array(text.utf8)) }

    mutating func put<Element>(_ list: [Element], _ each: (inout StateWriter, Element) -> Void) {
        put(UInt32(list.count))
        for element in list { each(&self, element) }
    }
}

/// Why a handed-over state was not taken.
enum StateDecodingError: Error, Equatable, CustomStringConvertible {
    /// Not a state of ours, or one of another version.
    case notAState
    /// It ends before a field it announces.
    case truncated
    /// A field holds what no image writes (a flag of 2, invalid UTF-8).
    case invalid(String)
    /// Bytes are left after the last field.
    case trailingBytes(Int)

    var description: String {
        switch self {
        case .notAState: "not an upgrade state of this version"
        case .truncated: "truncated"
        case .invalid(let what): "invalid \(what)"
        case .trailingBytes(let count): "\(count) bytes after the end"
        }
    }
}

struct StateReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    mutating func get<T: FixedWidthInteger>(_: T.Type = T.self) throws(StateDecodingError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw .truncated }
        var value = T.zero
        for index in 0..<size { value |= T(truncatingIfNeeded: bytes[offset + index]) << (8 * index) }
        offset += size
        return value
    }

    mutating func getFlag() throws(StateDecodingError) -> Bool {
        switch try get(UInt8.self) {
        case 0: return false
        case 1: return true
        default: throw .invalid("flag")
        }
    }

    mutating func getInstant() throws(StateDecodingError) -> Int64? {
        let raw = try get(Int64.self)
        guard raw >= -1 else { throw .invalid("instant") }
        return raw == -1 ? nil : raw
    }

    mutating func getBytes() throws(StateDecodingError) -> [UInt8] {
        let count = Int(try get(UInt32.self))
        guard remaining >= count else { throw .truncated }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    mutating func getText() throws(StateDecodingError) -> String {
        let raw = try getBytes()
        guard let text = String(validating: raw, as: UTF8.self) else { throw .invalid("text") }
        return text
    }

    /// A list whose every element takes at least `minimumSize` bytes: a
    /// count the rest cannot hold is refused before anything is reserved.
    mutating func getList<Element>(minimumSize: Int,
                                   _ each: (inout StateReader) throws(StateDecodingError) -> Element)
        throws(StateDecodingError) -> [Element] {
        let count = Int(try get(UInt32.self))
        guard count <= remaining / max(1, minimumSize) else { throw .truncated }
        var list: [Element] = []
        list.reserveCapacity(count)
        for _ in 0..<count { list.append(try each(&self)) }
        return list
    }

    func finish() throws(StateDecodingError) {
        guard remaining == 0 else { throw .trailingBytes(remaining) }
    }
}
