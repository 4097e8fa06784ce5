/// The limits and access rules of a service's line as the loop reads them
/// on every connection: plain numbers (0 for no limit) and the compiled
/// `allow=`/`deny=` ranges, made once per load.
struct ServiceLimits {
    /// `max=`: concurrent handlers of a nowait service, or connections of
    /// a built-in (default 64, systemd's); 0 means no cap, as FreeBSD's
    /// `/C` 0.
    var maxConcurrent: Int
    /// `rate=`, `.N`: starts per 60 s (`TokenBucket`).
    var rate: Int
    /// `per-ip=` and `per-ip-rate=`, over `ip-prefix=`'s sources.
    var perSourceConcurrent: Int
    var perSourceRate: Int
    var prefixV4: Int
    var prefixV6: Int
    var access: AccessRules?
    /// `proxy`: whose header is read, and for how long.
    var proxy: ProxyPolicy?

    init(_ entry: ServiceEntry) {
        let limits = entry.limits
        maxConcurrent = limits.maxConcurrent ?? Limits.defaultMaxConcurrent
        rate = limits.rate ?? 0
        perSourceConcurrent = limits.perSourceConcurrent ?? 0
        perSourceRate = limits.perSourceRate ?? 0
        prefixV4 = limits.sourcePrefixV4
        prefixV6 = limits.sourcePrefixV6
        access = AccessRules(allow: entry.options.allow, deny: entry.options.deny)
        let options = entry.options
        if options.proxy {
            proxy = ProxyPolicy(trusted: AccessRules(allow: options.proxyFrom, deny: []), required: options.proxyRequired,
                                timeoutMilliseconds: Int64(options.proxyTimeoutSeconds ?? ProxyPolicy.defaultTimeoutSeconds) * 1000)
        }
    }

    /// Whether a connection's source is looked at before it is served.
    var judgesSources: Bool { access != nil || perSourceConcurrent > 0 || perSourceRate > 0 }
    var countsSources: Bool { perSourceConcurrent > 0 || perSourceRate > 0 }
}

/// What the limits held back or refused, per service, since start (SIGUSR1).
/// A cap and a rate refuse nothing: they count the times the socket left
/// the loop for them, while clients waited in the backlog.
struct LimitCounters {
    var atCap = 0
    var overRate = 0
    var denied = 0
    var overPerSource = 0
    var overPerSourceRate = 0
    /// `proxy`: connections closed for their header (missing, malformed,
    /// truncated, too long, too late), or refused as untrusted with
    /// `proxy=required`, or over the daemon's bound on waiting headers.
    var proxyRefused = 0
}

/// A `proxy` line's trust: the balancers whose header is believed (nil:
/// every source, which `--check` warns of), whether a connection from
/// anywhere else is refused (`proxy=required`) or served as itself, and how
/// long a header may take.
struct ProxyPolicy {
    var trusted: AccessRules?
    var required: Bool
    var timeoutMilliseconds: Int64

    static let defaultTimeoutSeconds = 5
}
