/// What an epoll registration's 64-bit user data names: which table, which
/// slot in it, and the generation of the slot's occupant. A descriptor closed
/// and reused since (a listener removed by a reload, a built-in connection
/// finished) leaves events behind whose generation no longer matches: they
/// are dropped. The one encoding and the one decoding of a token.
struct EventToken: Equatable {
    enum Kind: UInt64 {
        case signals = 0
        case listener = 1
        case connection = 2
        /// The eventfd of children that failed after their spawn (`SpawnReports`).
        case spawnReports = 3
        /// A service's handler stderr (`StderrChannel`).
        case stderr = 4
    }

    var kind: Kind
    var slot: Int
    var generation: UInt32

    /// Bits 61-63: kind; 32-60: generation (29 bits, wrapping); 0-31: slot.
    var rawValue: UInt64 {
        kind.rawValue << 61 | UInt64(generation & Self.generationMask) << 32 | UInt64(UInt32(truncatingIfNeeded: slot))
    }

    init(_ kind: Kind, slot: Int, generation: UInt32) {
        self.kind = kind
        self.slot = slot
        self.generation = generation & Self.generationMask
    }

    init?(rawValue: UInt64) {
        guard let kind = Kind(rawValue: rawValue >> 61) else { return nil }
        self.kind = kind
        slot = Int(rawValue & 0xFFFF_FFFF)
        generation = UInt32(truncatingIfNeeded: rawValue >> 32) & Self.generationMask
    }

    static let generationMask: UInt32 = 0x1FFF_FFFF
    static let signals = EventToken(.signals, slot: 0, generation: 0)
    static let spawnReports = EventToken(.spawnReports, slot: 0, generation: 0)
}
