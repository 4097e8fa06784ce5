/// How a handler ended, as waitpid(2) reported it.
struct ExitStatus: CustomStringConvertible {
    let raw: CInt

    init(_ raw: CInt) { self.raw = raw }

    /// Exited, with status 0.
    var isSuccess: Bool { (raw & 0x7F) == 0 && ((raw >> 8) & 0xFF) == 0 }

    /// `exit 0`, `exit 3`, `signal 11 (Segmentation fault)`.
    var description: String {
        if raw & 0x7F == 0 { return "exit \((raw >> 8) & 0xFF)" }
        let signal = raw & 0x7F
        if let name = signalText(signal) { return "signal \(signal) (\(name))" }
        return "signal \(signal)"
    }
}
