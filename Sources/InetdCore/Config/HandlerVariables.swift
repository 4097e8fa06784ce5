/// What a handler's environment starts from (SPEC 3), decided without a
/// system call: the caller gives inetd's environment and the handler's
/// user as looked up.
public enum HandlerVariables {
    /// Names inetd sets for a handler, or withholds from it: never inherited
    /// (an inherited `TCPREMOTEIP` would come first in envp and getenv(3)
    /// would return it instead of the real peer), never passed nor set by a
    /// line.
    public static func isReserved(_ name: Substring) -> Bool {
        name == "PROTO" || name == "NOTIFY_SOCKET" || name.hasPrefix("TCP") || name.hasPrefix("UNIX")
            || name.hasPrefix("LISTEN_") || name.hasPrefix("PROXY") || name.hasPrefix("WATCHDOG_")
    }

    /// A name `passenv=` and `env=` take: a letter or `_`, then letters,
    /// digits and `_`, as the shell's.
    public static func isValidName(_ name: Substring) -> Bool {
        guard let first = name.utf8.first, first == UInt8(ascii: "_") || isLetter(first) else { return false }
        return name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || isLetter($0) || ($0 >= 0x30 && $0 <= 0x39) }
    }

    private static func isLetter(_ c: UInt8) -> Bool { (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) }

    /// The handler's user as the password database gives it; nil for a
    /// handler that runs as inetd itself (`-`, or inetd not root), whose
    /// HOME, USER, LOGNAME and SHELL are inetd's own.
    public struct User: Equatable, Sendable {
        public var name: String
        public var home: String
        public var shell: String

        public init(name: String, home: String, shell: String) {
            self.name = name
            self.home = home
            self.shell = shell
        }
    }

    /// PATH when inetd has none: Debian's for root's daemons.
    public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// The base variables of a handler, `NAME=value` each, in a fixed order:
    /// PATH (inetd's), HOME, USER, LOGNAME and SHELL (the handler user's;
    /// inetd's own for `-`), TZ, LANG and LC_* where inetd has them, the
    /// line's `passenv=` names inetd has, then its `env=` settings, which
    /// win over what came before. With `keepAll` (`-E`), inetd's whole
    /// environment instead, then `env=`. Reserved names never appear.
    public static func base(inherited: [String], user: User?, pass: [String], set: [String], keepAll: Bool) -> [String] {
        var values: [(name: Substring, entry: String)] = []
        var index: [Substring: Int] = [:]
        func put(_ entry: String) {
            guard let eq = entry.firstIndex(of: "=") else { return }
            let name = entry[..<eq]
            guard !isReserved(name) else { return }
            if let at = index[name] {
                values[at].entry = entry
            } else {
                index[name] = values.count
                values.append((name, entry))
            }
        }
        var own: [Substring: String] = [:]
        for entry in inherited {
            guard let eq = entry.firstIndex(of: "=") else { continue }
            own[entry[..<eq]] = entry
        }
        if keepAll {
            for entry in inherited { put(entry) }
        } else {
            put(own["PATH"] ?? "PATH=" + defaultPath)
            if let user {
                put("HOME=" + user.home)
                put("USER=" + user.name)
                put("LOGNAME=" + user.name)
                put("SHELL=" + (user.shell.isEmpty ? "/bin/sh" : user.shell))
            } else {
                for name in ["HOME", "USER", "LOGNAME", "SHELL"] { if let entry = own[Substring(name)] { put(entry) } }
            }
            for name in ["TZ", "LANG", "LANGUAGE"] { if let entry = own[Substring(name)] { put(entry) } }
            for entry in inherited where entry.hasPrefix("LC_") { put(entry) }
            for name in pass { if let entry = own[Substring(name)] { put(entry) } }
        }
        for entry in set { put(entry) }
        return values.map(\.entry)
    }
}
