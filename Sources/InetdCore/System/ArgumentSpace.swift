import Glibc

extension ExecLimits {
    /// The limits a handler of this process meets at execve, beside an
    /// environment that takes `environmentBytes` (`environmentBytes(_:)`).
    /// The space is read at each load: a stack limit changed meanwhile (by
    /// prlimit) applies from the next reload on. C equivalent:
    /// `sysconf(_SC_ARG_MAX)`, which glibc computes as a quarter of
    /// RLIMIT_STACK, the limit the child inherits.
    static func current(environmentBytes: Int) -> ExecLimits {
        let quarter = sysconf(CInt(_SC_ARG_MAX))
        return ExecLimits(argumentSpace: argumentSpace(quarterOfStackLimit: quarter > 0 ? quarter : 128 << 10),
                          environmentBytes: environmentBytes)
    }
}
