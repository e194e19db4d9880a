import ArgumentParser
import Glibc
import OrderbooksCore

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

    @Option(name: .customLong("sandbox"), help: ArgumentHelp(
        "on: snap confines itself with Landlock (when the kernel has it) to writing in its data directory and reading what a run needs; off: only systemd's sandbox applies. [env: ORDERBOOKS_SANDBOX] [default: on]",
        valueName: "on|off"))
    var sandbox: String?

    @Flag(name: .customLong("check-sandbox"), help: ArgumentHelp(
        "Take no snapshot: apply the sandbox as a run does, try writing outside the data directory and reading each --probe-read file, print what was denied; exit 0 only if all of it was and the data directory stays writable."))
    public var checkSandbox = false

    @Option(name: .customLong("probe-read"), help: ArgumentHelp(
        "With --check-sandbox: a file that must be unreadable (repeatable). [default: /etc/orderbooks/rclone/rclone.conf, the Drive token]",
        valueName: "path"))
    public var probeRead: [String] = []

    @Flag(name: .customLong("stdout"), help: "Print the rows (JSONL, uncompressed) instead of writing a file; the data directory is not used.")
    var toStdout = false

    public init() {}

    func collector(_ env: [String: String]) throws -> String {
        let host = Self.hostName.map(Self.sanitized) ?? "collector"
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
                                        expected: "a comma-separated list of 5m, 15m, hourly, 4h, daily", parse: Self.seriesList),
            collector: try collector(env),
            http: http,
            discoveryTTL: try Setting.resolve(discoveryTTL, "ORDERBOOKS_DISCOVERY_TTL", env, default: 60,
                                              expected: "whole seconds between 0 and 3600") { Int64($0).flatMap { (0...3600).contains($0) ? $0 : nil } },
            resolutionDeadline: try Setting.resolve(resolutionDeadline, "ORDERBOOKS_RESOLUTION_DEADLINE", env, default: 259_200,
                                                    expected: "whole seconds between 60 and 604800") { Int64($0).flatMap { (60...604_800).contains($0) ? $0 : nil } },
            toStdout: toStdout,
            sandbox: try Setting.resolve(sandbox, "ORDERBOOKS_SANDBOX", env, default: true, expected: "on or off") { ["on": true, "off": false][$0] })
    }

    static func seriesList(_ text: String) -> [Series]? {
        var list: [Series] = []
        for name in text.split(separator: ",").map({ String($0).trimmingWhitespace }) where !name.isEmpty {
            guard let series = Series(name: name) else { return nil }
            if !list.contains(series) { list.append(series) }
        }
        return list.isEmpty ? nil : list
    }

    static var hostName: String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return nil }
        let name = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? nil : name
    }
}
