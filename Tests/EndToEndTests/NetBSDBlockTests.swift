import Foundation
import Glibc
import Testing

/// NetBSD's key-values blocks on the binary: a block serves as the line it
/// maps to, and `--check` lists that line.
@Suite struct NetBSDBlockTests {
    @Test func aNetBSDBlockServesAndCheckListsItsLine() throws {
        let (cat, quoted, disabled) = (try freePort(), try freePort(), try freePort())
        let user = String(cString: getpwuid(geteuid())!.pointee.pw_name)
        // As NetBSD's own test files write them: an address line, then
        // blocks of tab-indented keys.
        let config = """
            127.0.0.1:

            # cat, at most 2 at once, 30 spawns a minute
            \(cat) on
            \tprotocol = tcp,
            \twait = no,
            \tuser = \(user),
            \taccept_max = 2,
            \tservice_max = 30,
            \texec = /bin/cat,
            \targs = cat;

            \(quoted) on protocol = tcp, wait = no, user = \(user), # quotes keep the blanks
            \texec = /bin/sh, args = sh -c "echo 'from a NetBSD block'";
            \(disabled) off protocol = tcp, wait = no, user = \(user), exec = /bin/cat;

            """
        let dir = TemporaryDirectory()
        let check = try runProgram(Binaries.inetd, ["--check", dir.write("netbsd.conf", config)])
        #expect(check.status == 0, "\(check.stderr)")
        let listed = check.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(listed == [
            "127.0.0.1:\(cat) stream tcp4 nowait,max=2,rate=30 \(user) /bin/cat cat",
            "127.0.0.1:\(quoted) on socktype = stream, protocol = tcp4, wait = no, accept_max = 64, user = \(user), "
                + "exec = /bin/sh, args = sh -c \"echo 'from a NetBSD block'\";",
        ], "\(check.stdout)")

        let daemon = try RunningDaemon(config: config)
        let client = try ClientSocket.tcp("127.0.0.1", cat)
        try client.send("ping over a NetBSD block\n")
        client.shutdownWrite()
        #expect(try client.receiveAll() == "ping over a NetBSD block\n")
        #expect(try tcpExchange("127.0.0.1", quoted) == "from a NetBSD block\n")
        #expect(throws: (any Error).self, "the off block opens no socket") { try tcpExchange("127.0.0.1", disabled) }
        #expect(try daemon.stop() & 0x7F == 0)
    }
}
