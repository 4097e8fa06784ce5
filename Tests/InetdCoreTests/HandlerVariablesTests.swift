import Testing
@testable import InetdCore

/// A handler's base environment (SPEC 3), decided without a system call.
@Suite struct HandlerVariablesTests {
    let inherited = ["PATH=/usr/bin:/bin", "HOME=/root", "USER=root", "LOGNAME=root", "SHELL=/bin/bash",
                     "TZ=UTC", "LANG=C.UTF-8", "LC_TIME=C", "SECRET=hunter2", "SITE=lab", "TCPREMOTEIP=10.6.6.6",
                     "NOTIFY_SOCKET=/run/x", "WATCHDOG_USEC=1000", "LISTEN_FDS=2", "PROXYREMOTEIP=10.8.8.8"]
    let nobody = HandlerVariables.User(name: "nobody", home: "/nonexistent", shell: "/usr/sbin/nologin")

    @Test func theUsersOwnAndNothingElse() {
        let base = HandlerVariables.base(inherited: inherited, user: nobody, pass: [], set: [], keepAll: false)
        #expect(base == ["PATH=/usr/bin:/bin", "HOME=/nonexistent", "USER=nobody", "LOGNAME=nobody",
                         "SHELL=/usr/sbin/nologin", "TZ=UTC", "LANG=C.UTF-8", "LC_TIME=C"])
    }

    /// inetd's own identity (`-`): its own HOME, USER, LOGNAME and SHELL.
    @Test func inetdsOwnIdentity() {
        let base = HandlerVariables.base(inherited: inherited, user: nil, pass: [], set: [], keepAll: false)
        #expect(base == ["PATH=/usr/bin:/bin", "HOME=/root", "USER=root", "LOGNAME=root", "SHELL=/bin/bash",
                         "TZ=UTC", "LANG=C.UTF-8", "LC_TIME=C"])
    }

    @Test func passAndSet() {
        let base = HandlerVariables.base(inherited: inherited, user: nobody, pass: ["SITE", "ABSENT", "TCPREMOTEIP"],
                                         set: ["MODE=a=b", "TZ=Europe/Paris", "LISTEN_FDS=9"], keepAll: false)
        #expect(base.contains("SITE=lab"))
        #expect(!base.contains { $0.hasPrefix("ABSENT") || $0.hasPrefix("TCP") || $0.hasPrefix("LISTEN_") })
        #expect(base.contains("MODE=a=b"))
        #expect(base.contains("TZ=Europe/Paris") && !base.contains("TZ=UTC"), "env= wins, in place")
    }

    @Test func noPathGetsTheDefaultAndAnEmptyShellIsSh() {
        let base = HandlerVariables.base(inherited: [], user: HandlerVariables.User(name: "x", home: "/home/x", shell: ""),
                                         pass: [], set: [], keepAll: false)
        #expect(base == ["PATH=" + HandlerVariables.defaultPath, "HOME=/home/x", "USER=x", "LOGNAME=x", "SHELL=/bin/sh"])
    }

    @Test func keepAllIsEverythingButWhatInetdSets() {
        let base = HandlerVariables.base(inherited: inherited, user: nobody, pass: [], set: ["MODE=1"], keepAll: true)
        #expect(base == ["PATH=/usr/bin:/bin", "HOME=/root", "USER=root", "LOGNAME=root", "SHELL=/bin/bash", "TZ=UTC",
                         "LANG=C.UTF-8", "LC_TIME=C", "SECRET=hunter2", "SITE=lab", "MODE=1"])
    }

    @Test(arguments: [
        ("passenv=1X", "passenv= takes a variable name"),
        ("passenv=A-B", "passenv= takes a variable name"),
        ("passenv=TCPREMOTEIP", "passenv= cannot give TCPREMOTEIP: inetd sets it"),
        ("env=PROTO=x", "env= cannot give PROTO"),
        ("env=NOTIFY_SOCKET=/x", "env= cannot give NOTIFY_SOCKET"),
        ("env=NOEQUALS", "env takes NAME=VALUE"),
        ("env==x", "env= takes a variable name"),
    ])
    func badNamesAreErrors(option: String, message: String) {
        let text = failure("7007 stream tcp nowait,\(option) nobody /bin/cat cat")
        #expect(text.contains(message), "\(text)")
    }

    @Test func notOnABuiltin() {
        #expect(failure("echo stream tcp nowait,env=A=1 nobody internal").contains("do not apply to a built-in"))
    }

    @Test func optionsParseAndList() {
        guard let e = entry("7007 stream tcp nowait,passenv=SITE,env=MODE=a=b,env=EMPTY= nobody /bin/cat cat") else { return }
        #expect(e.options.passEnvironment == ["SITE"])
        #expect(e.options.setEnvironment == ["MODE=a=b", "EMPTY="])
        #expect(NormalizedTable.waitField(e).hasSuffix("passenv=SITE,env=MODE=a=b,env=EMPTY="))
    }
}
