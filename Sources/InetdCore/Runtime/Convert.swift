/// `inetd --convert xinetd|systemd PATH`: reads the files (through the
/// System seam) and hands their text to the pure converters in
/// Config/Conversion; the inetd.conf text goes to standard output, every
/// diagnostic to standard error. 0 when everything was expressed, 1 when
/// a file could not be read or a service could not be expressed.
public func runConvert(_ kind: ConversionKind, path: String) -> Int32 {
    let conversion: Conversion
    do throws(ConvertReadError) {
        switch kind {
        case .xinetd: conversion = XinetdConversion.convert(try readXinetd(path))
        case .systemd: conversion = try convertSystemd(path)
        }
    } catch {
        writeStandardError(Conversion.printable("\(path): \(error.message)") + "\n")
        return 1
    }
    writeStandardOutput(conversion.render(heading: [
        "inetd.conf lines from inetd --convert \(kind.rawValue) \(path)",
        "check them with inetd --check before use; docs/converting.md tells each mapping",
    ]))
    // Notes (a disabled service is off) are comments only.
    for diagnostic in conversion.allDiagnostics where diagnostic.severity != .note {
        writeStandardError(Conversion.printable("\(diagnostic)") + "\n")
    }
    return conversion.failed ? 1 : 0
}

struct ConvertReadError: Error { var message: String }

/// xinetd's files: a directory is read as `includedir` reads it (regular
/// files whose names have no `.` and end in no `~`); a file, with its
/// `include` and `includedir` lines followed, each file once.
func readXinetd(_ path: String) throws(ConvertReadError) -> [XinetdFile] {
    var files: [XinetdFile] = []
    var seen: Set<String> = []

    func directoryFiles(_ directory: String) throws(FileReadError) -> [String] {
        do {
            return try directoryNames(directory).filter(XinetdFile.includedName).map { directory + "/" + $0 }
                .filter { !isDirectory($0) }
        } catch { throw .system(error) }
    }

    func read(_ file: String, depth: Int) throws(FileReadError) {
        guard seen.insert(file).inserted else { return }
        var parsed = XinetdFile(path: file, text: try readWholeFile(file))
        // The including file comes before what it includes.
        let index = files.count
        files.append(parsed)
        for include in parsed.includes {
            do throws(FileReadError) {
                guard depth < 8 else {
                    parsed.diagnostics.append(Diagnostic(file: file, line: include.line, message: "includes nested deeper than 8: not read"))
                    continue
                }
                for name in include.directory ? try directoryFiles(include.path) : [include.path] {
                    try read(name, depth: depth + 1)
                }
            } catch {
                let what = include.directory ? "includedir" : "include"
                parsed.diagnostics.append(Diagnostic(file: file, line: include.line,
                                                     message: "\(what) \(include.path): \(error)"))
            }
        }
        files[index] = parsed
    }

    do throws(FileReadError) {
        if isDirectory(path) {
            // One file that cannot be read (a FIFO, a dangling link) is an
            // error of its own; the others are still converted.
            for file in try directoryFiles(path) {
                do throws(FileReadError) { try read(file, depth: 1) } catch {
                    var failed = XinetdFile(path: file, text: "")
                    failed.diagnostics.append(Diagnostic(file: file, line: 1, message: "\(error)"))
                    files.append(failed)
                }
            }
        } else {
            try read(path, depth: 0)
        }
    } catch {
        throw ConvertReadError(message: "\(error)")
    }
    return files
}

/// A .socket unit and its .service, found beside it as systemd names it.
func convertSystemd(_ path: String) throws(ConvertReadError) -> Conversion {
    let socket: SystemdUnit
    do { socket = SystemdUnit(path: path, text: try readWholeFile(path)) } catch {
        throw ConvertReadError(message: "\(error)")
    }
    let name = SystemdUnitConversion.serviceName(for: socket)
    let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
    let servicePath = name.hasPrefix("/") ? name : directory + "/" + name
    var service: SystemdUnit?
    var problem: Diagnostic?
    do { service = SystemdUnit(path: servicePath, text: try readWholeFile(servicePath)) } catch {
        problem = Diagnostic(file: path, line: socket.value("Socket", "Service")?.line ?? 1,
                             message: "cannot read the service unit \(servicePath): \(error)")
    }
    var conversion = SystemdUnitConversion.convert(socket: socket, service: service)
    if let problem { conversion.diagnostics.append(problem) }
    return conversion
}
