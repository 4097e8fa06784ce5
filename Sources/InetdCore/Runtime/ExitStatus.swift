/// How a handler ended, as waitpid(2) reported it.
struct ExitStatus: CustomStringConvertible {
    let raw: CInt

    init(_ raw: CInt) { self.raw = raw }

    /// Exited, with status 0.
    var isSuccess: Bool { (raw & 0x7F) == 0 && ((raw >> 8) & 0xFF) == 0 }
    /// The signal that ended the process; nil when it exited.
    var signal: CInt? {
        let number = raw & 0x7F
        return number == 0 || number == 0x7F ? nil : number
    }

    /// `exit 0`, `exit 3`, `signal 11 (Segmentation fault)`.
    var description: String {
        if raw & 0x7F == 0 { return "exit \((raw >> 8) & 0xFF)" }
        let signal = raw & 0x7F
        if let name = signalText(signal) { return "signal \(signal) (\(name))" }
        return "signal \(signal)"
    }
}
