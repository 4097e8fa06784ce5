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

    /// Whether the descriptor's open file description allows write(2): its
    /// access mode is O_WRONLY or O_RDWR (an O_PATH handle has neither).
    /// Lets a descriptor handed in by the user be checked before a write,
    /// whose EBADF the syscall seam treats as a bug. C: `fcntl(2)` F_GETFL.
    public func isOpenForWriting() throws(SystemError) -> Bool {
        let flags = try syscall("fcntl") { fcntl(rawValue, F_GETFL) }
        let mode = flags & O_ACCMODE
        return mode == O_WRONLY || mode == O_RDWR
    }

    /// Opens a path, close-on-exec unless `closeOnExec` is false (a
    /// descriptor meant to stay open across exec, such as one that fills
    /// in a closed 0, 1 or 2). C equivalent: `open(2)`, with O_CLOEXEC.
    static func open(_ path: String, _ flags: CInt, mode: mode_t = 0, closeOnExec: Bool = true) throws(SystemError) -> FileDescriptor {
        let all = closeOnExec ? flags | O_CLOEXEC : flags
        return FileDescriptor(rawValue: try syscall("open") { Glibc.open(path, all, mode) })
    }

    /// Whether the descriptor is open: for a number that came from outside
    /// (0, 1 and 2 at start, --notify-fd), where a closed one is an answer,
    /// not a bug, so EBADF does not go through the seam's precondition. C
    /// equivalent: `fcntl(fd, F_GETFD)` succeeding.
    public var isOpen: Bool { fcntl(rawValue, F_GETFD) != -1 }

    /// Sets FD_CLOEXEC (the only descriptor flag). C equivalent:
    /// `fcntl(fd, F_SETFD, FD_CLOEXEC)`.
    public func setCloseOnExec() throws(SystemError) {
        _ = try syscall("fcntl") { fcntl(rawValue, F_SETFD, FD_CLOEXEC) }
    }

    /// Makes `target` a copy of this descriptor, closing what `target` was
    /// first; the copy is not close-on-exec. C equivalent: `dup2(2)`.
    public func duplicate(onto target: FileDescriptor) throws(SystemError) {
        _ = try syscall("dup2") { dup2(rawValue, target.rawValue) }
    }
}

/// Why a file could not be read: a failed call, or a file that is not one
/// inetd reads (a FIFO, a device, a directory, or one too large).
public enum FileReadError: Error, Equatable, CustomStringConvertible, Sendable {
    case system(SystemError)
    case notRegularFile
    case tooLarge(limit: Int)

    public var description: String {
        switch self {
        case .system(let error): return "\(error)"
        case .notRegularFile: return "not a regular file"
        case .tooLarge(let limit): return "larger than \(limit >> 20) MiB"
        }
    }
}

/// The largest file `readWholeFile` reads by default: 16 MiB.
public let readWholeFileLimit = 16 << 20

/// Reads a whole regular file as UTF-8 text (invalid bytes repaired, as
/// `String(decoding:)` does). C: `open(2)` with O_NONBLOCK, `fstat(2)`,
/// `read(2)`; a failed call's error names it.
///
/// The file is opened O_NONBLOCK so that a FIFO put in its place does not
/// block the open (nor the daemon's loop); anything but a regular file is
/// refused after fstat, before a byte is read (a FIFO, /dev/zero, a
/// directory), and so is a file of more than `limit` bytes, whether fstat
/// says so or the file grows while read. O_NONBLOCK has no effect on a
/// regular file's reads, so it is left set.
public func readWholeFile(_ path: String, limit: Int = readWholeFileLimit) throws(FileReadError) -> String {
    let fd = try checked { () throws(SystemError) in try FileDescriptor.open(path, O_RDONLY | O_NONBLOCK) }
    defer { fd.close() }
    var info = stat()
    _ = try checked { () throws(SystemError) in try syscall("fstat") { fstat(fd.rawValue, &info) } }
    guard info.st_mode & S_IFMT == S_IFREG else { throw .notRegularFile }
    guard info.st_size <= limit else { throw .tooLarge(limit: limit) }
    // Read straight into the string's storage: one buffer, no copies. The
    // size is fstat(2)'s plus one byte, so a full buffer means the file grew
    // while read; then it is read again in chunks, up to `limit`.
    let expected = Int(info.st_size)
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
        if let failure { throw .system(failure) }
        if complete { return text }
        _ = try checked { () throws(SystemError) in try syscall("lseek") { lseek(fd.rawValue, 0, SEEK_SET) } }
    }
    var bytes: [UInt8] = []
    let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
    defer { chunk.deallocate() }
    while true {
        let got = try checked { () throws(SystemError) in try fd.read(into: chunk) }
        if got == 0 { return String(decoding: bytes, as: UTF8.self) }
        guard bytes.count + got <= limit else { throw .tooLarge(limit: limit) }
        bytes.append(contentsOf: chunk[0..<got])
    }
}

/// Runs `body`, turning its SystemError into a FileReadError.
private func checked<T>(_ body: () throws(SystemError) -> T) throws(FileReadError) -> T {
    do { return try body() } catch { throw .system(error) }
}
