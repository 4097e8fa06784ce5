import Glibc

/// NUL-terminated copies of Swift strings on the C heap, for data handed
/// to C (a handler's path, argv and environment) that must outlive a
/// `withCString` call.
enum CStrings {
    /// A copy of `text`, released with `release`; nil when out of memory.
    /// C equivalent: `strdup(3)`.
    static func duplicate(_ text: String) -> UnsafeMutablePointer<CChar>? {
        strdup(text)
    }

    /// Frees a copy `duplicate` made; nil is ignored. C equivalent: `free(3)`.
    static func release(_ copy: UnsafeMutablePointer<CChar>?) {
        free(copy)
    }
}
