import Glibc

/// Binding, re-binding and closing listeners.
extension Daemon {
    /// Binds one socket, within a binding pass: `descriptors.startBinding()`
    /// counts the room first, and `reportSkippedBinds()` logs at its end
    /// what the pass left unbound for want of descriptors.
    func bind(_ listener: Listener, poll polling: Bool = true) {
        guard descriptors.hasRoomToBind else {
            // Left unbound, so that the bound services keep the headroom they
            // need to serve; retried with the others every 60 s.
            // Counted, and logged once for the whole pass
            // (`reportSkippedBinds`): a 50,000-line file logged 30,017
            // lines, one per socket.
            let text = "descriptor limit"
            if listener.lastBindError != text {
                descriptors.countSkipped(service: listener.state.label, address: listener.name)
            }
            listener.lastBindError = text
            scheduleBindRetry()
            return
        }
        do {
            let bound = try SocketBinder.open(listener.endpoint, listener.state.service)
            descriptors.countBound()
            if bound.file != nil { descriptors.countBound() }  // its directory, held open
            listener.fd = bound.fd
            listener.keepSocketFile(bound.file)
            // A socket that failed before binds now: said at the default
            // level, or the log would end at its bind_failed while it serves.
            if let before = listener.lastBindError {
                log.info("bound", ("service", listener.state.label), ("address", listener.name), ("after", before))
            }
            listener.lastBindError = nil
            // The label formatted, not cached (`state.label`): one line per
            // socket at start, and caching made every service keep it for as
            // long as it runs.
            if log.verbose { log.debug("listening", ("service", listener.state.service.label), ("address", listener.name)) }
            if polling { reconcile(listener) }
        } catch where SocketBinder.ipv6Unavailable(error) && listener.state.entry.transport.families == .both {
            log.warn("ipv6_unavailable", ("service", listener.state.label), ("error", "\(error)"))
            listeners.forget(listener)
        } catch {
            let text = "\(error)"
            if listener.lastBindError != text {
                log.error("bind_failed", ("service", listener.state.label), ("address", listener.name),
                          ("error", text), ("retry_in_s", "\(Self.bindRetryMilliseconds / 1000)"))
            }
            listener.lastBindError = text
            scheduleBindRetry()
        }
    }

    func scheduleBindRetry() {
        deadlines.scheduleIfUnset(.bindRetry, at: monotonicMilliseconds() + Self.bindRetryMilliseconds)
    }

    /// Every 60 s while a socket is unbound, in file order, so that the same
    /// lines win as at start.
    func retryBinding() {
        descriptors.startBinding()
        for listener in listeners.inOrder where listener.fd == nil { bind(listener) }
        reportSkippedBinds()
        statusMayHaveChanged()
    }

    /// The end of a binding pass: one line for the sockets it newly left
    /// unbound for want of descriptors, with their count and the first of
    /// them (SIGUSR1 lists each as `unbound`). Sockets already unbound for
    /// that reason before the pass are not counted again.
    func reportSkippedBinds() {
        guard descriptors.skipped > 0, let first = descriptors.firstSkipped else { return }
        log.error("bind_skipped", ("sockets", "\(descriptors.skipped)"), ("first_service", first.service),
                  ("first_address", first.address),
                  ("reason", "fewer than \(DescriptorBudget.reserve) descriptors would remain"),
                  ("limit", "\(descriptors.limit?.soft ?? 0)"), ("retry_in_s", "\(Self.bindRetryMilliseconds / 1000)"))
    }

    /// A kept socket takes the new entry's socket options.
    func reconfigure(_ listener: Listener) {
        guard let fd = listener.fd else {
            bind(listener)
            return
        }
        let entry = listener.state.entry
        do throws(SystemError) {
            try SocketBinder.setBuffers(fd, entry)
            try SocketBinder.listen(fd, listener.endpoint, entry)
            // An adopted socket's file is its holder's (`Listener.inherited`).
            if listener.endpoint.kind == .unix, !listener.inherited {
                let found = try SocketBinder.applyOwnership(listener.state.service, file: listener.socketFile)
                if found != .ours { warnNotOurs(listener, found) }
            }
        } catch {
            log.warn("reconfigure_failed", ("service", listener.state.label), ("error", "\(error)"))
        }
        reconcile(listener)
    }

    /// Closes a listener for good (removed by a reload, or at stop). A
    /// handler holding the socket keeps its own copy.
    func close(_ listener: Listener) {
        closeSocket(listener)
        listeners.forget(listener)
    }

    /// A socket a handler shut down no longer listens (a datagram socket
    /// reads EOF), yet stays readable, which would start a handler on every
    /// turn: it is closed and bound anew, and stays in the table. A bind
    /// that fails now is retried every 60 s, as at start.
    func rebind(_ listener: Listener) {
        closeSocket(listener)
        descriptors.startBinding()
        bind(listener, poll: false)
        reportSkippedBinds()
        statusMayHaveChanged()
    }

    private func closeSocket(_ listener: Listener) {
        withdraw(listener)
        if let fd = listener.fd {
            // A child cloned a moment ago may still hold a copy of every
            // descriptor until its exec closes them; if that copy outlived
            // ours, connections would queue on a removed service and be
            // reset. Shut down, the socket stops listening at once. Not a
            // socket a handler holds: that handler keeps it (SPEC 6).
            // Nor an adopted socket: its holder (systemd's socket unit, an
            // fd holder) may hold it too, and shut down it would no longer
            // listen for the holder either.
            if !listener.held, !listener.inherited, listener.endpoint.socketType != .dgram { try? Socket.shutdown(fd) }
            fd.close()
            listener.fd = nil
            listener.inherited = false
            if let file = listener.socketFile {
                // Only the socket file inetd bound is removed, and only in
                // the directory it was bound in: a symlink, a file or
                // another program's socket now at the name stays, and so
                // does whatever the path now reaches elsewhere.
                listener.keepSocketFile(nil)
                do {
                    let found = try file.remove()
                    if case .other = found { warnNotOurs(listener, found) }
                } catch {
                    log.warn("unlink_failed", ("service", listener.state.label), ("path", listener.endpoint.address.host),
                             ("error", "\(error)"))
                }
                file.directory.close()
            }
            if log.verbose { log.debug("closed", ("service", listener.state.label), ("address", listener.name)) }
        }
    }

    /// The path of a unix listener no longer holds the socket file inetd
    /// bound there: logged, and whatever is there is left alone.
    func warnNotOurs(_ listener: Listener, _ found: UnixSocketFile.Found) {
        let what: String
        switch found {
        case .ours: return
        case .nothing: what = "nothing"
        case .other(let kind): what = kind
        }
        log.warn("unix_path_not_ours", ("service", listener.state.label), ("path", listener.endpoint.address.host),
                 ("found", what), ("action", "left alone"))
    }
}
