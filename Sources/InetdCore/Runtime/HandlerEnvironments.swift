/// The handler environments of the loaded services (SPEC 3), made at each
/// load: one per distinct set of base variables, so the services of one user
/// with the same `passenv=` and `env=` share one. Never made on the accept
/// path.
struct HandlerEnvironments {
    /// inetd's environment as it started: what `passenv=` and `-E` take
    /// from, and LANG, TZ and PATH.
    private let inherited: [String]
    private let keepAll: Bool
    private let scratch = VariableScratch()
    /// What inetd's environment, minus the reserved names, takes of exec's
    /// argument space: at most what a handler's base variables take
    /// (`ExecLimits`), but for a user's HOME and SHELL.
    let inheritedBytes: Int
    private var current: [[String]: HandlerEnvironment] = [:]
    /// The environments of the load before, while a load pairs its services:
    /// an unchanged one is kept, not made again.
    private var previous: [[String]: HandlerEnvironment] = [:]

    init(inherited: [String], keepAll: Bool) {
        self.inherited = inherited
        self.keepAll = keepAll
        inheritedBytes = Self.argumentBytes(of: inherited)
    }

    /// What `inherited`, minus the reserved names, takes of exec's argument
    /// space: the environment lines are measured against, at load and by
    /// `--check` alike.
    static func argumentBytes(of inherited: [String]) -> Int {
        ExecLimits.environmentBytes(inherited.filter { !isSetForHandlers($0) })
    }

    mutating func startLoad() {
        previous = current
        current = [:]
    }

    /// What no service of this load uses is freed.
    mutating func endLoad() { previous = [:] }

    mutating func environment(for service: Service) -> HandlerEnvironment {
        let options = service.entry.options
        let user = service.identity.map { HandlerVariables.User(name: $0.user, home: $0.home, shell: $0.shell) }
        let base = HandlerVariables.base(inherited: inherited, user: user, pass: options.passEnvironment,
                                         set: options.setEnvironment, keepAll: keepAll)
        if let made = current[base] ?? previous[base] {
            current[base] = made
            return made
        }
        let made = HandlerEnvironment(base, scratch: scratch)
        current[base] = made
        return made
    }
}
