import Glibc
import _InetdSystem

/// The memfd that carries an upgrade's state from one image to the next
/// (`UpgradeState`): written once, then sealed, so the next image reads
/// exactly what the last one wrote and nobody can change it in between.
enum SealedState {
    /// The most the next image reads: far past any real state (a record is
    /// tens of bytes), small enough that a forged size costs nothing.
    static let limit = 64 << 20

    /// A sealed memfd holding `bytes`, close-on-exec. C: `memfd_create(2)`,
    /// `write(2)`, `fcntl(F_ADD_SEALS)`.
    static func create(_ name: String, holding bytes: [UInt8]) throws(SystemError) -> FileDescriptor {
        let fd = FileDescriptor(rawValue: try syscall("memfd_create") { inetd_memfd_create(name) })
        do throws(SystemError) {
            // Array's withUnsafeBytes rethrows as `any Error`: the error
            // comes out by hand.
            var failure: SystemError?
            bytes.withUnsafeBytes { raw in
                do throws(SystemError) { try fd.writeAll(raw) } catch { failure = error }
            }
            if let failure { throw failure }
            _ = try syscall("fcntl(F_ADD_SEALS)") { inetd_seal(fd.rawValue) }
        } catch {
            fd.close()
            throw error
        }
        return fd
    }

    /// What a sealed memfd holds; nil when `fd` is not one (not a memfd,
    /// not sealed against writes, or larger than `limit`). C:
    /// `fcntl(F_GET_SEALS)`, `fstat(2)`, `pread(2)`.
    static func read(_ fd: FileDescriptor) throws(SystemError) -> [UInt8]? {
        let sealed = inetd_is_sealed(fd.rawValue)
        if sealed < 0 {
            let code = inetd_errno()
            if code == EINVAL { return nil }
            throw SystemError(call: "fcntl(F_GET_SEALS)", errno: code)
        }
        guard sealed == 1 else { return nil }
        var info = stat()
        _ = try syscall("fstat") { fstat(fd.rawValue, &info) }
        guard info.st_size >= 0, info.st_size <= limit else { return nil }
        let size = Int(info.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            var result: Result<Int, SystemError> = .success(0)
            bytes.withUnsafeMutableBytes { raw in
                result = Result { () throws(SystemError) in
                    try syscall("pread") { pread(fd.rawValue, raw.baseAddress! + done, size - done, off_t(done)) }
                }
            }
            let got = try result.get()
            // Sealed against shrinking: an early end is not possible, but
            // never loop on it.
            guard got > 0 else { return nil }
            done += got
        }
        return bytes
    }
}
