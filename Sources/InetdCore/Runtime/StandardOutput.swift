/// Text for stdout and stderr outside the log (`--check`, usage, version):
/// written whole, blocking, as a command-line tool does.
public func writeStandardOutput(_ text: String) { writeText(text, to: .standardOutput) }
public func writeStandardError(_ text: String) { writeText(text, to: .standardError) }

private func writeText(_ text: String, to fd: FileDescriptor) {
    var bytes = Array(text.utf8)
    bytes.withUnsafeMutableBytes { raw in
        try? fd.writeAll(UnsafeRawBufferPointer(raw))
    }
}
