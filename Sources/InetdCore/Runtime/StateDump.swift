extension Daemon {
    /// SIGUSR1: one line per socket with its state, its service's program,
    /// user, running handlers and counters, and a socket's bind error and
    /// next retry; then one line for inetd itself (SPEC 6).
    func dumpState() {
        let now = monotonicMilliseconds()
        for listener in listeners.inOrder {
            let state = listener.state
            let condition = phase(of: listener).description
            let active = children.active(state) + connections.active(state)
            let held = state.counters
            var fields: [(String, String)] = [
                ("service", state.label), ("address", listener.endpoint.description), ("state", condition),
                ("program", state.programName), ("user", state.entry.user),
                ("active", "\(active)"),
            ]
            if listener.inherited { fields.append(("adopted", "yes")) }
            let pids = children.pids(of: state)
            if !pids.isEmpty { fields.append(("pids", pids.map { "\($0)" }.joined(separator: ","))) }
            if listener.fd == nil, let error = listener.lastBindError {
                fields.append(("bind_error", error))
                if let retry = deadlines.due(.bindRetry) { fields.append(("retry_in_s", "\(max(0, retry - now) / 1000)")) }
            }
            fields += [
                ("accepted", "\(state.accepted)"), ("spawned", "\(state.spawned)"),
                ("exec_failures", "\(state.execFailures)"), ("at_cap", "\(held.atCap)"),
                ("over_rate", "\(held.overRate)"), ("denied", "\(held.denied)"),
                ("over_per_ip", "\(held.overPerSource)"), ("over_per_ip_rate", "\(held.overPerSourceRate)"),
                ("proxy_refused", "\(held.proxyRefused)"),
            ]
            if let channel = state.stderrChannel {
                fields += [("stderr_lines", "\(channel.lines)"), ("stderr_cut", "\(channel.cutLines)")]
            }
            log.write(.info, "state", fields)
        }
        log.info("state", ("pid", "\(CurrentProcess.id)"), ("version", Invocation.release),
                 ("uptime_s", "\((now - startedAt) / 1000)"), ("children", "\(children.count)"),
                 ("services", "\(services.count)"), ("awaiting_headers", "\(connections.awaitingHeaders)"),
                 ("sources", "\(sources.count)"), ("sources_evicted", "\(sources.evicted)"))
    }
}
