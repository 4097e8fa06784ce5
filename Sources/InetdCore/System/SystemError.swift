import Glibc

/// A failed system call: its name and the errno it set.
///
/// Renders as `accept: Too many open files (errno 24)`, the form every log line
/// and diagnostic uses.
public struct SystemError: Error, Equatable, CustomStringConvertible, Sendable {
    public let call: String
    public let errno: Int32

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    /// The errno's text alone, as strerror(3) gives it.
    public var message: String { errnoText(errno) }

    public var description: String { "\(call): \(message) (errno \(errno))" }
}

/// strerror(3) as a Swift string.
public func errnoText(_ code: Int32) -> String {
    String(cString: strerror(code))
}
