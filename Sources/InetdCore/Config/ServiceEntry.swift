/// One inetd.conf entry as written, before any name is looked up. The parser
/// makes these; `ServiceResolver` turns them into bindable `Service`s.
public struct ServiceEntry: Equatable, Sendable {
    public var line: Int
    /// Where to listen: `*`, literals or host names. Empty for unix sockets.
    public var hosts: [String]
    /// A service name, a port number, or (unix) an absolute path.
    public var service: String
    public var socketType: SocketType
    public var transport: Transport
    public var wait: Bool
    public var user: String
    public var group: String?
    public var program: Program
    /// argv, argv[0] first.
    public var arguments: [String]

    public init(line: Int, hosts: [String], service: String, socketType: SocketType, transport: Transport,
                sendBuffer: Int? = nil, receiveBuffer: Int? = nil, wait: Bool, limits: Limits = Limits(),
                options: Options = Options(), user: String, group: String? = nil, program: Program,
                arguments: [String]) {
        self.line = line
        self.hosts = hosts
        self.service = service
        self.socketType = socketType
        self.transport = transport
        self.wait = wait
        self.user = user
        self.group = group
        self.program = program
        self.arguments = arguments
        tuning = Tuning.unlessDefault(sendBuffer, receiveBuffer, limits, options)
    }

    /// Takes `other`'s strings and arrays where they are equal to this
    /// entry's: lines that run one program on one address (as generated
    /// files do) then hold one copy of each instead of one per line, for as
    /// long as the services run.
    mutating func share(with other: ServiceEntry) {
        if hosts == other.hosts { hosts = other.hosts }
        if program == other.program { program = other.program }
        if arguments == other.arguments { arguments = other.arguments }
        if user == other.user { user = other.user }
    }

    public var sendBuffer: Int? { tuning?.sendBuffer }
    public var receiveBuffer: Int? { tuning?.receiveBuffer }
    public var limits: Limits { tuning?.limits ?? Limits() }
    public var options: Options { tuning?.options ?? Options() }

    /// Sets the four together (the parser, once a line is read). A plain
    /// method: a settable computed property gets a modify coroutine, whose
    /// frame the debug build allocates with malloc (SeamTests).
    public mutating func setTuning(sendBuffer: Int?, receiveBuffer: Int?, limits: Limits, options: Options) {
        tuning = Tuning.unlessDefault(sendBuffer, receiveBuffer, limits, options)
    }

    /// The buffer sizes, limits and options, which most lines leave at their
    /// defaults: nil then. Inline they made an entry 336 bytes (232 of them
    /// these), held by every service for as long as it runs.
    private var tuning: Tuning?

    private final class Tuning: Equatable, Sendable {
        let sendBuffer: Int?
        let receiveBuffer: Int?
        let limits: Limits
        let options: Options

        private init(_ sendBuffer: Int?, _ receiveBuffer: Int?, _ limits: Limits, _ options: Options) {
            self.sendBuffer = sendBuffer
            self.receiveBuffer = receiveBuffer
            self.limits = limits
            self.options = options
        }

        static func unlessDefault(_ sendBuffer: Int?, _ receiveBuffer: Int?, _ limits: Limits,
                                  _ options: Options) -> Tuning? {
            if sendBuffer == nil, receiveBuffer == nil, limits == Limits(), options == Options() { return nil }
            return Tuning(sendBuffer, receiveBuffer, limits, options)
        }

        static func == (a: Tuning, b: Tuning) -> Bool {
            a === b || (a.sendBuffer == b.sendBuffer && a.receiveBuffer == b.receiveBuffer
                        && a.limits == b.limits && a.options == b.options)
        }
    }
}

/// No String raw value: a raw-valued enum hashes its String, and endpoints
/// are hashed for every socket at every load.
public enum SocketType: Sendable {
    case stream, dgram, seqpacket

    public init?(name: String) {
        switch name {
        case "stream": self = .stream
        case "dgram": self = .dgram
        case "seqpacket": self = .seqpacket
        default: return nil
        }
    }

    public var name: String {
        switch self {
        case .stream: return "stream"
        case .dgram: return "dgram"
        case .seqpacket: return "seqpacket"
        }
    }
}

/// The protocol field: which transport, and which address families.
public struct Transport: Equatable, Sendable {
    public enum Kind: Sendable {
        case tcp, udp, unix

        public var name: String {
            switch self {
            case .tcp: return "tcp"
            case .udp: return "udp"
            case .unix: return "unix"
            }
        }
    }
    public enum Families: Sendable {
        /// `tcp`, `udp`: one IPv4 socket and one IPv6-only socket.
        case both
        case ipv4Only
        case ipv6Only
        /// `tcp46`, `udp46`: one dual-stack IPv6 socket.
        case dualStack
        case none
    }
    public var kind: Kind
    public var families: Families

    public init(kind: Kind, families: Families) {
        self.kind = kind
        self.families = families
    }

    /// The name as written in inetd.conf: `tcp`, `udp6`, `tcp46`, `unix`.
    public var name: String {
        switch families {
        case .both, .none: return kind.name
        case .ipv4Only: return kind.name + "4"
        case .ipv6Only: return kind.name + "6"
        case .dualStack: return kind.name + "46"
        }
    }
}

/// The handler: a program to exec, or a built-in served inside the loop.
public enum Program: Equatable, Sendable {
    case path(String)
    case builtin(String)

    public var isBuiltin: Bool {
        if case .builtin = self { return true }
        return false
    }
}

/// Rate and concurrency limits from `.N`, `/C/R/P` and `,key=value` options.
public struct Limits: Equatable, Sendable {
    /// Concurrent handlers (`max=`, FreeBSD's C); nil means the default.
    public var maxConcurrent: Int?
    /// Spawns per 60 s for the service (`rate=`, OpenBSD's `.N`).
    public var rate: Int?
    /// Connections per source per 60 s (`per-ip-rate=`, FreeBSD's R).
    public var perSourceRate: Int?
    /// Concurrent handlers per source (`per-ip=`, FreeBSD's P).
    public var perSourceConcurrent: Int?
    /// What counts as one source: prefix lengths for IPv4 and IPv6.
    public var sourcePrefixV4 = Limits.defaultSourcePrefixV4
    public var sourcePrefixV6 = Limits.defaultSourcePrefixV6

    public init() {}

    /// The default concurrency cap for a nowait service (systemd's).
    public static let defaultMaxConcurrent = 64
    /// One source for the per-source limits: an IPv4 address, or an IPv6
    /// /64 (a host that rotates its addresses stays in one /64). SPEC 2.
    public static let defaultSourcePrefixV4 = 32
    public static let defaultSourcePrefixV6 = 64
}

/// This project's `,key=value` options.
public struct Options: Equatable, Sendable {
    public var allow: [AddressRange] = []
    public var deny: [AddressRange] = []
    public var listenFDs = false
    public var name: String?
    /// `stderr=`: nil is the default, `log`.
    public var stderr: StderrMode?
    public var backlog: Int?
    public var timeoutSeconds: Int?
    /// `proxy`: a PROXY protocol header is read from the sources
    /// `proxyFrom` names (every source when none is named) before the
    /// connection is judged and served; `proxy=required` refuses a
    /// connection from any other source instead of serving it as itself.
    public var proxy = false
    public var proxyRequired = false
    public var proxyFrom: [AddressRange] = []
    public var proxyTimeoutSeconds: Int?
    /// `passenv=NAME`: variables carried from inetd's environment;
    /// `env=NAME=VALUE`: variables set, as `NAME=VALUE` (SPEC 3).
    public var passEnvironment: [String] = []
    public var setEnvironment: [String] = []
    /// Unix sockets: permission bits and owner, set before the path appears.
    public var mode: UInt32?
    public var ownerUser: String?
    public var ownerGroup: String?

    public init() {}
}

/// Where a spawned handler's stderr goes (`stderr=`, SPEC 3): a socket of
/// its service whose lines inetd logs tagged with the service and the
/// writer's pid (the default), inetd's own stderr unchanged, or the
/// connection (nowait stream only).
public enum StderrMode: String, Equatable, Sendable, CaseIterable {
    case log, inherit, socket
}

/// An IPv4 or IPv6 prefix as in `allow=10.0.0.0/8`.
public struct AddressRange: Equatable, Sendable, CustomStringConvertible {
    public var bytes: [UInt8]
    public var prefix: Int

    public init(bytes: [UInt8], prefix: Int) {
        self.bytes = bytes
        self.prefix = prefix
    }

    public func contains(_ address: [UInt8]) -> Bool {
        guard address.count == bytes.count else { return false }
        var left = prefix
        for i in 0..<bytes.count where left > 0 {
            let bits = min(8, left)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if address[i] & mask != bytes[i] & mask { return false }
            left -= bits
        }
        return true
    }

    public var description: String {
        "\(IPAddress(bytes: bytes)?.description ?? "?")/\(prefix)"
    }
}
