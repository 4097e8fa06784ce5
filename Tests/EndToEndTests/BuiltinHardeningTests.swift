import Foundation
import Glibc
import Testing

/// Whether this host can open an IPv6 socket at all.
func hostHasIPv6() -> Bool {
    let fd = socket(AF_INET6, CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return false }
    close(fd)
    return true
}

extension BuiltinTests {
    /// A `udp46` socket sees its IPv4 clients as ::ffff:a.b.c.d: the loop
    /// guard judges that as the IPv4 address (SPEC 4), so 127.0.0.1 on an
    /// ordinary port is answered, and a privileged IPv4 port still is not.
    /// Bound to ::ffff:127.0.0.1, which takes IPv4 loopback traffic only.
    @Test(.enabled(if: hostHasIPv6(), "udp46 needs IPv6"))
    func udp46BuiltinsAnswerIPv4Clients() throws {
        let port = try freePort()
        let daemon = try RunningDaemon(config: "[::ffff:127.0.0.1]:\(port) dgram udp46 wait - internal echo\n")
        #expect(try udpExchange("127.0.0.1", port, send: "over IPv4") == "over IPv4", "log:\n\(daemon.log)")
        #expect(daemon.count("event=builtin_dropped") == 0)
        if getuid() == 0 {
            let privileged = try ClientSocket(family: AF_INET, type: CInt(SOCK_DGRAM.rawValue))
            var one: CInt = 1
            setsockopt(privileged.fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
            try #require(privileged.bind(makeAddress("127.0.0.1", 1001)!) == 0, "port 1001 is in use")
            try privileged.connect(makeAddress("127.0.0.1", port)!)
            try privileged.send("from a privileged port")
            try daemon.waitForLog("event=builtin_dropped service=[::ffff:127.0.0.1]:\(port)/udp46 peer=[::ffff:127.0.0.1]:1001")
            var buffer = [UInt8](repeating: 0, count: 64)
            #expect(recv(privileged.fd, &buffer, buffer.count, CInt(MSG_DONTWAIT)) == -1, "no answer to port 1001")
        }
    }
}
