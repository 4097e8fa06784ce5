@testable import InetdCore
import Testing

// What the tests of the inetd.conf grammar, the resolver and the --check
// listing share: a name service from a table, and parse and resolve helpers
// that record an issue where a line does not give what the test expects.
//
// Lines marked "origin:" in these tests are copied unchanged (tabs included)
// from the file named.
//
// `@testable`: UserRecord and Identity have no public initializer.

/// A name service from a table: no NSS, no /etc/services, no DNS.
struct FakeLookup: NameLookup {
    var ports: [String: UInt16] = [
        "echo/tcp": 7, "echo/udp": 7, "discard/tcp": 9, "discard/udp": 9,
        "daytime/tcp": 13, "daytime/udp": 13, "chargen/tcp": 19, "chargen/udp": 19,
        "ftp/tcp": 21, "ssh/tcp": 22, "telnet/tcp": 23, "smtp/tcp": 25,
        "time/tcp": 37, "time/udp": 37, "bootps/udp": 67, "tftp/udp": 69, "finger/tcp": 79,
        "pop3/tcp": 110, "ident/tcp": 113, "auth/tcp": 113, "netbios-ns/udp": 137,
        "netbios-ssn/tcp": 139, "imap2/tcp": 143, "comsat/udp": 512, "biff/udp": 512,
        "login/tcp": 513, "shell/tcp": 514, "ntalk/udp": 518, "uucp/tcp": 540,
        "swat/tcp": 901, "tcpmux/tcp": 1,
    ]
    var hosts: [String: [String]] = [
        "localhost": ["127.0.0.1", "::1"],
        "v4only.example": ["192.0.2.10"],
        "v6only.example": ["2001:db8::10"],
    ]
    var users: [String: UserRecord] = [:]
    var groupIDs: [String: GroupID] = [
        "root": 0, "wheel": 0, "daemon": 1, "tty": 5, "kmem": 15, "news": 9, "staff": 50,
        "telnetd": 104, "alice": 1000, "nogroup": 65534,
    ]
    /// Supplementary groups by user, as the group database lists them.
    var memberships: [String: [GroupID]] = ["alice": [50], "root": [0, 1, 15]]
    var effectiveUID: UserID = 0
    var effectiveGID: GroupID = 0
    /// Directories on unix socket paths, by path; any other is root's, 0755.
    var directoryKinds: [String: DirectoryStep.Kind] = [:]
    /// Directories that do not exist (the walk ends on them, as `.missing`).
    var missingDirectories: Set<String> = []

    init(uid: UserID = 0, gid: GroupID = 0) {
        effectiveUID = uid
        effectiveGID = gid
        for (name, uid, gid) in [("root", 0, 0), ("daemon", 1, 1), ("news", 9, 9), ("nobody", 65534, 65534),
                                 ("_fingerd", 101, 101), ("_identd", 102, 102), ("identd", 103, 65534),
                                 ("telnetd", 104, 104), ("tty", 105, 5), ("qmaild", 106, 106),
                                 ("alice", 1000, 1000), ("bob", 1001, 1001), ("odd.name", 1500, 1500)]
            as [(String, UserID, GroupID)] {
            users[name] = UserRecord(name: name, uid: uid, gid: gid)
        }
    }

    static let root = FakeLookup()
    /// inetd started by alice, not root.
    static let alice = FakeLookup(uid: 1000, gid: 1000)

    func port(service name: String, proto: String) -> UInt16? { ports["\(name)/\(proto)"] }

    func addresses(host: String, family: IPAddress.Family) -> [IPAddress] {
        (hosts[host] ?? []).compactMap { IPAddress(literal: $0) }.filter { $0.family == family }
    }

    func user(named name: String) -> UserRecord? { users[name] }
    func group(named name: String) -> GroupID? { groupIDs[name] }

    func groups(user: String, gid: GroupID) -> [GroupID] {
        var list = memberships[user] ?? []
        if !list.contains(gid) { list.append(gid) }
        return list
    }

    func directories(along path: UnixSocketPath) -> [DirectoryStep] {
        var steps: [DirectoryStep] = []
        for directory in path.directories {
            if missingDirectories.contains(directory) {
                steps.append(DirectoryStep(path: directory, kind: .missing))
                break
            }
            let kind = directoryKinds[directory] ?? .directory(owner: 0, mode: 0o755)
            steps.append(DirectoryStep(path: directory, kind: kind))
            guard case .directory = kind else { break }
        }
        return steps
    }
}

let file = "/etc/inetd.conf"

func parse(_ text: String) -> ConfigParser.Result {
    ConfigParser(file: file).parse(text)
}

/// The one entry a valid line gives; records an issue otherwise.
func entry(_ line: String, sourceLocation: SourceLocation = #_sourceLocation) -> ServiceEntry? {
    let result = parse(line)
    #expect(result.diagnostics.isEmpty, "\(line): \(result.diagnostics)", sourceLocation: sourceLocation)
    #expect(result.entries.count == 1, "\(line)", sourceLocation: sourceLocation)
    return result.entries.first
}

/// The diagnostic an invalid line gives, as printed: `FILE:LINE: message`.
func failure(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> String {
    let result = parse(text)
    #expect(result.entries.isEmpty, "\(text) should not parse", sourceLocation: sourceLocation)
    #expect(result.diagnostics.count == 1, "\(text): \(result.diagnostics)", sourceLocation: sourceLocation)
    return result.diagnostics.first.map { "\($0)" } ?? ""
}

struct Resolved {
    var services: [Service]
    var diagnostics: [Diagnostic]
    var messages: [String] { diagnostics.map(\.description) }
    var endpoints: [String] { services.flatMap(\.endpoints).map(\.description) }
}

func resolve(_ text: String, lookup: FakeLookup = .root) -> Resolved {
    let parsed = parse(text)
    let resolved = ServiceResolver(file: file, lookup: lookup).resolve(parsed.entries)
    return Resolved(services: resolved.services,
                    diagnostics: (parsed.diagnostics + resolved.diagnostics).sorted { $0.line < $1.line })
}

/// The one service a line gives with a root inetd; records an issue otherwise.
func service(_ line: String, lookup: FakeLookup = .root,
             sourceLocation: SourceLocation = #_sourceLocation) -> Service? {
    let result = resolve(line, lookup: lookup)
    #expect(result.diagnostics.isEmpty, "\(line): \(result.messages)", sourceLocation: sourceLocation)
    #expect(result.services.count == 1, "\(line)", sourceLocation: sourceLocation)
    return result.services.first
}

func range(_ text: String) -> AddressRange {
    let parts = text.split(separator: "/").map(String.init)
    let address = IPAddress(literal: parts[0])!
    return AddressRange(bytes: address.bytes, prefix: Int(parts[1])!)
}
