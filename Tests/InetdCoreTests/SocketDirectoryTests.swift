import Foundation
import Glibc
import Testing
@testable import InetdCore

/// Issue 19, item 5: a unix socket's directory and its parents are walked
/// from "/" without following symlinks and judged as sshd's StrictModes
/// does. The rule and the resolver run on a table (`FakeLookup`); the walk
/// on real directories.
@Suite struct SocketDirectoryTests {
    // MARK: the path

    @Test func pathSplitsIntoDirectoriesAndAName() throws {
        let path = try #require(UnixSocketPath("/run//app/s.sock"))
        #expect(path.components == ["run", "app"])
        #expect(path.name == "s.sock")
        #expect(path.directory == "/run/app")
        #expect(path.directories == ["/", "/run", "/run/app"])
        let top = try #require(UnixSocketPath("/s"))
        #expect(top.directories == ["/"] && top.directory == "/" && top.name == "s")
        for bad in ["relative/s", "/run/", "/run/..", "/run/.", "/run/../etc/s", "/./s", "/"] {
            #expect(UnixSocketPath(bad) == nil, "\(bad)")
        }
    }

    // MARK: the rule

    static func steps(_ kinds: [(String, DirectoryStep.Kind)]) -> [DirectoryStep] {
        kinds.map { DirectoryStep(path: $0.0, kind: $0.1) }
    }
    static let rootDir = DirectoryStep.Kind.directory(owner: 0, mode: 0o755)

    @Test func ruleRefusesSymlinksOtherOwnersAndWritableDirectoriesThatAreNotSticky() {
        func problem(_ last: DirectoryStep.Kind, inetd: UserID = 0) -> String? {
            SocketDirectoryRule.problem(Self.steps([("/", Self.rootDir), ("/srv", Self.rootDir), ("/srv/d", last)]),
                                        inetdUID: inetd)
        }
        #expect(problem(.symlink(target: "/etc")) == "unix socket directory /srv/d is a symlink (to /etc): "
                + "inetd follows no symlink on the way to a socket; name the real directory")
        #expect(problem(.directory(owner: 1000, mode: 0o755))
                == "unix socket directory /srv/d is owned by uid 1000: a socket's directory and its parents must belong to root")
        #expect(problem(.directory(owner: 1000, mode: 0o700), inetd: 1001)
                == "unix socket directory /srv/d is owned by uid 1000: a socket's directory and its parents must "
                + "belong to root or to inetd's user (uid 1001)")
        #expect(problem(.directory(owner: 0, mode: 0o775)) == "unix socket directory /srv/d is writable by its group "
                + "(mode 0775) and not sticky: only root may write a socket's directory and its parents")
        #expect(problem(.directory(owner: 0, mode: 0o757))?.contains("writable by everyone (mode 0757)") == true)
        #expect(problem(.directory(owner: 0, mode: 0o777))?.contains("writable by its group and everyone (mode 0777)") == true)
        #expect(problem(.directory(owner: 1000, mode: 0o1777))?.contains("owned by uid 1000") == true,
                "sticky helps only a directory of root or inetd's user")
        // Accepted: /tmp-like sticky directories of root or inetd's user,
        // and directories only root or inetd's user can write.
        #expect(problem(.directory(owner: 0, mode: 0o1777)) == nil)
        #expect(problem(.directory(owner: 1000, mode: 0o1777), inetd: 1000) == nil)
        #expect(problem(.directory(owner: 1000, mode: 0o700), inetd: 1000) == nil)
        #expect(problem(.directory(owner: 0, mode: 0o2755)) == nil, "setgid is not write")
        // A missing or non-directory step ends the judgement: the bind fails there.
        #expect(problem(.notDirectory) == nil)
        #expect(SocketDirectoryRule.problem(Self.steps([("/", Self.rootDir)]), inetdUID: 0) == nil)
    }

    @Test func aParentIsJudgedLikeTheDirectory() {
        let steps = Self.steps([("/", Self.rootDir), ("/home", .directory(owner: 0, mode: 0o777)),
                                ("/home/x", Self.rootDir)])
        #expect(SocketDirectoryRule.problem(steps, inetdUID: 0)?.hasPrefix("unix socket directory /home is writable") == true)
        let link = Self.steps([("/", Self.rootDir), ("/var", Self.rootDir), ("/var/run", .symlink(target: "/run"))])
        #expect(SocketDirectoryRule.problem(link, inetdUID: 0)?.hasPrefix("unix socket directory /var/run is a symlink (to /run)") == true)
    }

    // MARK: the resolver: an error on the line

    @Test func resolverRefusesTheLineWithItsNumber() {
        var lookup = FakeLookup.root
        lookup.directoryKinds = ["/srv/link": .symlink(target: "/root"), "/srv/shared": .directory(owner: 0, mode: 0o777),
                                 "/srv/alice": .directory(owner: 1000, mode: 0o755),
                                 "/srv/tmp": .directory(owner: 0, mode: 0o1777)]
        let result = resolve("""
            /srv/link/s stream unix nowait root /bin/cat cat
            /srv/shared/s stream unix nowait root /bin/cat cat
            /srv/alice/s stream unix nowait root /bin/cat cat
            /srv/tmp/s stream unix nowait root /bin/cat cat
            /srv/fine/s stream unix nowait root /bin/cat cat
            """, lookup: lookup)
        #expect(result.messages == [
            "/etc/inetd.conf:1: unix socket directory /srv/link is a symlink (to /root): inetd follows no symlink "
                + "on the way to a socket; name the real directory",
            "/etc/inetd.conf:2: unix socket directory /srv/shared is writable by its group and everyone (mode 0777) "
                + "and not sticky: only root may write a socket's directory and its parents",
            "/etc/inetd.conf:3: unix socket directory /srv/alice is owned by uid 1000: a socket's directory and its "
                + "parents must belong to root",
        ])
        #expect(result.services.map(\.entry.service) == ["/srv/tmp/s", "/srv/fine/s"])
    }

    /// Issue 18: a directory that does not exist is an error on the line
    /// (it was left to the bind, retried every 60 s for ever); the rule
    /// itself judges the directories as far as they go.
    @Test func resolverAcceptsInetdsOwnDirectoriesAndRefusesMissingOnes() {
        var lookup = FakeLookup.alice
        lookup.directoryKinds = ["/home/alice": .directory(owner: 1000, mode: 0o700)]
        lookup.missingDirectories = ["/run/later", "/srv"]
        #expect(resolve("/home/alice/s stream unix nowait - /bin/cat cat", lookup: lookup).messages.isEmpty)
        #expect(resolve("/run/later/s stream unix nowait - /bin/cat cat", lookup: lookup).messages
            == ["/etc/inetd.conf:1: unix socket directory /run/later does not exist: inetd makes no directory; "
                + "create it before the line is loaded (at start or on SIGHUP)"])
        #expect(resolve("/srv/app/s stream unix nowait - /bin/cat cat", lookup: lookup).messages
            == ["/etc/inetd.conf:1: unix socket directory /srv/app does not exist (/srv is missing): inetd makes "
                + "no directory; create it before the line is loaded (at start or on SIGHUP)"])
        #expect(SocketDirectoryRule.problem(Self.steps([("/", Self.rootDir), ("/srv", .missing)]), inetdUID: 0) == nil,
                "the bind's own judgement: a missing directory is its ENOENT, retried")
        lookup.directoryKinds["/run"] = .directory(owner: 0, mode: 0o777)
        #expect(resolve("/run/later/s stream unix nowait - /bin/cat cat", lookup: lookup).messages.first?
            .contains("/run is writable by its group and everyone") == true, "an unsafe parent is told first")
        var root = FakeLookup.root
        root.directoryKinds = lookup.directoryKinds
        #expect(resolve("/home/alice/s stream unix nowait - /bin/cat cat", lookup: root).messages.count == 1,
                "alice's directory is refused to a root inetd")
    }

    @Test func resolverRefusesDotComponents() {
        #expect(resolve("/run/../etc/s stream unix nowait root /bin/cat cat").messages
            == ["/etc/inetd.conf:1: unix socket path '/run/../etc/s' must be absolute and end in a name, with no '.' or '..' component"])
        #expect(resolve("/run/./s stream unix nowait root /bin/cat cat").messages.count == 1)
    }

    @Test func cachedLookupWalksEachDirectoryOnce() {
        final class Counting: NameLookup {
            var walks = 0
            let base = FakeLookup.root
            func port(service name: String, proto: String) -> UInt16? { nil }
            func addresses(host: String, family: IPAddress.Family) -> [IPAddress] { [] }
            func user(named name: String) -> UserRecord? { base.user(named: name) }
            func group(named name: String) -> GroupID? { nil }
            func groups(user: String, gid: GroupID) -> [GroupID] { [] }
            func directories(along path: UnixSocketPath) -> [DirectoryStep] {
                walks += 1
                return base.directories(along: path)
            }
            var effectiveUID: UserID { 0 }
            var effectiveGID: GroupID { 0 }
        }
        let counting = Counting()
        let cached = CachedLookup(counting)
        for name in ["a", "b", "c"] { _ = cached.directories(along: UnixSocketPath("/run/app/" + name)!) }
        #expect(counting.walks == 1)
    }

    // MARK: the walk, on real directories

    @Test func walkOpensTheDirectoryWithoutFollowingASymlink() throws {
        var template = Array("/tmp/inetd-walk-XXXXXX".utf8CString)
        let base = String(cString: try #require(mkdtemp(&template)))
        defer { try? FileManager.default.removeItem(atPath: base) }
        #expect(mkdir(base + "/real", 0o750) == 0)
        #expect(chmod(base + "/real", 0o750) == 0)
        #expect(symlink(base + "/real", base + "/link") == 0)

        var steps: [DirectoryStep] = []
        let directory = try SocketDirectory.open(try #require(UnixSocketPath(base + "/real/s")), steps: &steps)
        defer { directory.close() }
        #expect(steps.map(\.path) == UnixSocketPath(base + "/real/s")!.directories)
        #expect(steps.last?.kind == .directory(owner: geteuid(), mode: 0o750))
        #expect(steps.first?.kind == .directory(owner: 0, mode: 0o755), "/ is root's")
        // The descriptor names the directory even once its path is gone.
        #expect(rename(base + "/real", base + "/moved") == 0)
        let created = openat(directory.fd.rawValue, "f", O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
        #expect(created >= 0)
        close(created)
        #expect(access(base + "/moved/f", F_OK) == 0)

        var linked: [DirectoryStep] = []
        let error = #expect(throws: SystemError.self) {
            try SocketDirectory.open(UnixSocketPath(base + "/link/s")!, steps: &linked)
        }
        #expect(error?.errno == ENOTDIR)
        #expect(linked.last == DirectoryStep(path: base + "/link", kind: .symlink(target: base + "/real")))
        #expect(SystemLookup().directories(along: UnixSocketPath(base + "/link/s")!) == linked)

        let missing = SystemLookup().directories(along: UnixSocketPath(base + "/none/deeper/s")!)
        #expect(missing.last == DirectoryStep(path: base + "/none", kind: .missing), "the walk ends on the missing one")
    }

    /// A bind judges the directories again on its own walk: one made
    /// writable after the load (a bind retry comes minutes later) is
    /// refused there, with the rule's words, and no descriptor is left open.
    @Test func bindJudgesTheDirectoriesItWalks() throws {
        var template = Array("/tmp/inetd-bind-XXXXXX".utf8CString)
        let base = String(cString: try #require(mkdtemp(&template)))
        defer { try? FileManager.default.removeItem(atPath: base) }
        #expect(chmod(base, 0o755) == 0)
        #expect(mkdir(base + "/d", 0o755) == 0)
        let path = try #require(UnixSocketPath(base + "/d/s"))
        let directory = try SocketBinder.openDirectory(path)
        directory.close()
        #expect(chmod(base + "/d", 0o777) == 0)
        let failure = #expect(throws: BindFailure.self) { try SocketBinder.openDirectory(path) }
        guard case .unsafeDirectory(let problem)? = failure else {
            Issue.record("\(String(describing: failure))")
            return
        }
        #expect(problem.hasPrefix("unix socket directory \(base)/d is writable by its group and everyone (mode 0777)"))
        let missing = #expect(throws: BindFailure.self) { try SocketBinder.openDirectory(UnixSocketPath(base + "/none/s")!) }
        guard case .system(let error)? = missing else {
            Issue.record("\(String(describing: missing))")
            return
        }
        #expect(error.call == "openat" && error.errno == ENOENT)
    }
}
