@testable import InetdCore
import Testing

// The command line (Invocation.parse).

@Suite("Invocation.parse")
struct InvocationTests {
    func parsed(_ arguments: [String]) -> Invocation? {
        if case .success(let invocation) = Invocation.parse(arguments) { return invocation }
        return nil
    }

    func usageError(_ arguments: [String]) -> String? {
        if case .failure(let error) = Invocation.parse(arguments) { return error.description }
        return nil
    }

    @Test("defaults")
    func defaults() throws {
        let i = try #require(parsed([]))
        #expect(i.action == .serve)
        #expect(!i.verbose)
        #expect(i.notifyFD == nil)
        #expect(i.configPath == "/etc/inetd.conf")
    }

    @Test("an upgrade's command line: the same, less --notify-fd")
    func argumentsForUpgrade() {
        #expect(Invocation.argumentsForUpgrade(["/sbin/inetd", "-d", "--notify-fd", "3", "/etc/inetd.conf"])
                == ["/sbin/inetd", "-d", "/etc/inetd.conf"])
        #expect(Invocation.argumentsForUpgrade(["inetd", "--notify-fd=4", "-E"]) == ["inetd", "-E"])
        #expect(Invocation.argumentsForUpgrade(["inetd", "--", "--notify-fd"]) == ["inetd", "--", "--notify-fd"],
                "after --, a CONFIG of that name")
        // What remains still parses to the same invocation, less the descriptor.
        let kept = Invocation.argumentsForUpgrade(["inetd", "-d", "--notify-fd", "3", "c.conf"])
        #expect(parsed(Array(kept.dropFirst()))?.configPath == "c.conf")
        #expect(parsed(Array(kept.dropFirst()))?.notifyFD == nil)
    }

    @Test("every flag")
    func flags() throws {
        #expect(parsed(["-d"])?.verbose == true)
        #expect(parsed(["--debug"])?.verbose == true)
        #expect(parsed(["--check"])?.action == .check)
        #expect(parsed(["--version"])?.action == .version)
        #expect(parsed(["--help"])?.action == .help)
        #expect(parsed(["-h"])?.action == .help)
        #expect(parsed(["--notify-fd", "3"])?.notifyFD == 3)
        #expect(parsed(["--notify-fd=4"])?.notifyFD == 4)
        #expect(parsed(["--notify-fd", "0"])?.notifyFD == 0)
        let all = try #require(parsed(["-d", "--check", "--notify-fd", "5", "/tmp/inetd.conf"]))
        #expect(all == {
            var i = Invocation()
            i.verbose = true
            i.action = .check
            i.notifyFD = 5
            i.configPath = "/tmp/inetd.conf"
            return i
        }())
    }

    @Test("CONFIG: any position, -, and after --")
    func configPath() {
        #expect(parsed(["inetd.conf.sample"])?.configPath == "inetd.conf.sample")
        #expect(parsed(["inetd.conf.sample", "-d"])?.configPath == "inetd.conf.sample")
        #expect(parsed(["inetd.conf.sample", "-d"])?.verbose == true)
        #expect(parsed(["-"])?.configPath == "-")
        #expect(parsed(["--", "-odd.conf"])?.configPath == "-odd.conf")
        #expect(parsed(["--", "-d"])?.verbose == false)
    }

    @Test("usage errors")
    func usageErrors() {
        #expect(usageError(["-x"]) == "unknown option '-x'")
        #expect(usageError(["--frobnicate"]) == "unknown option '--frobnicate'")
        #expect(usageError(["-dd"]) == "unknown option '-dd'")
        #expect(usageError(["--notify-fd"]) == "--notify-fd needs a descriptor number")
        #expect(usageError(["--notify-fd", "x"]) == "--notify-fd needs a descriptor number")
        #expect(usageError(["--notify-fd", "-1"]) == "--notify-fd needs a descriptor number")
        #expect(usageError(["--notify-fd", "99999999999"]) == "--notify-fd needs a descriptor number")
        #expect(usageError(["--notify-fd=x"]) != nil)
        #expect(usageError(["--notify-fd=-2"]) != nil)
        #expect(usageError(["a.conf", "b.conf"]) == "more than one CONFIG given")
        #expect(usageError(["--", "a.conf", "b.conf"]) == "more than one CONFIG given")
    }

    @Test("usage text names every flag")
    func usageText() {
        for flag in ["-d", "--check", "--notify-fd N", "--version", "--help", "CONFIG"] {
            #expect(Invocation.usage.contains(flag))
        }
        #expect(Invocation.version.hasPrefix("inetd "))
    }

    @Test("--convert xinetd|systemd PATH")
    func convert() {
        #expect(parsed(["--convert", "xinetd", "/etc/xinetd.d"])?.action == .convert(.xinetd, path: "/etc/xinetd.d"))
        #expect(parsed(["--convert", "systemd", "ssh.socket"])?.action == .convert(.systemd, path: "ssh.socket"))
        #expect(usageError(["--convert", "inetd", "x"]) == "--convert needs xinetd or systemd, then a PATH")
        #expect(usageError(["--convert", "xinetd"]) == "--convert needs xinetd or systemd, then a PATH")
        #expect(usageError(["--convert", "xinetd", "a", "b"]) == "--convert takes its PATH, and no CONFIG")
        #expect(usageError(["--convert", "xinetd", "a", "--check"]) == "--convert goes with no other action")
        #expect(Invocation.usage.contains("inetd --convert xinetd|systemd PATH"))
    }
}
