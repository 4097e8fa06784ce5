import Glibc
import _InetdSystem

/// This process's own state: its pid, its file-creation mask, its
/// environment, and its exit.
public enum CurrentProcess {
    /// C equivalent: `getpid(2)`.
    static var id: pid_t { getpid() }

    /// Sets the file-creation mask and returns the one before (the call
    /// cannot fail). C equivalent: `umask(2)`.
    @discardableResult
    static func setFileCreationMask(_ mask: mode_t) -> mode_t { umask(mask) }

    /// The value of the environment variable `name`; nil when unset.
    /// C equivalent: `getenv(3)`.
    static func environmentValue(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }

    /// Removes `name` from the environment. C equivalent: `unsetenv(3)`,
    /// which fails only for a name that is empty or holds `=`.
    static func removeEnvironmentValue(_ name: String) {
        _ = unsetenv(name)
    }

    /// Every entry of the environment, `NAME=value`, in order. C
    /// equivalent: walking `environ` (read through `inetd_environ`).
    static func environment() -> [String] {
        var entries: [String] = []
        guard var cursor = inetd_environ() else { return entries }
        while let entry = cursor.pointee {
            entries.append(String(cString: entry))
            cursor += 1
        }
        return entries
    }

    /// Ends the process with `status`. C equivalent: `exit(3)`.
    public static func exit(_ status: Int32) -> Never { Glibc.exit(status) }
}
