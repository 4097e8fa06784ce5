import Glibc

/// The directory a unix socket lives in, held open (O_PATH) from its bind
/// to its removal: the stale-socket check and removal, the recording of the
/// file the bind made, the chmod and chown and the unlink all name the
/// socket by its last component in this directory, so none of them
/// resolves the path again. A directory on the way renamed, or swapped for
/// a symlink, after the walk changes nothing for them: the descriptor still
/// names the directory that was opened and judged. (bind and connect take
/// a path and have no *at form: `SocketBinder.bindUnix` says why they take
/// the configured one.)
struct SocketDirectory: Equatable, Sendable {
    let fd: FileDescriptor

    /// Opens the socket's directory: "/" first, then each component with
    /// `openat(parent, component, O_PATH|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC)`,
    /// which fails on a symlink (ENOTDIR) instead of following it. `steps`
    /// gets each directory opened, with its owner and mode from `fstat` on
    /// the very descriptor opened (so what `SocketDirectoryRule` judges is
    /// what inetd then uses), and where the walk stops, what stopped it (a
    /// symlink, with its target for the message, a non-directory, or
    /// nothing by that name).
    ///
    /// A walk rather than openat2(RESOLVE_NO_SYMLINKS): openat2 would give
    /// the last directory only, and judging its parents would need a second
    /// resolution of the path, which could reach other directories than the
    /// one opened. It is also one call per component on every kernel.
    static func open(_ path: UnixSocketPath, steps: inout [DirectoryStep]) throws(SystemError) -> SocketDirectory {
        var current = try FileSystemCalls.openRoot()
        do throws(SystemError) {
            steps.append(DirectoryStep(path: "/", kind: try kind(of: current)))
            var walked = ""
            for component in path.components {
                walked += "/" + component
                let next: FileDescriptor
                do {
                    next = try FileSystemCalls.openDirectory(component, in: current)
                } catch where error.errno == ENOTDIR || error.errno == ELOOP {
                    if let info = try? FileSystemCalls.statEntry(component, in: current) {
                        let target = (try? FileSystemCalls.readLink(component, in: current)) ?? "?"
                        let kind: DirectoryStep.Kind = info.st_mode & S_IFMT == S_IFLNK ? .symlink(target: target) : .notDirectory
                        steps.append(DirectoryStep(path: walked, kind: kind))
                    }
                    throw error
                } catch where error.errno == ENOENT {
                    steps.append(DirectoryStep(path: walked, kind: .missing))
                    throw error
                }
                current.close()
                current = next
                steps.append(DirectoryStep(path: walked, kind: try kind(of: current)))
            }
        } catch {
            current.close()
            throw error
        }
        return SocketDirectory(fd: current)
    }

    /// The directories of `path` as `open` finds them, for a load's
    /// judgement (`NameLookup.directories(along:)`); the descriptor is
    /// closed again.
    static func steps(along path: UnixSocketPath) -> [DirectoryStep] {
        var steps: [DirectoryStep] = []
        if let directory = try? open(path, steps: &steps) { directory.close() }
        return steps
    }

    private static func kind(of fd: FileDescriptor) throws(SystemError) -> DirectoryStep.Kind {
        let info = try FileSystemCalls.fstat(fd)
        return .directory(owner: info.st_uid, mode: UInt32(info.st_mode) & 0o7777)
    }

    func close() { fd.close() }
}
