import ArgumentParser
import Glibc
import OrderbooksCore

/// The options of `ship`, `ship prune` and `ship check`.
public struct ShipOptions: ParsableArguments {
    @OptionGroup public var common: CommonOptions

    @Option(name: .customLong("remote"), help: ArgumentHelp(
        "rclone remote and folder to ship to, e.g. gdrive:orderbooks/polymarket; parts go under YYYY/MM/DD/ in it. [env: ORDERBOOKS_REMOTE] [required]",
        valueName: "remote:path"))
    var remote: String?

    @Option(name: .customLong("rclone-config"), help: ArgumentHelp(
        "rclone's config file, passed to it with --config; rclone saves refreshed OAuth tokens there, so it must be writable. [env: RCLONE_CONFIG] [default: rclone's own (~/.config/rclone/rclone.conf)]",
        valueName: "path"))
    var rcloneConfig: String?

    @Option(name: .customLong("rclone"), help: ArgumentHelp(
        "The rclone program. [env: ORDERBOOKS_RCLONE] [default: rclone, from PATH]", valueName: "path"))
    var rclone: String?

    @Flag(name: .customLong("dry-run"), help: "Show what would be uploaded (ship) or deleted (ship prune), running no rclone and changing nothing; ship check: rewrite no receipt.")
    var dryRun = false

    @Flag(name: .customLong("wait"), help: "Wait for a ship, prune or check already running to finish, instead of exiting 0 at once.")
    var wait = false

    public init() {}

    public func configuration(environment env: [String: String], command: [String], keepDays: Int = 0) throws -> ShipConfiguration {
        // Not Setting.resolve: its message repeats the value, and a remote may hold a password.
        let given = remote ?? env["ORDERBOOKS_REMOTE"].flatMap { $0.isEmpty ? nil : $0 }
        guard let remote = given else {
            throw ConfigurationError(description: "no remote: set ORDERBOOKS_REMOTE or --remote (e.g. gdrive:orderbooks/polymarket; docs/OPERATIONS.md)")
        }
        let redaction = Redaction(remote: remote)
        if remote.isEmpty || remote.contains(where: { $0.isNewline || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } == true }) {
            let message = "'\(redaction.shownRemote.filter { !$0.isNewline })' is not an rclone remote such as gdrive:orderbooks/polymarket"
            if self.remote != nil { throw ValidationError("--remote: " + message) }
            throw ConfigurationError(description: "ORDERBOOKS_REMOTE=" + message)
        }
        let dataDirectory = try common.dataDirectory(env)
        // A local folder as the remote (rclone's local backend) must not be the data itself:
        // with the remote at sealed/, every check would pass and prune would delete the only copy.
        if Self.isLocalPath(remote), let target = Self.resolvedPath(remote), let data = Self.resolvedPath(dataDirectory),
           target == data || target.hasPrefix(data + "/") {
            throw ConfigurationError(description: "the remote \(redaction.shownRemote) is inside the data directory \(dataDirectory): ship would verify files against themselves")
        }
        let configFile = rcloneConfig ?? env["RCLONE_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        if let configFile, access(configFile, R_OK) != 0 {
            throw ConfigurationError(description: "rclone config \(configFile) is not readable: \(String(cString: strerror(errno)))")
        }
        let program = try Setting.resolve(rclone, "ORDERBOOKS_RCLONE", env, default: "rclone", expected: "a program name or path") { $0.isEmpty ? nil : $0 }
        return ShipConfiguration(
            dataDirectory: dataDirectory, remote: remote,
            rclone: Rclone(program: program, configFile: configFile, record: RcloneRecord(DataDirectory(root: dataDirectory))),
            dryRun: dryRun, waitForLock: wait, keepDays: keepDays, command: command.map(redaction.scrub))
    }

    /// rclone reads `name:path` as a remote and anything else (no colon before the first `/`)
    /// as a local path.
    static func isLocalPath(_ remote: String) -> Bool {
        !remote.prefix { $0 != "/" }.contains(":")
    }

    /// The absolute path with symbolic links resolved, for a path that may not exist yet: its
    /// nearest existing ancestor resolved, the rest appended.
    static func resolvedPath(_ path: String) -> String? {
        var head = path.hasPrefix("/") ? path : "./" + path
        var tail: [Substring] = []
        while true {
            if let resolved = realpath(head, nil) {
                defer { free(resolved) }
                let base = String(cString: resolved)
                return ([base == "/" ? "" : base] + tail.reversed().map(String.init)).joined(separator: "/")
            }
            guard let slash = head.lastIndex(of: "/"), slash > head.startIndex else { return nil }
            tail.append(head[head.index(after: slash)...])
            head = String(head[..<slash])
        }
    }

}

/// The options of `ship prune`, on top of ship's.
public struct PruneOptions: ParsableArguments {
    @OptionGroup public var ship: ShipOptions

    @Option(name: .customLong("keep-days"), help: ArgumentHelp(
        "Keep parts whose time window ended less than this many days ago, shipped or not. [env: ORDERBOOKS_KEEP_DAYS] [default: 7]",
        valueName: "days"))
    var keepDays: String?

    public init() {}

    public func configuration(environment env: [String: String], command: [String]) throws -> ShipConfiguration {
        let days = try Setting.resolve(keepDays, "ORDERBOOKS_KEEP_DAYS", env, default: 7,
                                       expected: "whole days between 0 and 36500") { Int($0).flatMap { (0...36_500).contains($0) ? $0 : nil } }
        return try ship.configuration(environment: env, command: command, keepDays: days)
    }
}

/// The options of `ship check`, on top of ship's.
public struct CheckOptions: ParsableArguments {
    @OptionGroup public var ship: ShipOptions

    @Flag(name: .customLong("read-data"), help: "Download every file and compare its sha256, even where the remote lists an md5 (slow: the whole archive is read).")
    public var readData = false

    @Flag(name: .customLong("json"), help: "Print one JSON report on stdout (docs/FORMAT.md, \"Check reports\"); the log stays on stderr.")
    public var json = false

    public init() {}
}
