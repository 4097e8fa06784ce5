import Glibc

/// Writes the text of an IPv4 address (`family` AF_INET: 4 bytes at
/// `address`) or an IPv6 one (AF_INET6: 16 bytes), NUL-terminated, into
/// `buffer` of `capacity` bytes, allocating nothing. Returns the text's
/// length without the NUL; nil when it does not fit (ENOSPC) or the family
/// is neither (EAFNOSUPPORT). C equivalent: `inet_ntop(3)`, then `strlen(3)`.
func writeAddressText(family: CInt, address: UnsafeRawPointer, into buffer: UnsafeMutablePointer<CChar>,
                      capacity: Int) -> Int? {
    guard capacity > 0, inet_ntop(family, address, buffer, socklen_t(clamping: capacity)) != nil else { return nil }
    return strlen(buffer)
}
