import Glibc

/// Makes sure descriptors 0, 1 and 2 are open (on /dev/null if they were
/// closed), so that no socket lands there and no log line goes to a peer.
public func ensureStandardDescriptors() {
    for raw: CInt in 0...2 where !FileDescriptor(rawValue: raw).isOpen {
        // Not close-on-exec: fd 2 is what handlers get as their stderr.
        guard let opened = try? FileDescriptor.open("/dev/null", O_RDWR, closeOnExec: false) else { continue }
        if opened.rawValue != raw {
            try? opened.duplicate(onto: FileDescriptor(rawValue: raw))
            opened.close()
        }
    }
}

/// Validates the --notify-fd descriptor and makes it close-on-exec: nil
/// when it is one of 0, 1 and 2 (closing it at readiness would let the next
/// connection land there) or not open. Whether it can be written is checked
/// at readiness, where a failure is a warning (`Readiness.ready`).
public func adoptNotifyFD(_ raw: CInt) -> FileDescriptor? {
    let fd = FileDescriptor(rawValue: raw)
    guard raw >= Invocation.lowestNotifyFD, fd.isOpen, (try? fd.setCloseOnExec()) != nil else { return nil }
    return fd
}
