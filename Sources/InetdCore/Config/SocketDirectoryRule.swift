/// A unix socket path as inetd uses it: the directories it walks from "/",
/// one component at a time, and the name it binds, removes and changes in
/// the last of them. Nil for a path inetd cannot walk that way: a "." or
/// ".." component, or no name after the last "/".
public struct UnixSocketPath: Equatable, Sendable {
    /// The path as configured.
    public let path: String
    /// The directory components, "/" not included: ["run", "app"] for
    /// /run/app/s. Empty components (a doubled "/") are dropped.
    public let components: [String]
    public let name: String

    public init?(_ path: String) {
        guard path.hasPrefix("/") else { return nil }
        var parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        guard let last = parts.popLast(), !last.isEmpty, last != ".", last != ".." else { return nil }
        parts.removeAll { $0.isEmpty }
        guard !parts.contains(where: { $0 == "." || $0 == ".." }) else { return nil }
        self.path = path
        components = parts
        name = last
    }

    /// The socket's directory as a path: "/" or "/run/app".
    public var directory: String { "/" + components.joined(separator: "/") }

    /// "/", "/run", "/run/app": each directory the walk opens, in order.
    public var directories: [String] {
        var paths = ["/"]
        var current = ""
        for component in components {
            current += "/" + component
            paths.append(current)
        }
        return paths
    }
}

/// One directory on a unix socket's path, as `lstat(2)` finds it (never
/// through a symlink).
public struct DirectoryStep: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        /// A directory: its owner and its mode bits (sticky included).
        case directory(owner: UserID, mode: UInt32)
        /// A symlink, and what it points to (as readlink gives it).
        case symlink(target: String)
        /// Anything else.
        case notDirectory
        /// Nothing by that name: the walk ends there.
        case missing
    }

    public var path: String
    public var kind: Kind

    public init(path: String, kind: Kind) {
        self.path = path
        self.kind = kind
    }
}

/// Whether inetd may bind, change and remove a unix socket in a directory,
/// judged on the directories from "/" down to the socket's own: sshd's
/// StrictModes. Each must be a real directory (no symlink), owned by root
/// or by inetd's user, and writable by nobody else: not group- or
/// world-writable, unless sticky (then others may add entries but not
/// remove or rename the ones they do not own, as in /tmp). Anyone who could
/// rename or replace a directory on the way could make inetd's socket (mode
/// 0666 by default) appear, or its removal happen, in another directory.
public enum SocketDirectoryRule {
    static let sticky: UInt32 = 0o1000
    static let groupWrite: UInt32 = 0o020
    static let otherWrite: UInt32 = 0o002

    /// The first reason `steps` (from "/" down, as far as they exist) are
    /// not a safe place for a socket; nil when they are. Steps that end
    /// early (a directory missing) are judged as far as they go: the bind
    /// fails on the missing one and is retried (a load refuses the line
    /// first, with `missing`).
    public static func problem(_ steps: [DirectoryStep], inetdUID: UserID) -> String? {
        for step in steps {
            switch step.kind {
            case .symlink(let target):
                return "unix socket directory \(step.path) is a symlink (to \(target)): inetd follows no symlink "
                    + "on the way to a socket; name the real directory"
            case .notDirectory, .missing:
                return nil  // the bind fails with ENOTDIR or ENOENT, logged and retried
            case .directory(let owner, let mode):
                if owner != 0 && owner != inetdUID {
                    return "unix socket directory \(step.path) is owned by uid \(owner): a socket's directory "
                        + "and its parents must belong to root\(inetdUID == 0 ? "" : " or to inetd's user (uid \(inetdUID))")"
                }
                let writers = mode & (groupWrite | otherWrite)
                if writers != 0 && mode & sticky == 0 {
                    let who = writers == groupWrite ? "its group" : writers == otherWrite ? "everyone" : "its group and everyone"
                    return "unix socket directory \(step.path) is writable by \(who) (mode \(octal(mode))) and not "
                        + "sticky: only root\(inetdUID == 0 ? "" : " and inetd's user") may write a socket's directory "
                        + "and its parents"
                }
            }
        }
        return nil
    }

    /// Why a load refuses a socket whose directory does not exist; nil when
    /// the walk found no missing directory. The load says so on the line
    /// (at --check, start and reload) rather than leaving it to the bind:
    /// inetd makes no directory, and a bind that can never succeed would
    /// only be retried every 60 s in the log. A directory removed after the
    /// load is the bind's failure, retried as any other.
    public static func missing(_ steps: [DirectoryStep], path: UnixSocketPath) -> String? {
        guard let last = steps.last, last.kind == .missing else { return nil }
        let which = last.path == path.directory ? "" : " (\(last.path) is missing)"
        return "unix socket directory \(path.directory) does not exist\(which): inetd makes no directory; "
            + "create it before the line is loaded (at start or on SIGHUP)"
    }

    /// 0755, 01777.
    static func octal(_ mode: UInt32) -> String {
        let digits = String(mode & 0o7777, radix: 8)
        return "0" + String(repeating: "0", count: max(0, 3 - digits.count)) + digits
    }
}
