import Glibc
import _InetdSystem

/// The signals the daemon acts on, read synchronously from a signalfd in the
/// event loop: no handler ever runs asynchronously.
public enum Signal: CInt, CaseIterable, Sendable {
    case hangup = 1      // SIGHUP: reload
    case interrupt = 2   // SIGINT: stop
    case user1 = 10      // SIGUSR1: state dump
    case user2 = 12      // SIGUSR2: re-exec
    case terminate = 15  // SIGTERM: stop
    case child = 17      // SIGCHLD: reap

    public var name: String {
        switch self {
        case .hangup: return "SIGHUP"
        case .interrupt: return "SIGINT"
        case .user1: return "SIGUSR1"
        case .user2: return "SIGUSR2"
        case .terminate: return "SIGTERM"
        case .child: return "SIGCHLD"
        }
    }
}

/// Signals received together.
public struct SignalSet: Sendable {
    private var bits: UInt64 = 0
    public init() {}
    public mutating func insert(_ signal: Signal) { bits |= 1 << UInt64(signal.rawValue) }
    public func contains(_ signal: Signal) -> Bool { bits & (1 << UInt64(signal.rawValue)) != 0 }
}

/// A signalfd over `Signal.allCases`, blocked for normal delivery.
public struct SignalChannel: ~Copyable {
    public let fd: FileDescriptor

    /// Blocks the signals, ignores SIGPIPE (a peer that went away is an error
    /// return, not a death) and opens the signalfd. C: `sigprocmask(2)`,
    /// `signalfd(2)` with SFD_CLOEXEC | SFD_NONBLOCK.
    public init() throws(SystemError) {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in Signal.allCases { sigaddset(&set, signal.rawValue) }
        _ = try syscall("sigprocmask") { sigprocmask(SIG_BLOCK, &set, nil) }
        var ignore = sigaction()
        ignore.__sigaction_handler.sa_handler = SIG_IGN
        _ = try syscall("sigaction") { sigaction(SIGPIPE, &ignore, nil) }
        fd = FileDescriptor(rawValue: try syscall("signalfd") {
            signalfd(-1, &set, CInt(SFD_CLOEXEC) | CInt(SFD_NONBLOCK))
        })
    }

    deinit { fd.close() }

    /// Every pending signal; several of one kind collapse to one (SIGCHLD
    /// reaping loops anyway). A bit set: reading signals allocates nothing.
    public func drain() throws(SystemError) -> SignalSet {
        var received = SignalSet()
        var info = signalfd_siginfo()
        while true {
            let got: Int
            do {
                got = try withUnsafeMutableBytes(of: &info) { (raw) throws(SystemError) -> Int in
                    try fd.read(into: raw)
                }
            } catch where error.errno == EAGAIN {
                return received
            }
            guard got == MemoryLayout<signalfd_siginfo>.size else { return received }
            if let signal = Signal(rawValue: CInt(info.ssi_signo)) { received.insert(signal) }
        }
    }
}

/// Sends a signal. C equivalent: `kill(2)`.
func sendSignal(_ signal: CInt, to pid: pid_t) throws(SystemError) {
    _ = try syscall("kill") { kill(pid, signal) }
}

/// A signal's description, `Segmentation fault` for SIGSEGV; nil if the C
/// library has none. C equivalent: `strsignal(3)`.
func signalText(_ signal: CInt) -> String? {
    guard let text = strsignal(signal) else { return nil }
    return String(cString: text)
}
