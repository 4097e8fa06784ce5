/// sd_listen_fds(3)'s three variables as inetd reads them at start: how many
/// descriptors, from 3 up, were passed to it and their names. Pure (the
/// values, inetd's pid and its descriptor limit in, a decision out), so
/// that each rule is tested without starting a process.
///
/// libsystemd's rules, with one difference: a LISTEN_FDNAMES with too few or
/// too many names is a warning, not an error that drops every descriptor.
/// inetd matches descriptors to its lines by address, not by name; names
/// only go to the log.
public struct ListenFdsVariables: Equatable, Sendable {
    /// SD_LISTEN_FDS_START.
    public static let firstDescriptor: CInt = 3
    /// What inetd removes from its environment at start, whoever they name.
    public static let variables = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]
    /// The name of a descriptor LISTEN_FDNAMES does not name (systemd's).
    public static let unnamed = "unknown"

    /// Descriptors passed: `firstDescriptor ..< firstDescriptor + count`.
    public private(set) var count = 0
    /// One per descriptor.
    public private(set) var names: [String] = []
    /// What was wrong with the values, in the order found; the caller adds
    /// the descriptors it found closed.
    public internal(set) var problems: [Problem] = []

    public var descriptors: Range<CInt> { Self.firstDescriptor..<Self.firstDescriptor + CInt(count) }

    /// Why some or all of what the variables say is not taken.
    public enum Problem: Equatable, Sendable, CustomStringConvertible {
        /// LISTEN_FDS or LISTEN_FDNAMES without LISTEN_PID.
        case noPID
        case unreadablePID(String)
        /// LISTEN_PID names another process: the descriptors are its, and
        /// inetd merely inherited the variables (a parent that forked).
        case otherPID(String, own: Int32)
        case unreadableCount(String)
        /// More than the descriptor limit can hold: only `kept` are looked at.
        case tooMany(String, kept: Int)
        case nameCount(names: Int, descriptors: Int)
        /// Descriptors in the range that are not open.
        case notOpen([CInt])

        public var description: String {
            switch self {
            case .noPID:
                return "LISTEN_FDS without LISTEN_PID: no descriptor adopted"
            case .unreadablePID(let value):
                return "LISTEN_PID=\(Self.shown(value)) is not a pid: no descriptor adopted"
            case .otherPID(let value, let own):
                return "LISTEN_PID=\(Self.shown(value)) is not inetd's pid \(own): the descriptors are another process's, none adopted"
            case .unreadableCount(let value):
                return "LISTEN_FDS=\(Self.shown(value)) is not a count: no descriptor adopted"
            case .tooMany(let value, let kept):
                return "LISTEN_FDS=\(Self.shown(value)) is past the descriptor limit: fds 3 to \(2 + kept) looked at"
            case .nameCount(let names, let descriptors):
                return "LISTEN_FDNAMES has \(names) names for \(descriptors) descriptors: each name goes to its own "
                    + "descriptor in order, and one without a name is '\(ListenFdsVariables.unnamed)'"
            case .notOpen(let fds):
                let listed = fds.prefix(8).map(String.init).joined(separator: ",")
                return "LISTEN_FDS names descriptors that are not open: \(listed)"
                    + (fds.count > 8 ? " and \(fds.count - 8) more" : "")
            }
        }

        /// A value as the log shows it: a hostile one cut short.
        private static func shown(_ value: String) -> String {
            value.utf8.count <= 24 ? value : String(decoding: value.utf8.prefix(24), as: UTF8.self) + "..."
        }
    }

    /// Reads the variables (nil: unset) for the process `ownPID`, whose
    /// descriptors stop below `descriptorLimit`.
    public init(pid: String?, fds: String?, names: String?, ownPID: Int32, descriptorLimit: Int) {
        guard let pid else {
            if fds != nil || names != nil { problems.append(.noPID) }
            return
        }
        guard let parsedPID = Self.decimal(pid), parsedPID > 0, parsedPID <= Int(Int32.max) else {
            problems.append(.unreadablePID(pid))
            return
        }
        guard parsedPID == Int(ownPID) else {
            problems.append(.otherPID(pid, own: ownPID))
            return
        }
        guard let fds else { return }
        guard Self.isDecimal(fds) else {
            problems.append(.unreadableCount(fds))
            return
        }
        let room = max(0, descriptorLimit - Int(Self.firstDescriptor))
        if let given = Self.decimal(fds), given <= room {
            count = given
        } else {
            count = room
            problems.append(.tooMany(fds, kept: room))
        }
        guard count > 0 else { return }
        guard let names else {
            self.names = Array(repeating: Self.unnamed, count: count)
            return
        }
        // Counted before split: a hostile value of a million colons is not
        // made a million strings.
        let given = names.utf8.reduce(1) { $1 == UInt8(ascii: ":") ? $0 + 1 : $0 }
        var split = names.utf8.split(separator: UInt8(ascii: ":"), maxSplits: count, omittingEmptySubsequences: false)
            .prefix(count).map { String(decoding: $0.prefix(Self.longestName), as: UTF8.self) }
        if given != count {
            problems.append(.nameCount(names: given, descriptors: count))
            split += Array(repeating: Self.unnamed, count: count - split.count)
        }
        self.names = split
    }

    /// sd_listen_fds(3)'s bound on a name; a longer one is cut there, for the log.
    static let longestName = 255

    /// Only ASCII digits, at least one: no sign, no blank (as libsystemd's
    /// safe_atoi refuses what strtol would skip).
    static func isDecimal(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    /// The value of a decimal; nil when it is not one or does not fit.
    static func decimal(_ text: String) -> Int? { isDecimal(text) ? Int(text) : nil }
}
