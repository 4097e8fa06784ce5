@testable import InetdCore
import Testing

// `inetd --convert systemd`'s pure half: unit syntax, command lines and the
// mapping. The fixtures are written for these tests; the machine's own
// units are converted end to end (ConvertTests).

@Suite struct SystemdUnitConversionTests {
    func convert(socket: String, service: String?, name: String = "echo") -> Conversion {
        let socketUnit = SystemdUnit(path: "/u/\(name).socket", text: socket)
        let serviceName = SystemdUnitConversion.serviceName(for: socketUnit)
        return SystemdUnitConversion.convert(socket: socketUnit,
                                             service: service.map { SystemdUnit(path: "/u/\(serviceName)", text: $0) })
    }

    func lines(_ conversion: Conversion, sourceLocation: SourceLocation = #_sourceLocation) -> [String] {
        conversion.services.compactMap { service in
            guard let line = service.line else { return nil }
            let parsed = ConfigParser(file: "out").parse(line.text)
            #expect(parsed.diagnostics.filter { $0.severity == .error }.isEmpty, "\(line.text): \(parsed.diagnostics)",
                    sourceLocation: sourceLocation)
            return (service.off ? ConvertedService.offPrefix : "") + line.fields.joined(separator: " ")
        }
    }

    @Test func acceptYesOnStandardInputWithLimitsAndAddressRules() {
        let socket = """
            [Unit]
            Description=Echo
            [Socket]
            ListenStream=127.0.0.1:7007
            ListenStream=[::1]:7007
            ListenStream=
            ListenStream=7008
            Accept=yes
            MaxConnections=10
            MaxConnectionsPerSource=3
            IPAddressDeny=any
            IPAddressAllow=localhost \\
            # a comment inside a continuation
              10.0.0.0/8
            [Install]
            WantedBy=sockets.target
            """
        let service = """
            [Service]
            ExecStart=@/usr/bin/cat cat "-u"
            StandardInput=socket
            User=nobody
            Group=nogroup
            Environment="GREETING=hello" MODE=x
            """
        let conversion = convert(socket: socket, service: service)
        #expect(lines(conversion) == [
            "7008 stream tcp nowait,max=10,per-ip=3,ip-prefix=32/128,allow=127.0.0.0/8,allow=::1/128,allow=10.0.0.0/8,"
                + "env=GREETING=hello,env=MODE=x nobody:nogroup /usr/bin/cat cat -u",
        ])
        #expect(!conversion.failed)
        #expect(conversion.services[0].notes.map(\.message) == [
            "Install.WantedBy: dependencies, ordering, conditions and installation mean nothing to inetd, which "
                + "serves every line from its start",
        ])
    }

    @Test func acceptYesWithoutStandardInputGetsTheConnectionAsListenFds() {
        let conversion = convert(socket: "[Socket]\nListenStream=/run/echo.sock\nAccept=yes\nSocketMode=0660\n"
                                 + "SocketUser=www\nFileDescriptorName=conn\nReceiveBuffer=64K\n",
                                 service: "[Service]\nExecStart=/usr/bin/echo-server --fd 3\n")
        #expect(lines(conversion) == [
            "/run/echo.sock stream unix,rcvbuf=65536 nowait,listen-fds,name=conn,owner=www,mode=0660 root "
                + "/usr/bin/echo-server /usr/bin/echo-server --fd 3",
        ])
    }

    @Test func acceptNoIsWaitListenFdsNamedAfterTheSocket() {
        let conversion = convert(socket: "[Socket]\nListenStream=[::]:8080\nBindIPv6Only=both\n",
                                 service: "[Service]\nEnvironmentFile=-/etc/default/app\n"
                                    + "ExecStart=-/usr/bin/app --port=${PORT} $OPTS\nEnvironment=PORT=8080\n",
                                 name: "app")
        #expect(lines(conversion) == [
            "[::]:8080 stream tcp46 wait,listen-fds,name=app.socket,env=PORT=8080 root /usr/bin/app /usr/bin/app --port=8080",
        ])
        let messages = conversion.services[0].notes.map(\.message)
        #expect(messages.contains { $0.hasPrefix("ExecStart uses $OPTS, which the unit does not set (EnvironmentFile=-/etc/default/app may)") })
        #expect(messages.contains { $0.hasPrefix("ExecStart's '-'") })
        #expect(!conversion.failed)
    }

    @Test func acceptNoOnOnePortAtSeveralAddressesIsOneLine() {
        // docs/socket-activation.md's example.
        let conversion = convert(socket: """
            [Socket]
            ListenStream=127.0.0.1:8000
            ListenStream=[::1]:8000
            BindIPv6Only=ipv6-only
            FileDescriptorName=web
            Backlog=1024
            ReceiveBuffer=262144
            """, service: "[Service]\nUser=www-data\nGroup=www-data\nExecStart=/srv/app/venv/bin/gunicorn "
                + "--workers 4 --no-control-socket --chdir /srv/app myapp.wsgi:app\n", name: "app")
        #expect(lines(conversion) == [
            "127.0.0.1,[::1]:8000 stream tcp,rcvbuf=262144 wait,listen-fds,name=web,backlog=1024 www-data:www-data "
                + "/srv/app/venv/bin/gunicorn /srv/app/venv/bin/gunicorn --workers 4 --no-control-socket --chdir "
                + "/srv/app myapp.wsgi:app",
        ])
        #expect(!conversion.failed)
    }

    @Test func whatCannotBeExpressed() {
        #expect(convert(socket: "[Socket]\nListenStream=@abstract\nAccept=yes\n",
                        service: "[Service]\nExecStart=/bin/x\nStandardInput=socket\n").failed)
        #expect(convert(socket: "[Socket]\nListenFIFO=/run/fifo\n", service: "[Service]\nExecStart=/bin/x\n").failed)
        let instance = convert(socket: "[Socket]\nListenStream=7\nAccept=yes\n",
                               service: "[Service]\nExecStart=/bin/x %i\nStandardInput=socket\n")
        #expect(instance.services[0].notes.map(\.message).first?.hasPrefix("ExecStart holds a specifier") == true)
        #expect(convert(socket: "[Socket]\nListenStream=%h/x.sock\n", service: "[Service]\nExecStart=/bin/x\n").failed)
        let two = convert(socket: "[Socket]\nListenStream=/run/a\nListenDatagram=/run/b\n",
                          service: "[Service]\nExecStart=/bin/x\n")
        #expect(two.failed)
        #expect(two.services.allSatisfy { $0.off }, "one handler for two sockets: every line is off")
        #expect(convert(socket: "[Socket]\nListenStream=7\n", service: nil).services[0].line == nil,
                "no service unit, no program (the caller reports why it could not be read)")
        #expect(convert(socket: "[Socket]\nListenStream=7\nIPAddressDeny=10.0.0.0/8\n",
                        service: "[Service]\nExecStart=/bin/x\n").failed, "address rules on a wait line")
    }

    @Test func anArgumentWithABlankCannotBeWritten() {
        let conversion = convert(socket: "[Socket]\nListenStream=7\nAccept=yes\n",
                                 service: "[Service]\nExecStart=/bin/sh -c \"exec cat\"\nStandardInput=socket\n")
        #expect(conversion.failed)
        #expect(conversion.services[0].line == nil)
        #expect(conversion.services[0].notes.last?.message.hasPrefix("'exec cat' cannot be written") == true)
    }

    @Test func crlfFiles() {
        let conversion = convert(socket: "[Socket]\r\nListenStream=7\r\nAccept=yes\r\n",
                                 service: "[Service]\r\nExecStart=/bin/cat cat\r\nStandardInput=socket\r\n")
        #expect(lines(conversion) == ["7 stream tcp nowait root /bin/cat /bin/cat cat"])
    }

    @Test func serviceNames() {
        #expect(SystemdUnitConversion.serviceName(for: SystemdUnit(path: "/u/ssh.socket", text: "[Socket]\nAccept=yes\n"))
            == "ssh@.service")
        #expect(SystemdUnitConversion.serviceName(for: SystemdUnit(path: "/u/ssh.socket", text: "[Socket]\nAccept=no\n"))
            == "ssh.service")
        #expect(SystemdUnitConversion.serviceName(for: SystemdUnit(path: "/u/a.socket", text: "[Socket]\nService=b.service\n"))
            == "b.service")
    }

    @Test func commandLines() {
        let parsed = SystemdCommandLine.parse(#"+@/bin/sh sh -c "echo \"a b\"\t$$HOME" 'x y' ${A}z $B"#,
                                              environment: ["A": "1", "B": "p q"])
        #expect(parsed == .success(SystemdCommandLine(prefixes: ["+", "@"], program: "/bin/sh",
                                                      arguments: ["sh", "-c", "echo \"a b\"\t$HOME", "x y", "1z", "p", "q"])))
        #expect(SystemdCommandLine.parse("/bin/x \"open", environment: [:]) == .failure(.unbalancedQuote))
        #expect(SystemdCommandLine.parse("x", environment: [:]) == .failure(.notAbsolute("x")))
        #expect(SystemdCommandLine.parse(":/bin/x $A", environment: ["A": "1"])
            == .success(SystemdCommandLine(prefixes: [":"], program: "/bin/x", arguments: ["/bin/x", "$A"])))
    }

    @Test func addressRulesLetAnAllowInsideADenyThrough() {
        let conversion = convert(socket: "[Socket]\nListenStream=7\nAccept=yes\nIPAddressDeny=10.0.0.0/8\n"
                                 + "IPAddressAllow=10.128.0.0/9\n",
                                 service: "[Service]\nExecStart=/bin/x\nStandardInput=socket\n")
        #expect(conversion.services[0].line?.options == ["deny=10.0.0.0/9"])
    }
}
