import ArgumentParser
import Glibc

/// A bad environment variable or an unusable file: exit status 78 (a bad flag is a
/// `ValidationError`, exit status 64).
public struct ConfigurationError: Error, CustomStringConvertible {
    public var description: String
}

/// Settles a tool's configuration; a `ConfigurationError` is logged and ends the process with
/// status 78 (a `ValidationError` from a flag is left to ArgumentParser: status 64).
public func settle<T>(_ log: Log, _ configure: () throws -> T) throws -> T {
    do {
        return try configure()
    } catch let error as ConfigurationError {
        log(.error, "configuration error: \(error)")
        throw ExitCode(ExitStatus.configuration.rawValue)
    }
}

/// Options every tool shares: where the data lives.
public struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: ArgumentHelp(
        "Data directory. [env: ORDERBOOKS_DATA_DIR] [default: $STATE_DIRECTORY when set (systemd's StateDirectory=), else /var/lib/orderbooks]",
        valueName: "path"))
    var dataDirectory: String?

    public init() {}

    public func dataDirectory(_ env: [String: String]) throws -> String {
        let stateDirectory = env["STATE_DIRECTORY"].flatMap { $0.split(separator: ":").first.map(String.init) }
        return try Setting.resolve(dataDirectory, "ORDERBOOKS_DATA_DIR", env, default: stateDirectory ?? "/var/lib/orderbooks",
                                   expected: "a directory path") { $0.isEmpty ? nil : $0 }
    }
}

/// The options of `snap`.
public struct SnapOptions: ParsableArguments {
    @OptionGroup public var common: CommonOptions

    @Option(name: .customLong("collector-id"), help: ArgumentHelp(
        "Name of this collector, in every row and file name; letters, digits, '.' and '-'. [env: ORDERBOOKS_COLLECTOR_ID] [default: the host name]",
        valueName: "id"))
    var collectorId: String?

    @Option(name: .customLong("clob-url"), help: ArgumentHelp(
        "Base URL of the CLOB API. [env: ORDERBOOKS_CLOB_URL] [default: \(SnapOptions.defaultCLOB)]", valueName: "url"))
    var clobURL: String?

    @Option(name: .customLong("gamma-url"), help: ArgumentHelp(
        "Base URL of the Gamma API. [env: ORDERBOOKS_GAMMA_URL] [default: \(SnapOptions.defaultGamma)]", valueName: "url"))
    var gammaURL: String?

    @Option(name: .customLong("ca-file"), help: ArgumentHelp(
        "Extra PEM bundle of trusted CAs, on top of the system store (tests use it for their own CA). [env: ORDERBOOKS_CA_FILE] [default: none]",
        valueName: "path"))
    var caFile: String?

    @Option(name: .customLong("series"), help: ArgumentHelp(
        "Comma-separated series to capture: 5m, 15m, hourly, 4h, daily (or their Gamma slugs, e.g. btc-up-or-down-5m). [env: ORDERBOOKS_SERIES] [default: all five]",
        valueName: "list"))
    var series: String?

    @Option(name: .customLong("connect-timeout"), help: ArgumentHelp(
        "Seconds to wait for a connection (TCP and TLS). [env: ORDERBOOKS_CONNECT_TIMEOUT] [default: 5]", valueName: "seconds"))
    var connectTimeout: String?

    @Option(name: .customLong("timeout"), help: ArgumentHelp(
        "Seconds one request may take in all; a run makes at most two rounds of requests. [env: ORDERBOOKS_TIMEOUT] [default: 10]",
        valueName: "seconds"))
    var timeout: String?

    @Option(name: .customLong("max-body-bytes"), help: ArgumentHelp(
        "Largest response body read (1024 to 1073741824); a larger one is cut off and recorded as a failure. [env: ORDERBOOKS_MAX_BODY_BYTES] [default: 16777216 (16 MiB)]",
        valueName: "bytes"))
    var maxBodyBytes: String?

    @Option(name: .customLong("user-agent"), help: ArgumentHelp(
        "User-Agent header (Cloudflare blocks some defaults). [env: ORDERBOOKS_USER_AGENT] [default: \(SnapOptions.defaultUserAgent)]",
        valueName: "text"))
    var userAgent: String?

    @Option(name: .customLong("discovery-ttl"), help: ArgumentHelp(
        "Seconds a Gamma answer is reused before asking again (0 asks every run). Answers stay usable when Gamma is down. [env: ORDERBOOKS_DISCOVERY_TTL] [default: 60]",
        valueName: "seconds"))
    var discoveryTTL: String?

    @Option(name: .customLong("resolution-deadline"), help: ArgumentHelp(
        "Seconds after a market's end to keep looking up its resolution on Gamma; then a failure row says it never came (60 to 604800). [env: ORDERBOOKS_RESOLUTION_DEADLINE] [default: 259200 (3 days)]",
        valueName: "seconds"))
    var resolutionDeadline: String?

    @Flag(name: .customLong("stdout"), help: "Print the rows (JSONL, uncompressed) instead of writing a file; the data directory is not used.")
    var toStdout = false

    public init() {}

    func collector(_ env: [String: String]) throws -> String {
        let host = Setting.hostName.map(Self.sanitized) ?? "collector"
        return try Setting.resolve(collectorId, "ORDERBOOKS_COLLECTOR_ID", env, default: host,
                                   expected: "1–64 letters, digits, '.' or '-'") { id in
            id.count <= 64 && !id.isEmpty && Self.sanitized(id) == id ? id : nil
        }
    }

    /// Host names may hold `_`, which separates the fields of snapshot file names.
    static func sanitized(_ name: String) -> String {
        String(name.unicodeScalars.prefix(64).map { scalar -> Character in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "." || scalar == "-")
                ? Character(scalar) : "-"
        })
    }

    static let defaultCLOB = "https://clob.polymarket.com"
    static let defaultGamma = "https://gamma-api.polymarket.com"
    static let defaultUserAgent = "orderbooks-snap/\(OrderbooksVersion.current) (Polymarket BTC up/down order-book recorder)"

    /// A base URL, which may carry user info for the request; a refused one is quoted with it
    /// masked. A query or fragment is refused: the API paths are appended to the base, so they
    /// would land inside it (and a token in a query would be recorded with every URL).
    static func apiURL(_ flag: String?, _ variable: String, _ env: [String: String], default fallback: String) throws -> String {
        let expected = "an http:// or https:// base URL without a query or fragment (user info, if any, percent-encoded)"
        let parse: (String) -> String? = { text in
            guard let url = Setting.baseURL(text), !url.contains("?"), !url.contains("#") else { return nil }
            // An '@' past the authority means user info with a raw '/', which would escape redaction.
            let authority = url.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false).dropFirst(2).first ?? ""
            return url.filter({ $0 == "@" }).count == authority.filter({ $0 == "@" }).count ? url : nil
        }
        // An '@' left after masking is user info a URL parser would not see as such: quote nothing.
        // A query or fragment (`?token=…`) is cut off: it is refused, and may be a credential.
        let shown: (String) -> String = { text in
            let masked = Redaction.url(text)
            guard !masked.replacing(Redaction.mask + "@", with: "").contains("@") else { return "(a URL not shown: it may hold credentials)" }
            let base = masked.prefix { $0 != "?" && $0 != "#" }
            return base.count == masked.count ? "'\(masked)'" : "'\(base)' followed by a query or fragment (not shown)"
        }
        if let flag {
            guard let url = parse(flag) else { throw ValidationError("\(Setting.flagName(variable)): \(shown(flag)) is not \(expected)") }
            return url
        }
        if let text = env[variable], !text.isEmpty {
            guard let url = parse(text) else { throw ConfigurationError(description: "\(variable)=\(shown(text)) is not \(expected)") }
            return url
        }
        return fallback
    }

    /// Settles every value: flag, else environment variable, else default.
    public func configuration(environment env: [String: String]) throws -> SnapConfiguration {
        // Whole milliseconds, as libcurl takes them: a value that rounds to 0 would mean "no
        // timeout" there, so a hung server could hold the run forever.
        let seconds: (String) -> Int? = { text in
            guard let value = Double(text), value.isFinite, case let ms = (value * 1000).rounded(), ms >= 1, ms <= 3_600_000 else { return nil }
            return Int(ms)
        }
        let caFile = caFile ?? env["ORDERBOOKS_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        if let caFile {
            // A regular file, opened without blocking: libcurl would wait forever on a FIFO.
            do throws(FileError) {
                close(try DurableFile.openRegularFile(caFile, followLinks: true).fd)
            } catch {
                throw ConfigurationError(description: "CA file \(caFile) is not readable: \(error)")
            }
        }
        let http = HTTPSettings(
            connectTimeoutMilliseconds: try Setting.resolve(connectTimeout, "ORDERBOOKS_CONNECT_TIMEOUT", env, default: 5000,
                                                            expected: "seconds between 0.001 and 3600", parse: seconds),
            timeoutMilliseconds: try Setting.resolve(timeout, "ORDERBOOKS_TIMEOUT", env, default: 10_000,
                                                     expected: "seconds between 0.001 and 3600", parse: seconds),
            maxBodyBytes: try Setting.resolve(maxBodyBytes, "ORDERBOOKS_MAX_BODY_BYTES", env, default: 16 << 20,
                                              expected: "a byte count between 1024 and 1073741824 (1 GiB)") { Int($0).flatMap { (1024...(1 << 30)).contains($0) ? $0 : nil } },
            userAgent: try Setting.resolve(userAgent, "ORDERBOOKS_USER_AGENT", env, default: Self.defaultUserAgent,
                                           expected: "a non-empty single line") { $0.isEmpty || $0.contains("\n") || $0.contains("\r") ? nil : $0 },
            caFile: caFile)
        return SnapConfiguration(
            dataDirectory: try common.dataDirectory(env),
            clobURL: try Self.apiURL(clobURL, "ORDERBOOKS_CLOB_URL", env, default: Self.defaultCLOB),
            gammaURL: try Self.apiURL(gammaURL, "ORDERBOOKS_GAMMA_URL", env, default: Self.defaultGamma),
            series: try Setting.resolve(series, "ORDERBOOKS_SERIES", env, default: Series.allCases,
                                        expected: "a comma-separated list of 5m, 15m, hourly, 4h, daily", parse: Setting.seriesList),
            collector: try collector(env),
            http: http,
            discoveryTTL: try Setting.resolve(discoveryTTL, "ORDERBOOKS_DISCOVERY_TTL", env, default: 60,
                                              expected: "whole seconds between 0 and 3600") { Int64($0).flatMap { (0...3600).contains($0) ? $0 : nil } },
            resolutionDeadline: try Setting.resolve(resolutionDeadline, "ORDERBOOKS_RESOLUTION_DEADLINE", env, default: 259_200,
                                                    expected: "whole seconds between 60 and 604800") { Int64($0).flatMap { (60...604_800).contains($0) ? $0 : nil } },
            toStdout: toStdout)
    }
}

enum Setting {
    /// `flag` if given, else the environment variable if set and non-empty, else `fallback`.
    static func resolve<T>(_ flag: String?, _ variable: String, _ env: [String: String], default fallback: T,
                           expected: String, parse: (String) -> T?) throws -> T {
        if let flag {
            guard let value = parse(flag) else { throw ValidationError("\(flagName(variable)): '\(flag)' is not \(expected)") }
            return value
        }
        if let text = env[variable], !text.isEmpty {
            guard let value = parse(text) else { throw ConfigurationError(description: "\(variable)='\(text)' is not \(expected)") }
            return value
        }
        return fallback
    }

    /// `ORDERBOOKS_DATA_DIR` → `--data-dir`: each flag is named after its variable.
    static func flagName(_ variable: String) -> String {
        "--" + String(variable.dropFirst("ORDERBOOKS_".count).lowercased().map { $0 == "_" ? "-" : $0 })
    }

    static func baseURL(_ text: String) -> String? {
        guard text.hasPrefix("http://") || text.hasPrefix("https://"), !text.contains(where: \.isWhitespace) else { return nil }
        var url = Substring(text)
        while url.hasSuffix("/") { url.removeLast() }
        return url.count > "https://".count - 1 ? String(url) : nil
    }

    static func seriesList(_ text: String) -> [Series]? {
        var list: [Series] = []
        for name in text.split(separator: ",").map({ String($0).trimmingWhitespace }) where !name.isEmpty {
            guard let series = Series(name: name) else { return nil }
            if !list.contains(series) { list.append(series) }
        }
        return list.isEmpty ? nil : list
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

    static var hostName: String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return nil }
        let name = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? nil : name
    }
}

/// The options of `seal`.
public struct SealOptions: ParsableArguments {
    @OptionGroup public var common: CommonOptions

    @Option(name: .customLong("segment-minutes"), help: ArgumentHelp(
        "Length of a segment's time window in minutes, aligned on UTC; must divide a day (1, 5, 15, 60, 1440, ...). [env: ORDERBOOKS_SEGMENT_MINUTES] [default: 60]",
        valueName: "minutes"))
    var segmentMinutes: String?

    @Option(name: .customLong("grace-seconds"), help: ArgumentHelp(
        "A window is sealed once its end is this many seconds past, so a run still writing is not left out. [env: ORDERBOOKS_GRACE_SECONDS] [default: 60]",
        valueName: "seconds"))
    var graceSeconds: String?

    @Option(name: .customLong("snap-interval"), help: ArgumentHelp(
        "Seconds between snap runs (the timer's cadence): the slot length behind a manifest's coverage and gaps. [env: ORDERBOOKS_SNAP_INTERVAL] [default: 1]",
        valueName: "seconds"))
    var snapInterval: String?

    @Flag(name: .customLong("flush"), help: "Also seal the window still open (before a shutdown or an uninstall); later snapshots of it go into another part.")
    var flush = false

    @Flag(name: .customLong("wait"), help: "Wait for a seal already running to finish, instead of exiting 0 at once (with --flush before a shutdown: the flush must not be skipped).")
    var wait = false

    public init() {}

    public func configuration(environment env: [String: String], command: [String]) throws -> SealConfiguration {
        SealConfiguration(
            dataDirectory: try common.dataDirectory(env),
            segmentMinutes: try Setting.resolve(segmentMinutes, "ORDERBOOKS_SEGMENT_MINUTES", env, default: 60,
                                                expected: "whole minutes that divide a day (1 to 1440)") { Int($0).flatMap { (1...1440).contains($0) && 1440 % $0 == 0 ? $0 : nil } },
            graceSeconds: try Setting.resolve(graceSeconds, "ORDERBOOKS_GRACE_SECONDS", env, default: 60,
                                              expected: "whole seconds between 0 and 86400") { Int($0).flatMap { (0...86_400).contains($0) ? $0 : nil } },
            snapInterval: try Setting.resolve(snapInterval, "ORDERBOOKS_SNAP_INTERVAL", env, default: 1,
                                              expected: "whole seconds between 1 and 3600") { Int($0).flatMap { (1...3600).contains($0) ? $0 : nil } },
            flush: flush,
            waitForLock: wait,
            command: command)
    }
}

/// The options of `ship` and `ship prune`.
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

    @Flag(name: .customLong("dry-run"), help: "Show what would be uploaded (ship) or deleted (ship prune); run no rclone, change nothing.")
    var dryRun = false

    @Flag(name: .customLong("wait"), help: "Wait for a ship or prune already running to finish, instead of exiting 0 at once.")
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
        if Setting.isLocalPath(remote), let target = Setting.resolvedPath(remote), let data = Setting.resolvedPath(dataDirectory),
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
