import Glibc

extension Daemon {
    /// The check passed: every socket, every connection the loop serves and
    /// the state of handlers and services go to the new image, which is
    /// exec'd in place (same pid: the handlers stay its children and
    /// systemd's MAINPID holds). Returns only when the exec failed; then
    /// everything is as it was and this image serves on.
    func replaceImage(with binary: String) {
        readiness.reloading()
        // A child still setting up runs on this image's memory (CLONE_VM):
        // none may be left when the image goes. Those that overrun are
        // killed and reported here, before their state is written.
        PreparedProgram.settle(bound: Self.execBoundMilliseconds)
        collectLateSpawnFailures()
        let handedOverAt = monotonicMicroseconds()
        var handover = HandOverList()
        let state = upgradeState(handedOverAt: handedOverAt, into: &handover)
        let stateFD: FileDescriptor
        do {
            stateFD = try SealedState.create(UpgradeState.fdName, holding: state.encoded())
        } catch {
            log.error("upgrade_failed", ("step", "state"), ("error", "\(error)"), ("action", "old image serving"))
            readiness.reloaded(status: statusForReady())
            return
        }
        handover.add(stateFD, name: UpgradeState.fdName)
        var environment = CurrentProcess.environment().filter { !$0.hasPrefix("LISTEN_") }
        environment.append("LISTEN_FDS=\(handover.fds.count)")
        environment.append("LISTEN_PID=\(CurrentProcess.id)")
        environment.append("LISTEN_FDNAMES=" + handover.names.joined(separator: ":"))
        log.info("upgrade_exec", ("binary", binary), ("sockets", "\(handover.sockets)"),
                 ("handlers", "\(state.children.count)"), ("connections", "\(state.connections.count)"))
        log.flushSummaries()
        let (step, error) = CurrentProcess.replaceImage(path: binary, arguments: Invocation.argumentsForUpgrade(CommandLine.arguments),
                                                        environment: environment, handing: handover.fds)
        stateFD.close()
        log.error("upgrade_failed", ("step", step == .exec ? "exec" : "descriptors"), ("error", "\(error)"),
                  ("action", "old image serving"))
        readiness.reloaded(status: statusForReady())
    }

    /// What the new image needs besides the descriptors, and the
    /// descriptors themselves in `handover`: every bound socket (those a
    /// handler holds too), then every connection the loop serves.
    private func upgradeState(handedOverAt: Int64, into handover: inout HandOverList) -> UpgradeState {
        var serviceIndex: [ObjectIdentifier: UInt32] = [:]
        var records: [UpgradeState.ServiceRecord] = []
        for state in services {
            serviceIndex[ObjectIdentifier(state)] = UInt32(records.count)
            var record = Self.record(of: state)
            // Its handlers write on: the pair goes over, and only the
            // unfinished lines are logged now (the queue stays in the socket
            // for the next image). A retired channel's handlers, of a line
            // a reload removed, lose their stderr (docs/upgrades.md).
            if let channel = state.stderrChannel, !channel.retired {
                stderrLines.flush(source: channel.token.slot) { logStderrLine($0, $1, $2, $3) }
                record.stderr = [handover.add(channel.pair.receiving, name: "inetd-stderr"),
                                 handover.add(channel.pair.sending, name: "inetd-stderr")]
            }
            records.append(record)
        }
        var places: [ObjectIdentifier: UInt32] = [:]
        var owned: [UInt32] = []
        for listener in listeners.inOrder {
            guard let fd = listener.fd else { continue }
            let place = handover.add(fd, name: Self.socketName(listener))
            places[ObjectIdentifier(listener)] = place
            if !listener.inherited { owned.append(place) }
            handover.sockets += 1
        }
        let children = children.all.map { pid, child in
            UpgradeState.ChildRecord(pid: pid, service: serviceIndex[ObjectIdentifier(child.state)], wait: child.wait,
                                     started: child.started,
                                     held: child.sockets.compactMap { places[ObjectIdentifier($0)] },
                                     source: Self.record(of: child.source))
        }
        var connectionRecords: [UpgradeState.ConnectionRecord] = []
        for connection in connections.all {
            var record = UpgradeState.ConnectionRecord(
                place: 0, listener: nil, service: serviceIndex[ObjectIdentifier(connection.state)], kind: .pendingHeader,
                lastActivity: connection.lastActivity, deadline: nil, inputClosed: false, chargenOffset: 0, pending: [],
                source: nil)
            if let builtin = connection as? BuiltinConnection {
                switch builtin.kind {
                case .echo: record.kind = .echo
                case .discard: record.kind = .discard
                case .chargen: record.kind = .chargen
                // Answered at accept: never held in the loop.
                case .daytime, .time: continue
                }
                record.inputClosed = builtin.inputClosed
                record.chargenOffset = UInt32(builtin.chargenOffset)
                record.pending = Array(builtin.buffer[0..<builtin.pending])
                record.source = Self.record(of: builtin.source)
            } else if let pending = connection as? PendingHeader {
                guard let place = places[ObjectIdentifier(pending.listener)] else { continue }
                record.listener = place
                record.deadline = pending.deadline
            } else {
                continue
            }
            record.place = handover.add(connection.fd, name: "connection")
            connectionRecords.append(record)
        }
        return UpgradeState(startedAt: upgradeStartedAt ?? startedAt, upgrades: upgradesSoFar + 1,
                            handedOverAt: handedOverAt, owned: owned, services: records, children: children,
                            connections: connectionRecords)
    }

    private static func record(of state: ServiceState) -> UpgradeState.ServiceRecord {
        let c = state.counters
        return UpgradeState.ServiceRecord(
            endpoints: state.service.upgradeKeys, accepted: Int64(state.accepted),
            spawned: Int64(state.spawned), execFailures: Int64(state.execFailures), atCap: Int64(c.atCap),
            overRate: Int64(c.overRate), denied: Int64(c.denied), overPerSource: Int64(c.overPerSource),
            overPerSourceRate: Int64(c.overPerSourceRate), proxyRefused: Int64(c.proxyRefused),
            bucketFullAt: state.startBucket.fullAt, quickFailures: Int64(state.quickFailures),
            backoffMilliseconds: state.backoffMilliseconds, resumeAt: state.resumeAt, rateResumeAt: state.rateResumeAt)
    }

    private static func record(of source: SourceKey?) -> UpgradeState.SourceRecord? {
        source.map { UpgradeState.SourceRecord(kind: $0.kind.rawValue, high: $0.high, low: $0.low) }
    }

    /// A socket's LISTEN_FDNAMES entry: its line's service field without
    /// the address (`7007`, `echo`), as systemd would name it, with no ':'
    /// (the list's separator).
    private static func socketName(_ listener: Listener) -> String {
        String(decoding: ServiceState.validFDName(listener.state.service.fdName), as: UTF8.self)
    }
}

extension Endpoint {
    /// What names an endpoint across an upgrade: its socket type and its
    /// description (address, port or path, transport, family).
    var upgradeKey: String { "\(socketType) \(description)" }
}

extension Service {
    /// A service's name across an upgrade: its endpoints' keys, sorted.
    var upgradeKeys: [String] { endpoints.map(\.upgradeKey).sorted() }
}

/// The descriptors an upgrade passes, in LISTEN_FDS order, and their names.
struct HandOverList {
    private(set) var fds: [FileDescriptor] = []
    private(set) var names: [String] = []
    var sockets = 0

    @discardableResult
    mutating func add(_ fd: FileDescriptor, name: String) -> UInt32 {
        fds.append(fd)
        names.append(name)
        return UInt32(fds.count - 1)
    }
}
