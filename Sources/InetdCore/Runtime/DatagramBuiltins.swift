import Glibc

/// The UDP built-ins' shared state: one datagram buffer (also the discard
/// sink of TCP built-ins), and the ports of the UDP built-ins configured now.
struct DatagramBuiltins {
    var ports: Set<UInt16> = []
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)

    func reply(_ fd: FileDescriptor, _ peer: inout PeerBuffer, _ bytes: UnsafeRawBufferPointer) {
        _ = try? Socket.sendDatagram(fd, bytes, to: peer)
    }

    /// No reply to a privileged or built-in source port (the echo and
    /// chargen loop of CERT CA-1996-01), nor to an address that is broadcast,
    /// multicast, unspecified or IPv4-mapped.
    func acceptableSource(_ peer: inout PeerBuffer) -> Bool {
        withUnsafeBytes(of: &peer.storage) { raw in
            let port = UInt16(bigEndian: raw.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            if port < 1024 || BuiltinKind.wellKnownPorts.contains(port) || ports.contains(port) { return false }
            switch raw.load(as: sa_family_t.self) {
            case sa_family_t(AF_INET):
                let first = raw[4]
                // 0/8 (unspecified), 224/4 multicast, 240/4 and the broadcast address.
                return first != 0 && first < 224
            case sa_family_t(AF_INET6):
                let address = raw[8..<24]
                if address.allSatisfy({ $0 == 0 }) || raw[8] == 0xFF { return false }
                // ::ffff:a.b.c.d and the deprecated ::a.b.c.d.
                if raw[8..<18].allSatisfy({ $0 == 0 }) {
                    if raw[18] == 0xFF, raw[19] == 0xFF { return false }
                    if raw[18] == 0, raw[19] == 0, !(raw[20..<23].allSatisfy { $0 == 0 } && raw[23] == 1) { return false }
                }
                return true
            default:
                return false
            }
        }
    }
}
