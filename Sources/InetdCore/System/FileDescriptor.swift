import Glibc
import _InetdSystem

/// A raw, non-owning file descriptor: who closes it is the holder's business.
public struct FileDescriptor: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: CInt
    public init(rawValue: CInt) { self.rawValue = rawValue }

    public static let standardInput = FileDescriptor(rawValue: 0)
    public static let standardOutput = FileDescriptor(rawValue: 1)
    public static let standardError = FileDescriptor(rawValue: 2)

    public var description: String { "fd \(rawValue)" }

    /// Closes the descriptor. C equivalent: `close(2)`.
    ///
    /// EINTR is not retried: on Linux the descriptor is released before close
    /// returns it, and a retry could close a descriptor opened since.
    public func close() {
        let result = Glibc.close(rawValue)
        precondition(result == 0 || inetd_errno() != EBADF, "close: fd \(rawValue) was not open")
    }

    /// Sets or clears O_NONBLOCK on the open file description. C: `fcntl(2)`.
    public func setNonBlocking(_ on: Bool) throws(SystemError) {
        let flags = try syscall("fcntl") { fcntl(rawValue, F_GETFL) }
        let wanted = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK
        if wanted != flags { _ = try syscall("fcntl") { fcntl(rawValue, F_SETFL, wanted) } }
    }

    /// Writes all of `bytes`. C equivalent: `write(2)`.
    public func writeAll(_ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            offset += try syscall("write") { Glibc.write(rawValue, rest.baseAddress, rest.count) }
        }
    }

    /// Reads at most `buffer.count` bytes. C equivalent: `read(2)`.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        try syscall("read") { Glibc.read(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Opens a path close-on-exec. C equivalent: `open(2)` with O_CLOEXEC.
    static func open(_ path: String, _ flags: CInt, mode: mode_t = 0) throws(SystemError) -> FileDescriptor {
        FileDescriptor(rawValue: try syscall("open") { Glibc.open(path, flags | O_CLOEXEC, mode) })
    }
}

/// Reads a whole file as UTF-8 text (invalid bytes repaired, as
/// `String(decoding:)` does). C: `open(2)`, `fstat(2)`, `read(2)`; the error
/// names the failing call.
public func readWholeFile(_ path: String) throws(SystemError) -> String {
    let fd = try FileDescriptor.open(path, O_RDONLY)
    defer { fd.close() }
    // Read straight into the string's storage: one buffer, no copies. The
    // size is fstat(2)'s plus one byte, so a full buffer means the file grew
    // while read; then it is read again in chunks.
    var info = stat()
    _ = try syscall("fstat") { fstat(fd.rawValue, &info) }
    let expected = info.st_mode & S_IFMT == S_IFREG ? Int(info.st_size) : 0
    if expected > 0 {
        var failure: SystemError?
        var complete = false
        let text = String(unsafeUninitializedCapacity: expected + 1) { buffer in
            var count = 0
            do throws(SystemError) {
                while count < buffer.count {
                    let got = try fd.read(into: UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[count...])))
                    if got == 0 { complete = true; break }
                    count += got
                }
            } catch {
                failure = error
            }
            return count
        }
        if let failure { throw failure }
        if complete { return text }
        _ = try syscall("lseek") { lseek(fd.rawValue, 0, SEEK_SET) }
    }
    var bytes: [UInt8] = []
    let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
    defer { chunk.deallocate() }
    while true {
        let got = try fd.read(into: chunk)
        if got == 0 { return String(decoding: bytes, as: UTF8.self) }
        bytes.append(contentsOf: chunk[0..<got])
    }
}
