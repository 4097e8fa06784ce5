import Foundation
import Glibc
import Testing

/// SPEC section 3, the `listen-fds` rows, and sd_listen_fds(3): what a
/// handler on a `wait,listen-fds` or `nowait,listen-fds` line gets, seen by
/// real clients and by the handlers themselves (inetd-probe's `listen-fds`
/// mode, a Python server written to the man page, gunicorn). The unix
/// peer-credential rows of the same table are here too.
///
/// Every line is on loopback. Two sockets come from one line as
/// `127.0.0.1,[::1]:PORT ... tcp`: a `tcp` line binds each address of its
/// list, IPv4 then IPv6, so fd 3 is 127.0.0.1 and fd 4 is ::1.
@Suite struct ListenFdsTests {
    let probe = Binaries.probe

    // MARK: wait,listen-fds

    /// A server written to sd_listen_fds(3) on a two-socket line: it takes
    /// its sockets only because LISTEN_PID is its own pid, finds both as
    /// blocking listening stream sockets on fds 3 and 4 (IPv4 first), fd 0
    /// on /dev/null and fds 1 and 2 on inetd's stderr, and serves a client on
    /// each. After it exits 0, the next clients start a second server, whose
    /// LISTEN_PID is its own again.
    @Test(.enabled(if: Fixtures.python != nil, "no python3 at /usr/bin or /usr/local/bin"))
    func sdListenFdsServerGetsBothLoopbackSockets() throws {
        let port = try freePort()
        let daemon = try Self.start("""
            127.0.0.1,[::1]:\(port) stream tcp wait,listen-fds - \(Fixtures.python!) python3 \(Fixtures.sdListenFdsServer) 2

            """)
        defer { Self.killHandlers(of: daemon) }
        var handlers: [String] = []
        // Round 2 connects IPv6 first: the order of arrival does not matter.
        for (round, hosts) in [["127.0.0.1", "::1"], ["::1", "127.0.0.1"]].enumerated() {
            var pids: [String] = []
            for host in hosts {
                let (text, local) = try Self.exchange(host, port)
                let report = try ProbeReport(text)
                let what = "round \(round + 1), \(host)"
                #expect(report["listen_pid_matches"] == "1", "LISTEN_PID names the server (\(what)): \(text)")
                #expect(report["listen_pid"] == report["pid"], "\(what)")
                #expect(report["listen_fds"] == "2", "LISTEN_FDS counts both sockets of the line (\(what))")
                #expect(report["listen_fdnames"] == "\(port):\(port)",
                        "LISTEN_FDNAMES: the service field without its address, once per fd (\(what))")
                #expect(report["fds"] == "0,1,2,3,4", "no descriptor but 0-2 and the line's sockets (\(what))")
                #expect(report["fd.0.devnull"] == "1", "fd 0 is /dev/null (\(what))")
                #expect(daemon.isServiceStderr(report["fd.1.link"]), "fd 1 is the service's stderr socket (\(what))")
                #expect(report["fd.2.link"] == report["fd.1.link"], "fd 2 is the same socket (\(what))")
                for (fd, family, local) in [(3, "inet", "127.0.0.1:\(port)"), (4, "inet6", "[::1]:\(port)")] {
                    #expect(report["fd.\(fd).issock"] == "1", "fd \(fd) is a socket, S_ISSOCK (\(what))")
                    #expect(report["fd.\(fd).stream"] == "1", "fd \(fd) is SOCK_STREAM (\(what))")
                    #expect(report["fd.\(fd).acceptconn"] == "1", "fd \(fd) listens, SO_ACCEPTCONN (\(what))")
                    #expect(report["fd.\(fd).nonblock"] == "0", "fd \(fd) is handed over blocking (\(what))")
                    #expect(report["fd.\(fd).cloexec"] == "0", "fd \(fd) survives exec (\(what))")
                    #expect(report["fd.\(fd).family"] == family, "fd \(fd)'s family, in line order (\(what))")
                    #expect(report["fd.\(fd).local"] == local, "fd \(fd)'s address (\(what))")
                }
                let v6 = host.contains(":")
                #expect(report["served.fd"] == (v6 ? "4" : "3"), "the client arrived on its family's socket (\(what))")
                #expect(report["served.peer"] == (v6 ? "[::1]:\(local)" : "127.0.0.1:\(local)"), "\(what)")
                #expect(report["ppid"] == "\(daemon.pid)", "inetd started it (\(what))")
                #expect(report.environment["PROTO"] == nil && report.environment["TCPREMOTEIP"] == nil,
                        "no connection variables for a wait handler (\(what))")
                pids.append(report["pid"] ?? "?")
            }
            #expect(Set(pids).count == 1, "one server holds both sockets in round \(round + 1): \(pids)")
            handlers.append(pids[0])
        }
        #expect(Set(handlers).count == 2, "a new server after the first exited: \(handlers)")
        #expect(exitCode(try daemon.stop()) == 0, "\(daemon.log)")
    }

    /// inetd-probe on a two-socket line with `name=`: LISTEN_FDNAMES gives
    /// the name once per fd; the stale LISTEN_* inetd itself inherited never
    /// show; the descriptors and the rest of SPEC 3's clean process hold on
    /// this path as on every other.
    @Test func probeGetsEverySocketOfTheLineWithItsName() throws {
        let port = try freePort()
        let daemon = try Self.start("""
            127.0.0.1,[::1]:\(port) stream tcp wait,listen-fds,name=web - \(probe) probe listen-fds 2

            """, environment: ["LISTEN_FDS": "9", "LISTEN_PID": "1", "LISTEN_FDNAMES": "stale:stale"])
        defer { Self.killHandlers(of: daemon) }
        var pids: Set<Int> = []
        for host in ["127.0.0.1", "::1"] {
            let (text, _) = try Self.exchange(host, port)
            let report = try ProbeReport(text)
            let names = Self.environmentNames(text)
            pids.insert(report.pid)
            #expect(report.environment["LISTEN_PID"] == "\(report.pid)", "\(host)")
            #expect(report.environment["LISTEN_FDS"] == "2", "\(host)")
            #expect(report.environment["LISTEN_FDNAMES"] == "web:web", "name= once per fd (\(host))")
            for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
                #expect(names.filter { $0 == name }.count == 1, "\(name) exactly once, none inherited: \(names)")
            }
            #expect(!text.contains("stale"), "inetd's own LISTEN_* never reach a handler (\(host))")
            #expect(report["fds"] == "0,1,2,3,4", "\(host)")
            #expect(report["fd.0"]?.hasPrefix("/dev/null ") == true, "fd 0 is /dev/null (\(host)): \(report["fd.0"] ?? "")")
            let stderr = report["fd.1"]?.components(separatedBy: " ").first
            #expect(daemon.isServiceStderr(stderr), "fd 1 is the service's stderr socket (\(host))")
            #expect(report["fd.2"]?.components(separatedBy: " ").first == stderr, "fd 2 is the same socket (\(host))")
            for fd in [3, 4] {
                let facts = report["fd.\(fd)"] ?? ""
                #expect(facts.hasPrefix("socket:"), "fd \(fd): \(facts)")
                #expect(facts.contains("nonblock=0"), "fd \(fd) is blocking: \(facts)")
                #expect(facts.contains("cloexec=0"), "fd \(fd): \(facts)")
                #expect(facts.contains("socktype=1"), "fd \(fd) is SOCK_STREAM: \(facts)")
                #expect(facts.contains("listening=1"), "fd \(fd) listens: \(facts)")
            }
            #expect(report["sock.3"] == "inet 127.0.0.1:\(port)", "fd 3 is the IPv4 socket (\(host))")
            #expect(report["sock.4"] == "inet6 [::1]:\(port)", "fd 4 is the IPv6 socket (\(host))")
            #expect(report["served.fd"] == (host.contains(":") ? "4" : "3"), "\(host)")
            #expect(report["sid"] == "\(report.pid)", "a new session (\(host))")
            #expect(report["cwd"] == "/", "\(host)")
            #expect(report["umask"] == "0022", "\(host)")
            #expect(report["sigblk"] == "0000000000000000", "empty signal mask (\(host))")
            #expect(report["sigign"] == "0000000000000000", "every disposition default (\(host))")
            #expect(!names.contains { $0 == "PROTO" || $0.hasPrefix("TCP") || $0.hasPrefix("UNIX") },
                    "no connection variables for a wait handler: \(names)")
        }
        #expect(pids.count == 1, "one handler served both families: \(pids)")
        #expect(exitCode(try daemon.stop()) == 0, "\(daemon.log)")
    }

    /// A `dgram` line: the bound socket on fd 3, the datagram unread, in
    /// blocking mode; one handler per datagram here (the probe answers one
    /// and exits 0), each with its own LISTEN_PID.
    @Test func datagramSocketThroughWaitListenFds() throws {
        let port = try freePort()
        let daemon = try Self.start("127.0.0.1:\(port) dgram udp4 wait,listen-fds - \(probe) probe listen-fds 1\n")
        defer { Self.killHandlers(of: daemon) }
        var pids: Set<Int> = []
        for i in 1...2 {
            let report = try ProbeReport(udpExchange("127.0.0.1", port, send: "ping-\(i)"))
            pids.insert(report.pid)
            #expect(report["datagram"] == "ping-\(i)", "the datagram that woke inetd reached the handler unread")
            #expect(report.environment["LISTEN_PID"] == "\(report.pid)")
            #expect(report.environment["LISTEN_FDS"] == "1")
            #expect(report.environment["LISTEN_FDNAMES"] == "\(port)")
            #expect(report["fds"] == "0,1,2,3")
            #expect(report["fd.0"]?.hasPrefix("/dev/null ") == true, "\(report["fd.0"] ?? "")")
            let facts = report["fd.3"] ?? ""
            #expect(facts.contains("socktype=2") && facts.contains("nonblock=0") && facts.contains("cloexec=0"), "\(facts)")
            #expect(report["sock.3"] == "inet 127.0.0.1:\(port)")
            #expect(report.environment["PROTO"] == nil, "no PROTO for a wait handler")
        }
        #expect(pids.count == 2, "a new handler for the second datagram: \(pids)")
        #expect(exitCode(try daemon.stop()) == 0, "\(daemon.log)")
    }

    /// SPEC 3: connections queue in the backlog while a `wait` handler is
    /// replaced; none is refused. 60 clients at once, half over IPv4 and
    /// half over IPv6, against handlers that each accept 5 and exit 0.
    @Test func waitListenFdsHandlerRestartsWhileClientsQueue() throws {
        let port = try freePort()
        let daemon = try Self.start("""
            127.0.0.1,[::1]:\(port) stream tcp wait,listen-fds - \(probe) probe listen-fds 5

            """)
        defer { Self.killHandlers(of: daemon) }
        let clients = 60
        let outcomes = Outcomes()
        let group = DispatchGroup()
        for i in 0..<clients {
            group.enter()
            Thread {
                defer { group.leave() }
                let host = i % 2 == 0 ? "127.0.0.1" : "::1"
                do {
                    let report = try ProbeReport(tcpExchange(host, port))
                    outcomes.add(pid: report.pid, listenPID: report.environment["LISTEN_PID"] ?? "-",
                                 servedFD: report["served.fd"] ?? "-", v6: host.contains(":"))
                } catch {
                    outcomes.fail("\(host): \(error)")
                }
            }.start()
        }
        #expect(group.wait(timeout: .now() + 90) == .success, "every client finished")
        let result = outcomes.snapshot()
        #expect(result.failures.isEmpty, "no client refused or cut off: \(result.failures)")
        #expect(result.pids.count == clients, "every client got a whole report")
        let perHandler = Dictionary(grouping: result.pids, by: { $0 }).mapValues(\.count)
        #expect(perHandler.count == clients / 5, "\(clients / 5) handlers in turn: \(perHandler)")
        #expect(perHandler.values.allSatisfy { $0 == 5 }, "each handler served 5: \(perHandler)")
        #expect(result.listenPIDsMatch, "each handler's LISTEN_PID was its own pid")
        #expect(result.familiesOnTheirFDs, "IPv4 clients on fd 3, IPv6 clients on fd 4")
        #expect(daemon.count("event=backoff") == 0, "a handler that served and exited 0 is never held back:\n\(daemon.log)")
        #expect(exitCode(try daemon.stop()) == 0, "\(daemon.log)")
    }

    /// gunicorn started by a `wait,listen-fds` line reads LISTEN_FDS itself
    /// (it needs LISTEN_PID == its pid and no --reuse-port; any --bind is then
    /// ignored). `--preload` imports the app in the master before it reads
    /// and unsets the variables, so the app sees what inetd gave the master.
    /// 10 requests over both families reach one master, whose pid is the
    /// LISTEN_PID it was given and whose parent is inetd.
    @Test(.enabled(if: Fixtures.gunicorn != nil,
                   "gunicorn is not installed in .build-venv (.ci/run installs it; offline, pip could not)"))
    func gunicornServesThroughWaitListenFds() throws {
        let gunicorn = Fixtures.gunicorn!
        let port = try freePort()
        let daemon = try Self.start("""
            127.0.0.1,[::1]:\(port) stream tcp wait,listen-fds - \(gunicorn) \
            gunicorn --preload --workers 2 --graceful-timeout 5 \(Fixtures.gunicornExtraFlags) \
            --chdir \(Fixtures.directory) lfds_wsgi_app:app

            """)
        defer { Self.killHandlers(of: daemon) }
        var responses: [ProbeReport] = []
        var workers: Set<String> = []
        for i in 0..<10 {
            let host = i % 2 == 0 ? "127.0.0.1" : "::1"
            let (text, _) = try Self.exchange(host, port, send: "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n", timeout: 30)
            #expect(text.hasPrefix("HTTP/1.0 200") || text.hasPrefix("HTTP/1.1 200"), "request \(i) over \(host): \(text)")
            let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
            let response = try ProbeReport(body)
            responses.append(response)
            if let worker = response["worker"] { workers.insert(worker) }
        }
        let masters = Set(responses.compactMap { $0["master"] })
        #expect(masters.count == 1, "every request reached one master: \(masters)")
        let master = masters.first ?? "?"
        for response in responses {
            #expect(response["import.pid"] == master, "the app was imported in the master (--preload)")
            #expect(response["import.listen_pid"] == master, "the master's LISTEN_PID was its own pid")
            #expect(response["import.listen_fds"] == "2", "LISTEN_FDS=2: both sockets of the line")
            #expect(response["import.listen_fdnames"] == "\(port):\(port)")
            #expect(response["request.listen_pid"] == "-", "gunicorn took the sockets and unset LISTEN_PID")
        }
        #expect(!workers.contains(master) && !workers.isEmpty, "workers answered, not the master: \(workers)")
        #expect(Self.parentOf(master) == "\(daemon.pid)", "the master is the handler inetd started")
        #expect(exitCode(try daemon.stop()) == 0, "inetd stops its wait handler and exits 0:\n\(daemon.log)")
        if let pid = pid_t(master) {
            #expect(!Self.isRunning(pid), "gunicorn's master stopped with inetd")
            if Self.isRunning(pid) { kill(pid, SIGKILL) }
        }
    }

    /// Twenty sockets with a 255-byte name: LISTEN_FDNAMES (5 KiB) is more
    /// than the environment's usual room, which grows for it.
    @Test func manySocketsWithALongNameAreAllHandedOver() throws {
        let port = try freePort()
        let hosts = (1...20).map { "127.0.0.\($0)" }.joined(separator: ",")
        let name = String(repeating: "n", count: 255)
        let daemon = try Self.start("\(hosts):\(port) stream tcp4 wait,listen-fds,name=\(name) - \(probe) probe listen-fds 1\n")
        defer { Self.killHandlers(of: daemon) }
        let report = try ProbeReport(Self.exchange("127.0.0.20", port).text)
        #expect(report.environment["LISTEN_FDS"] == "20")
        #expect(report.environment["LISTEN_FDNAMES"] == Array(repeating: name, count: 20).joined(separator: ":"))
        #expect(report["sock.22"] == "inet 127.0.0.20:\(port)", "the twentieth socket is fd 22")
        #expect(!daemon.log.contains("spawn_failed"))
    }

    /// A reload that adds a socket to a line whose handler holds the first:
    /// the kept socket comes back into the loop when that handler exits, and
    /// the next handler gets both. (The kept listener belongs to the new
    /// line's state; the exit is the old state's.)
    @Test func reloadAddingASocketToAHeldLineKeepsServingIt() throws {
        let port = try freePort()
        let dir = TemporaryDirectory()
        let script = dir.write("slow-probe", "#!/bin/sh\nsleep 1\nexec \(probe) listen-fds 1\n")
        #expect(chmod(script, 0o755) == 0)
        let daemon = try Self.start("127.0.0.1:\(port) stream tcp4 wait,listen-fds - \(script) slow-probe\n")
        defer { Self.killHandlers(of: daemon) }
        let first = try ClientSocket.tcp("127.0.0.1", port)
        try daemon.waitForLog("event=handover")
        daemon.rewriteConfig("127.0.0.1,[::1]:\(port) stream tcp wait,listen-fds - \(script) slow-probe\n")
        try daemon.reload()
        let held = try ProbeReport(first.receiveAll())
        #expect(held.environment["LISTEN_FDS"] == "1", "the first handler started before the reload")
        try daemon.waitForLog("event=exit")
        let (text, _) = try Self.exchange("127.0.0.1", port, timeout: 5)
        let next = try ProbeReport(text)
        #expect(next.environment["LISTEN_FDS"] == "2", "the next handler gets both sockets of the new line: \(text)")
        #expect(next["sock.3"] == "inet 127.0.0.1:\(port)" && next["sock.4"] == "inet6 [::1]:\(port)", "\(text)")
        #expect(try daemon.stop() & 0x7F == 0)
    }

    /// One line, one holder: a reload adds a socket to a line whose handler
    /// holds the first, and a client comes to the new socket first. It
    /// waits in the backlog until that handler exits, and the next handler
    /// gets both sockets. (Before issue 19 a second handler was started for
    /// the new socket, and the first socket went unserved once the first
    /// handler exited, until the second did.)
    @Test func reloadAddingASocketToAHeldLineStartsNoSecondHandler() throws {
        let port = try freePort()
        let daemon = try Self.start("127.0.0.1:\(port) stream tcp4 wait,listen-fds - \(probe) probe listen-fds 2\n")
        defer { Self.killHandlers(of: daemon) }
        let first = try ProbeReport(Self.exchange("127.0.0.1", port).text)
        #expect(first.environment["LISTEN_FDS"] == "1")
        daemon.rewriteConfig("127.0.0.1,127.0.0.2:\(port) stream tcp4 wait,listen-fds - \(probe) probe listen-fds 2\n")
        try daemon.reload()
        let waiting = try ClientSocket.tcp("127.0.0.2", port)
        usleep(300_000)
        #expect(daemon.count("event=handover") == 1, "no second handler while the first holds a socket of the line:\n\(daemon.log)")
        // The first handler's second client: it exits after serving it.
        let second = try ProbeReport(Self.exchange("127.0.0.1", port).text)
        #expect(second["pid"] == first["pid"])
        let next = try ProbeReport(waiting.receiveAll())
        #expect(next["pid"] != first["pid"])
        #expect(next.environment["LISTEN_FDS"] == "2", "the next handler holds both sockets of the line")
        #expect(next["served.fd"] == "4", "and served the client that waited on the new one")
        #expect(try daemon.stop() & 0x7F == 0)
    }

    // MARK: nowait,listen-fds

    /// One connection per handler, on fd 3: LISTEN_FDS=1, LISTEN_FDNAMES
    /// `connection` (systemd's Accept=yes name) or `name=`, plus the TCP
    /// variables of a nowait stream handler; fd 0 is /dev/null.
    /// `stderr=socket` asked for on a `nowait,listen-fds` line puts the
    /// connection on fd 2 too; fd 1 stays inetd's stderr.
    @Test func nowaitListenFdsWithStderrOnTheSocket() throws {
        let port = try freePort()
        let daemon = try Self.start("127.0.0.1:\(port) stream tcp4 nowait,listen-fds,stderr=socket - \(probe) probe listen-fds\n")
        defer { Self.killHandlers(of: daemon) }
        let report = try ProbeReport(Self.exchange("127.0.0.1", port).text)
        let link = { (fd: Int) in report["fd.\(fd)"]?.components(separatedBy: " ").first }
        #expect(link(3)?.hasPrefix("socket:") == true, "fd 3 is the connection")
        #expect(link(2) == link(3), "fd 2 is the connection")
        #expect(link(1) == daemon.openFDs()[2], "fd 1 is inetd's stderr")
    }

    @Test func nowaitListenFdsOverTCP() throws {
        let port4 = try freePort()
        let port6 = try freePort()
        let daemon = try Self.start("""
            127.0.0.1:\(port4) stream tcp4 nowait,listen-fds - \(probe) probe listen-fds
            [::1]:\(port6) stream tcp6 nowait,listen-fds,name=web - \(probe) probe listen-fds

            """)
        defer { Self.killHandlers(of: daemon) }
        for (host, port, proto, fdName) in [("127.0.0.1", port4, "TCP", "connection"), ("::1", port6, "TCP6", "web")] {
            let (text, local) = try Self.exchange(host, port)
            let report = try ProbeReport(text)
            let names = Self.environmentNames(text)
            #expect(report["served.fd"] == "3", "the report came back through fd 3 (\(host))")
            #expect(report["fds"] == "0,1,2,3", "\(host)")
            #expect(report["fd.0"]?.hasPrefix("/dev/null ") == true, "fd 0 is /dev/null (\(host)): \(report["fd.0"] ?? "")")
            let stderr = report["fd.1"]?.components(separatedBy: " ").first
            #expect(daemon.isServiceStderr(stderr), "fd 1 is the service's stderr socket (\(host))")
            #expect(report["fd.2"]?.components(separatedBy: " ").first == stderr, "fd 2 is the same socket (\(host))")
            let facts = report["fd.3"] ?? ""
            #expect(facts.hasPrefix("socket:") && facts.contains("listening=0") && facts.contains("socktype=1"),
                    "fd 3 is the connection (\(host)): \(facts)")
            #expect(facts.contains("nonblock=0") && facts.contains("cloexec=0"), "\(host): \(facts)")
            #expect(report.environment["LISTEN_FDS"] == "1", "\(host)")
            #expect(report.environment["LISTEN_PID"] == "\(report.pid)", "\(host)")
            #expect(report.environment["LISTEN_FDNAMES"] == fdName, "\(host)")
            #expect(report.environment["PROTO"] == proto, "\(host)")
            #expect(report.environment["TCPREMOTEIP"] == host, "\(host)")
            #expect(report.environment["TCPREMOTEPORT"] == "\(local)", "the client's own port (\(host))")
            #expect(report.environment["TCPLOCALIP"] == host, "\(host)")
            #expect(report.environment["TCPLOCALPORT"] == "\(port)", "\(host)")
            for name in ["PROTO", "TCPREMOTEIP", "TCPREMOTEPORT", "TCPLOCALIP", "TCPLOCALPORT",
                         "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"] {
                #expect(names.filter { $0 == name }.count == 1, "\(name) exactly once (\(host)): \(names)")
            }
        }
        #expect(exitCode(try daemon.stop()) == 0, "\(daemon.log)")
    }

    /// The unix row: PROTO=UNIX and the client's SO_PEERCRED as
    /// UNIXREMOTEEUID, UNIXREMOTEEGID and UNIXREMOTEPID (this test process is
    /// the client), with the connection on fd 3.
    @Test func nowaitListenFdsOverUnix() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/lfds.sock"
        let daemon = try Self.start("\(path) stream unix nowait,listen-fds - \(probe) probe listen-fds\n")
        defer { Self.killHandlers(of: daemon) }
        let text = try unixExchange(path)
        let report = try ProbeReport(text)
        let names = Self.environmentNames(text)
        #expect(report["served.fd"] == "3", "the report came back through fd 3")
        #expect(report["fds"] == "0,1,2,3")
        #expect(report["fd.0"]?.hasPrefix("/dev/null ") == true, "\(report["fd.0"] ?? "")")
        #expect(report["sock.3"] == "unix \(path)", "fd 3 is a connection of the line's socket")
        #expect(report["fd.3"]?.contains("listening=0") == true && report["fd.3"]?.contains("nonblock=0") == true,
                "\(report["fd.3"] ?? "")")
        #expect(report.environment["LISTEN_FDS"] == "1")
        #expect(report.environment["LISTEN_PID"] == "\(report.pid)")
        #expect(report.environment["LISTEN_FDNAMES"] == "connection")
        #expect(report.environment["PROTO"] == "UNIX")
        #expect(report.environment["UNIXREMOTEEUID"] == "\(geteuid())", "SO_PEERCRED uid of the client")
        #expect(report.environment["UNIXREMOTEEGID"] == "\(getegid())", "SO_PEERCRED gid of the client")
        #expect(report.environment["UNIXREMOTEPID"] == "\(getpid())", "SO_PEERCRED pid: this test process")
        #expect(!names.contains { $0.hasPrefix("TCP") }, "no TCP variables on a unix line: \(names)")
        #expect(exitCode(try daemon.stop()) == 0, "\(daemon.log)")
    }

    // MARK: nowait unix (the same table's plain row)

    /// SPEC 3, `nowait` stream over unix: the connection on fds 0 and 1,
    /// PROTO=UNIX and the peer's SO_PEERCRED, and no LISTEN_* at all.
    @Test func nowaitUnixStreamGetsPeerCredentials() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/plain.sock"
        let daemon = try Self.start("\(path) stream unix nowait - \(probe) probe\n")
        defer { Self.killHandlers(of: daemon) }
        let text = try unixExchange(path)
        let report = try ProbeReport(text)
        let names = Self.environmentNames(text)
        #expect(report["fd.0"]?.hasPrefix("socket:") == true, "fd 0 is the connection: \(report["fd.0"] ?? "")")
        #expect(report["sock.0"] == "unix \(path)")
        #expect(report.environment["PROTO"] == "UNIX")
        #expect(report.environment["UNIXREMOTEEUID"] == "\(geteuid())", "SO_PEERCRED uid of the client")
        #expect(report.environment["UNIXREMOTEEGID"] == "\(getegid())", "SO_PEERCRED gid of the client")
        #expect(report.environment["UNIXREMOTEPID"] == "\(getpid())", "SO_PEERCRED pid: this test process")
        for name in ["PROTO", "UNIXREMOTEEUID", "UNIXREMOTEEGID", "UNIXREMOTEPID"] {
            #expect(names.filter { $0 == name }.count == 1, "\(name) exactly once: \(names)")
        }
        #expect(!names.contains { $0.hasPrefix("LISTEN_") || $0.hasPrefix("TCP") }, "\(names)")
        #expect(exitCode(try daemon.stop()) == 0, "\(daemon.log)")
    }

    // MARK: controls: the fixtures without inetd

    /// The Python server and gunicorn, given two sockets by a launcher that
    /// does what sd_listen_fds(3) asks (fds 3 and 4 listening, LISTEN_PID set
    /// by the process itself before exec): they serve. So when a test above
    /// fails, inetd is the cause, not the fixture.
    @Test(.enabled(if: Fixtures.python != nil, "no python3 at /usr/bin or /usr/local/bin"))
    func controlSdListenFdsServerUnderAHandLauncher() throws {
        let (v4, v6, port) = try Self.loopbackListeners()
        defer { close(v4); close(v6) }
        let dir = TemporaryDirectory()
        let pid = try Self.launch([Fixtures.python!, Fixtures.sdListenFdsServer, "2"], v4, v6, names: "a:b", dir: dir)
        defer { if Self.isRunning(pid) { kill(pid, SIGKILL); _ = try? waitForExit(pid, timeout: 5, "") } }
        for host in ["127.0.0.1", "::1"] {
            let report = try ProbeReport(Self.exchange(host, port).text)
            #expect(report["listen_pid_matches"] == "1" && report["listen_fds"] == "2" && report["listen_fdnames"] == "a:b")
            #expect(report["fds"] == "0,1,2,3,4" && report["fd.0.devnull"] == "1")
            #expect(report["fd.3.local"] == "127.0.0.1:\(port)" && report["fd.4.local"] == "[::1]:\(port)")
            #expect(report["fd.3.acceptconn"] == "1" && report["fd.4.acceptconn"] == "1")
            #expect(report["fd.3.nonblock"] == "0" && report["fd.4.nonblock"] == "0")
            #expect(report["served.fd"] == (host.contains(":") ? "4" : "3"))
        }
        let status = try waitForExit(pid, timeout: 10, "the server did not exit after 2 clients")
        #expect(exitCode(status) == 0, "\(dir.read("out"))")
    }

    @Test(.enabled(if: Fixtures.gunicorn != nil,
                   "gunicorn is not installed in .build-venv (.ci/run installs it; offline, pip could not)"),
          .enabled(if: Fixtures.python != nil, "no python3 at /usr/bin or /usr/local/bin"))
    func controlGunicornUnderAHandLauncher() throws {
        let (v4, v6, port) = try Self.loopbackListeners()
        defer { close(v4); close(v6) }
        let dir = TemporaryDirectory()
        let arguments = [Fixtures.gunicorn!, "--preload", "--workers", "1", "--graceful-timeout", "5"]
            + Fixtures.gunicornExtraFlags.split(separator: " ").map(String.init)
            + ["--chdir", Fixtures.directory, "lfds_wsgi_app:app"]
        let pid = try Self.launch(arguments, v4, v6, names: "a:b", dir: dir)
        defer { if Self.isRunning(pid) { kill(pid, SIGKILL); _ = try? waitForExit(pid, timeout: 5, "") } }
        for host in ["127.0.0.1", "::1"] {
            let (text, _) = try Self.exchange(host, port, send: "GET / HTTP/1.0\r\n\r\n", timeout: 30)
            let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
            let response = try ProbeReport(body)
            #expect(response["master"] == "\(pid)" && response["import.listen_pid"] == "\(pid)", "\(text)")
            #expect(response["import.listen_fds"] == "2", "\(text)")
        }
        kill(pid, SIGTERM)
        let status = try waitForExit(pid, timeout: 20, "gunicorn did not stop on SIGTERM: \(dir.read("out"))\n"
                                     + ((try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""))
        #expect(exitCode(status) == 0, "\(dir.read("out"))")
    }

    // MARK: helpers

    /// Starts inetd on `config` and fails at once, saying so, when it skipped
    /// a line: a build that does not serve listen-fds yet logs
    /// `event=service_skipped` for each such line.
    static func start(_ config: String, environment: [String: String] = [:]) throws -> RunningDaemon {
        let daemon = try RunningDaemon(config: config, environment: environment)
        try daemon.waitForLog("event=ready")
        let skipped = daemon.log.split(separator: "\n").filter { $0.contains("event=service_skipped") }
        if !skipped.isEmpty {
            throw HarnessError("inetd skipped a line of this test; this build does not serve it:\n"
                               + skipped.joined(separator: "\n"))
        }
        return daemon
    }

    /// Kills, with their process groups, the handlers inetd started and
    /// that still run: a `wait` handler outlives a test that failed before
    /// it stopped inetd cleanly (the harness kills inetd alone), and a
    /// gunicorn that missed its sockets binds its own. Each handler leads
    /// its own process group (setsid).
    static func killHandlers(of daemon: RunningDaemon) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(name), parentOf(name) == "\(daemon.pid)" else { continue }
            kill(-pid, SIGKILL)
        }
    }

    /// A TCP exchange that also returns the client's own port.
    static func exchange(_ host: String, _ port: UInt16, send: String? = nil,
                         timeout: Int = 10) throws -> (text: String, localPort: UInt16) {
        let client = try ClientSocket(family: host.contains(":") ? AF_INET6 : AF_INET,
                                      type: CInt(SOCK_STREAM.rawValue), timeout: timeout)
        try client.connect(makeAddress(host, port)!)
        var local = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(client.fd, $0, &length) }
        }
        let localPort = withUnsafeBytes(of: &local) { UInt16(bigEndian: $0.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) }
        if let send { try client.send(send) }
        return (try client.receiveAll(), localPort)
    }

    /// The names of a report's `env=` lines, duplicates kept.
    static func environmentNames(_ report: String) -> [String] {
        report.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("env=") else { return nil }
            return String(line.dropFirst(4).prefix { $0 != "=" })
        }
    }

    static func parentOf(_ pid: String) -> String? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        return fields.count > 1 ? String(fields[1]) : nil
    }

    /// Alive and not a zombie.
    static func isRunning(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return !stat[stat.index(close, offsetBy: 2)...].hasPrefix("Z")
    }

    /// A listening TCP socket on 127.0.0.1 and one on ::1 (IPV6_V6ONLY), on
    /// one port, close-on-exec.
    static func loopbackListeners() throws -> (CInt, CInt, UInt16) {
        for _ in 0..<20 {
            let port = try freePort()
            let v4 = socket(AF_INET, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
            let v6 = socket(AF_INET6, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
            var one: CInt = 1
            setsockopt(v6, CInt(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<CInt>.size))
            let bound = [(v4, "127.0.0.1"), (v6, "::1")].allSatisfy { fd, host in
                makeAddress(host, port)!.withUnsafeBytes {
                    bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count)) == 0
                } && listen(fd, 128) == 0
            }
            if bound { return (v4, v6, port) }
            close(v4)
            close(v6)
        }
        throw HarnessError("no loopback port free on both families")
    }

    /// Runs `argv` with `v4` and `v6` on fds 3 and 4, LISTEN_FDS=2,
    /// LISTEN_FDNAMES=`names`, and LISTEN_PID set by a Python launcher to
    /// its own pid just before it execs (exec keeps the pid). The launcher
    /// also empties the signal mask and resets SIGPIPE and SIGXFSZ, which the
    /// test runner's threads block or ignore and a spawned process would
    /// inherit. fd 0 is /dev/null; fds 1 and 2 go to the file `out` in `dir`.
    static func launch(_ argv: [String], _ v4: CInt, _ v6: CInt, names: String, dir: TemporaryDirectory) throws -> pid_t {
        guard let python = Fixtures.python else { throw HarnessError("no python3") }
        let out = open(dir.path + "/out", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard out >= 0 else { throw HarnessError("open out: \(errno)") }
        defer { close(out) }
        let launcher = """
            import os, signal, sys
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            for number in (signal.SIGPIPE, signal.SIGXFSZ):
                signal.signal(number, signal.SIG_DFL)
            os.environ["LISTEN_PID"] = str(os.getpid())
            os.execv(sys.argv[1], sys.argv[1:])
            """
        return try spawnProcess([python, "-c", launcher] + argv,
                                descriptors: [0: .devNull(O_RDONLY), 1: .descriptor(out), 2: .descriptor(out),
                                              3: .descriptor(v4), 4: .descriptor(v6)],
                                environment: ["LISTEN_FDS": "2", "LISTEN_FDNAMES": names])
    }
}

/// The fixtures in Tests/Fixtures and the programs that run them.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path
    static var sdListenFdsServer: String { directory + "/sd_listen_fds_server.py" }

    /// The interpreter itself, not a wrapper (a pyenv shim is a shell script):
    /// the fixture's pid must be the one inetd started.
    static let python: String? = ["/usr/bin/python3", "/usr/local/bin/python3"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// `.build-venv/bin/gunicorn` at the top of the package, where .ci/run
    /// installs it; nil when absent.
    static let gunicorn: String? = {
        let root = URL(fileURLWithPath: directory).deletingLastPathComponent().deletingLastPathComponent().path
        let path = root + "/.build-venv/bin/gunicorn"
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }()

    /// gunicorn 25.1 and later open a control socket in $XDG_RUNTIME_DIR or
    /// ~/.gunicorn unless told not to; older ones do not know the flag.
    static let gunicornExtraFlags: String = {
        guard let gunicorn, let help = try? runProgram(gunicorn, ["--help"], in: nil, timeout: 30) else { return "" }
        return help.stdout.contains("--no-control-socket") ? "--no-control-socket" : ""
    }()
}

/// What the concurrent clients of one test saw.
final class Outcomes: @unchecked Sendable {
    struct Snapshot {
        var pids: [Int] = []
        var failures: [String] = []
        var listenPIDsMatch = true
        var familiesOnTheirFDs = true
    }
    private let lock = NSLock()
    private var value = Snapshot()

    func add(pid: Int, listenPID: String, servedFD: String, v6: Bool) {
        lock.withLock {
            value.pids.append(pid)
            if listenPID != "\(pid)" { value.listenPIDsMatch = false }
            if servedFD != (v6 ? "4" : "3") { value.familiesOnTheirFDs = false }
        }
    }

    func fail(_ text: String) { lock.withLock { value.failures.append(text) } }
    func snapshot() -> Snapshot { lock.withLock { value } }
}

extension TemporaryDirectory {
    func read(_ name: String) -> String {
        (try? String(contentsOfFile: path + "/" + name, encoding: .utf8)) ?? ""
    }
}
