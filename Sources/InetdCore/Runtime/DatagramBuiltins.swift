import Glibc

/// The UDP built-ins' shared state: one datagram buffer (also the discard
/// sink of TCP built-ins), and the ports of the UDP built-ins configured now.
struct DatagramBuiltins {
    var ports: Set<UInt16> = []
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)

    func reply(_ fd: FileDescriptor, _ peer: inout PeerBuffer, _ bytes: UnsafeRawBufferPointer) {
        _ = try? Socket.sendDatagram(fd, bytes, to: peer)
    }

    func acceptableSource(_ peer: inout PeerBuffer) -> Bool {
        withUnsafeBytes(of: &peer.storage) { Self.acceptableSource($0, builtinPorts: ports) }
    }

    /// No reply to a privileged or built-in source port (the echo and
    /// chargen loop of CERT CA-1996-01), nor to an address that is broadcast,
    /// multicast or unspecified, nor to an IPv4-compatible one (`::a.b.c.d`,
    /// deprecated: no IPv4 client arrives as one). An IPv4-mapped source
    /// (`::ffff:a.b.c.d`) is how a `udp46` socket sees every IPv4 client: it
    /// is judged as the IPv4 address it carries (SPEC 4), so that such a
    /// built-in answers 127.0.0.1 and still not 255.255.255.255.
    /// `raw` is a `sockaddr_in` or `sockaddr_in6` as recvfrom fills it in.
    static func acceptableSource(_ raw: UnsafeRawBufferPointer, builtinPorts: Set<UInt16>) -> Bool {
        guard raw.count >= MemoryLayout<sockaddr_in>.size else { return false }
        let port = UInt16(bigEndian: raw.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        if port < 1024 || BuiltinKind.wellKnownPorts.contains(port) || builtinPorts.contains(port) { return false }
        switch raw.loadUnaligned(as: sa_family_t.self) {
        case sa_family_t(AF_INET):
            return acceptableIPv4(firstOctet: raw[4])
        case sa_family_t(AF_INET6):
            guard raw.count >= MemoryLayout<sockaddr_in6>.size else { return false }
            // ff00::/8 multicast.
            if raw[8] == 0xFF { return false }
            guard raw[8..<18].allSatisfy({ $0 == 0 }) else { return true }
            if raw[18] == 0xFF, raw[19] == 0xFF { return acceptableIPv4(firstOctet: raw[20]) }
            guard raw[18] == 0, raw[19] == 0 else { return true }
            // :: (unspecified) and ::a.b.c.d; ::1 is loopback.
            return raw[20..<23].allSatisfy { $0 == 0 } && raw[23] == 1
        default:
            return false
        }
    }

    /// 0/8 (unspecified), 224/4 (multicast), 240/4 and the limited broadcast
    /// address are refused.
    static func acceptableIPv4(firstOctet: UInt8) -> Bool {
        firstOctet != 0 && firstOctet < 224
    }
}
