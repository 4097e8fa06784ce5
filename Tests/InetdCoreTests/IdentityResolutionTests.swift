@testable import InetdCore
import Testing

// From user[:group] to numeric ids (ServiceResolver, LoadedConfiguration):
// what a root inetd resolves, what one that is not root refuses, and the
// supplementary groups looked up after binding.

@Suite("resolver: identities")
struct IdentityResolutionTests {
    @Test("the daemon's load leaves supplementary groups for after binding, then each is looked up")
    func groupsLookedUpAfterBinding() throws {
        let parsed = parse("""
            7007 stream tcp nowait alice /bin/cat cat
            7008 stream tcp nowait alice:staff /bin/cat cat
            7009 stream tcp nowait - /bin/cat cat
            """)
        let later = ServiceResolver(file: file, lookup: FakeLookup.root, lookUpGroups: false).resolve(parsed.entries)
        #expect(later.services.map { $0.identity?.groups } == [nil, nil, nil])
        #expect(later.services.map { $0.identity?.uid } == [1000, 1000, nil], "users are still looked up at load")
        LoadedConfiguration.lookUpGroups(later.services, lookup: FakeLookup.root)
        #expect(later.services.map { $0.identity?.groups } == [[50, 1000], [50], nil])
    }

    @Test("root resolves user, group and the user's groups")
    func rootIdentities() throws {
        let alice = try #require(service("7007 stream tcp nowait alice /bin/cat cat"))
        #expect(alice.identity == Identity(user: "alice", uid: 1000, gid: 1000, groups: [50, 1000]))
        let staff = try #require(service("7007 stream tcp nowait alice:staff /bin/cat cat"))
        #expect(staff.identity == Identity(user: "alice", uid: 1000, gid: 50, groups: [50]))
        let dotted = try #require(service("7007 stream tcp nowait alice.staff /bin/cat cat"))
        #expect(dotted.identity == Identity(user: "alice", uid: 1000, gid: 50, groups: [50]))
        // The split is kept, so the listing and logs show user and group.
        #expect(dotted.entry.user == "alice")
        #expect(dotted.entry.group == "staff")
        // A user whose name has a dot is that user, not user.group.
        let odd = try #require(service("7007 stream tcp nowait odd.name /bin/cat cat"))
        #expect(odd.identity?.uid == 1500)
        #expect(odd.identity?.gid == 1500)
        #expect(odd.entry.user == "odd.name")
        #expect(odd.entry.group == nil)
        let own = try #require(service("7007 stream tcp nowait - /bin/cat cat"))
        #expect(own.identity == nil)
        #expect(resolve("7007 stream tcp nowait alice:nosuch /bin/cat cat").messages
            == ["/etc/inetd.conf:1: unknown group 'nosuch'"])
        #expect(resolve("7007 stream tcp nowait alice.nosuch /bin/cat cat").messages
            == ["/etc/inetd.conf:1: unknown group 'nosuch'"])
        #expect(resolve("7007 stream tcp nowait carol /bin/cat cat").messages
            == ["/etc/inetd.conf:1: unknown user 'carol'"])
        #expect(resolve("/run/x.sock stream unix nowait,owner=carol - /bin/cat cat").messages
            == ["/etc/inetd.conf:1: unknown socket owner 'carol'"])
        #expect(resolve("/run/x.sock stream unix nowait,owner=news:nosuch - /bin/cat cat").messages
            == ["/etc/inetd.conf:1: unknown socket group 'nosuch'"])
    }

    @Test("not root: another user is refused clearly; - and its own user work")
    func nonRoot() throws {
        let lookup = FakeLookup.alice
        let refused = resolve("ftp stream tcp nowait root /usr/libexec/ftpd ftpd -l", lookup: lookup)
        #expect(refused.messages
            == ["/etc/inetd.conf:1: cannot run as root: inetd runs as uid 1000, not root (use '-' or that user)"])
        #expect(refused.services.isEmpty)
        #expect(resolve("7007 stream tcp nowait bob /bin/cat cat", lookup: lookup).messages
            == ["/etc/inetd.conf:1: cannot run as bob: inetd runs as uid 1000, not root (use '-' or that user)"])
        #expect(resolve("7007 stream tcp nowait alice:staff /bin/cat cat", lookup: lookup).messages
            == ["/etc/inetd.conf:1: cannot run as alice:staff: inetd runs as uid 1000, not root (use '-' or that user)"])

        let dash = try #require(service("7007 stream tcp nowait - /bin/cat cat", lookup: lookup))
        #expect(dash.identity == nil)
        let self_ = try #require(service("7007 stream tcp nowait alice /bin/cat cat", lookup: lookup))
        #expect(self_.identity == nil)
        let selfGroup = try #require(service("7007 stream tcp nowait alice:alice /bin/cat cat", lookup: lookup))
        #expect(selfGroup.identity == nil)
    }
}
