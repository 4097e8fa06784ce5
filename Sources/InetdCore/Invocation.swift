/// What `inetd --convert` reads.
public enum ConversionKind: String, Equatable, Sendable, CaseIterable { case xinetd, systemd }

/// `inetd [-d] [-E] [--check] [--notify-fd N] [--version] [--help] [CONFIG]`,
/// `inetd --convert xinetd|systemd PATH`
public struct Invocation: Equatable {
    public enum Action: Equatable { case serve, check, version, help, convert(ConversionKind, path: String) }

    public var action: Action = .serve
    public var verbose = false
    /// `-E`: handlers get inetd's whole environment, not the handler's own.
    public var keepEnvironment = false
    public var notifyFD: Int32?
    public var configPath = "/etc/inetd.conf"

    /// The release, as `ready` and `reloaded` log it.
    public static let release = "0.1.0"
    public static let version = "inetd (swift-inetd) \(release)"
    public static let usage = """
        usage: inetd [-d] [-E] [--check] [--notify-fd N] [--version] [--help] [CONFIG]
               inetd --convert xinetd|systemd PATH
          -d             log one line per connection and per handler exit
          -E             give handlers inetd's whole environment (default: PATH, the
                         handler user's HOME, USER, LOGNAME, SHELL, TZ, LANG, LC_*)
          --check        parse CONFIG, resolve names, print the service table; bind nothing
          --notify-fd N  write a newline to fd N (3 or more) once every socket that can be
                         bound is bound, then close it
          CONFIG         the configuration file (default /etc/inetd.conf)
          --convert xinetd PATH   print inetd.conf lines for an xinetd file (its include and
                         includedir followed) or directory (/etc/xinetd.d)
          --convert systemd PATH  print inetd.conf lines for a .socket unit and its .service
        """

    /// --notify-fd takes 3 and above: inetd closes the descriptor after the
    /// newline, and a closed 0, 1 or 2 would be where the next connection
    /// lands (a client then reading inetd's log on fd 2).
    public static let lowestNotifyFD: Int32 = 3

    /// What `parse` leaves to the caller: a usage error in the values of
    /// options that parsed. nil when there is none.
    public var usageProblem: UsageError? {
        if let fd = notifyFD, fd < Self.lowestNotifyFD {
            return UsageError(description: "--notify-fd \(fd): must be \(Self.lowestNotifyFD) or more (0, 1 and 2 are stdin, stdout and stderr)")
        }
        return nil
    }

    public struct UsageError: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// inetd's own command line (argv[0] first) for the image an upgrade
    /// execs, less `--notify-fd`: the s6 descriptor was written and closed
    /// at readiness, and is not written again (SPEC 5). Beside `parse`, so
    /// that one file knows the options' syntax.
    public static func argumentsForUpgrade(_ arguments: [String]) -> [String] {
        var kept: [String] = []
        var skipNext = false
        var optionsEnded = false
        for argument in arguments {
            if skipNext {
                skipNext = false
                continue
            }
            if !optionsEnded {
                if argument == "--" { optionsEnded = true }
                if argument == "--notify-fd" {
                    skipNext = true
                    continue
                }
                if argument.hasPrefix("--notify-fd=") { continue }
            }
            kept.append(argument)
        }
        return kept
    }

    public static func parse(_ arguments: [String]) -> Result<Invocation, UsageError> {
        var invocation = Invocation()
        var sawConfig = false
        var index = 0
        var optionsEnded = false
        var converting = false
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if !optionsEnded, argument.hasPrefix("-"), argument != "-" {
                switch argument {
                case "--": optionsEnded = true
                case "-d", "--debug": invocation.verbose = true
                case "-E": invocation.keepEnvironment = true
                case "--check": invocation.action = .check
                case "--version": invocation.action = .version
                case "-h", "--help": invocation.action = .help
                case "--convert":
                    guard index + 1 < arguments.count, let kind = ConversionKind(rawValue: arguments[index]) else {
                        return .failure(UsageError(description: "--convert needs xinetd or systemd, then a PATH"))
                    }
                    invocation.action = .convert(kind, path: arguments[index + 1])
                    index += 2
                    converting = true
                case "--notify-fd":
                    guard index < arguments.count, let fd = Int32(arguments[index]), fd >= 0 else {
                        return .failure(UsageError(description: "--notify-fd needs a descriptor number"))
                    }
                    invocation.notifyFD = fd
                    index += 1
                default:
                    if argument.hasPrefix("--notify-fd="), let fd = Int32(argument.dropFirst(12)), fd >= 0 {
                        invocation.notifyFD = fd
                    } else {
                        return .failure(UsageError(description: "unknown option '\(argument)'"))
                    }
                }
                continue
            }
            guard !sawConfig else { return .failure(UsageError(description: "more than one CONFIG given")) }
            invocation.configPath = argument
            sawConfig = true
        }
        if converting {
            guard case .convert = invocation.action else {
                return .failure(UsageError(description: "--convert goes with no other action"))
            }
            if sawConfig { return .failure(UsageError(description: "--convert takes its PATH, and no CONFIG")) }
        }
        return .success(invocation)
    }
}
