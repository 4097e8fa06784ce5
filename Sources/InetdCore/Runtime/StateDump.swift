extension Daemon {
    /// SIGUSR1: one line per socket with its state and its service's counters.
    func dumpState() {
        for listener in listeners.inOrder {
            let state = listener.state
            let condition = phase(of: listener).description
            let active = children.active(state) + connections.active(state)
            let held = state.counters
            log.info("state", ("service", state.label), ("address", listener.endpoint.description), ("state", condition),
                     ("active", "\(active)"), ("accepted", "\(state.accepted)"), ("spawned", "\(state.spawned)"),
                     ("exec_failures", "\(state.execFailures)"), ("at_cap", "\(held.atCap)"),
                     ("over_rate", "\(held.overRate)"), ("denied", "\(held.denied)"),
                     ("over_per_ip", "\(held.overPerSource)"), ("over_per_ip_rate", "\(held.overPerSourceRate)"), ("proxy_refused", "\(held.proxyRefused)"))
        }
        log.info("state", ("children", "\(children.count)"), ("services", "\(services.count)"),
                 ("awaiting_headers", "\(connections.awaitingHeaders)"),
                 ("sources", "\(sources.count)"), ("sources_evicted", "\(sources.evicted)"))
    }
}
