import ArgumentParser
import OrderbooksCore

/// When `gate health` warns and when it is critical (docs/OPERATIONS.md, "Watching it").
public struct HealthThresholds: Sendable, Equatable {
    /// Age in seconds of the newest complete snapshot (and of the newest snapshot of any kind).
    public var snapshotWarning: Int64 = 30
    public var snapshotCritical: Int64 = 120
    /// Age in seconds of the oldest spool file not yet sealed: a window is sealed about a
    /// minute after it ends, so the defaults are the window's length plus one and six hours.
    public var backlogWarning: Int64
    public var backlogCritical: Int64
    /// Seconds since the window of the oldest part not yet verified on the remote ended.
    public var shipWarning: Int64 = 3 * 3600
    public var shipCritical: Int64 = 24 * 3600
    /// The newest sealed part's coverage (0 to 1) below which the gate warns.
    public var coverageWarning: Double = 0.95
    /// A file quarantined less than this many seconds ago is a warning.
    public var quarantineWarning: Int64 = 24 * 3600
    /// Days until the data directory's disk is full at the recent rate of new data.
    public var diskWarningDays: Double = 14
    public var diskCriticalDays: Double = 3

    public init(segmentMinutes: Int = 60) {
        backlogWarning = Int64(segmentMinutes) * 60 + 3600
        backlogCritical = Int64(segmentMinutes) * 60 + 6 * 3600
    }
}

/// Everything one `gate health` needs to know.
public struct HealthConfiguration: Sendable {
    public var dataDirectory: String
    public var thresholds: HealthThresholds
    /// Whether shipping is configured (ORDERBOOKS_REMOTE set): then ship's timers must run.
    public var shipping: Bool
    public var timers: Bool
    public var json: Bool
    public var prometheusFile: String?
}

/// The options of `gate health`: every threshold is a flag and an ORDERBOOKS_HEALTH_* variable.
public struct HealthOptions: ParsableArguments {
    @OptionGroup public var common: CommonOptions

    @Option(name: .customLong("snapshot-warning"), help: ArgumentHelp(
        "WARNING when the newest complete snapshot (or the newest of any outcome) is older than this. [env: ORDERBOOKS_HEALTH_SNAPSHOT_WARNING] [default: 30]",
        valueName: "seconds"))
    var snapshotWarning: String?

    @Option(name: .customLong("snapshot-critical"), help: ArgumentHelp(
        "CRITICAL when it is older than this; a data directory with no snapshot at all is CRITICAL. [env: ORDERBOOKS_HEALTH_SNAPSHOT_CRITICAL] [default: 120]",
        valueName: "seconds"))
    var snapshotCritical: String?

    @Option(name: .customLong("backlog-warning"), help: ArgumentHelp(
        "WARNING when the oldest spool file not yet sealed is older than this. [env: ORDERBOOKS_HEALTH_BACKLOG_WARNING] [default: the segment length plus 1 hour]",
        valueName: "seconds"))
    var backlogWarning: String?

    @Option(name: .customLong("backlog-critical"), help: ArgumentHelp(
        "CRITICAL when it is older than this. [env: ORDERBOOKS_HEALTH_BACKLOG_CRITICAL] [default: the segment length plus 6 hours]",
        valueName: "seconds"))
    var backlogCritical: String?

    @Option(name: .customLong("ship-warning"), help: ArgumentHelp(
        "WARNING when a sealed part whose window ended this long ago is not verified on the remote. [env: ORDERBOOKS_HEALTH_SHIP_WARNING] [default: 10800]",
        valueName: "seconds"))
    var shipWarning: String?

    @Option(name: .customLong("ship-critical"), help: ArgumentHelp(
        "CRITICAL past this. [env: ORDERBOOKS_HEALTH_SHIP_CRITICAL] [default: 86400]", valueName: "seconds"))
    var shipCritical: String?

    @Option(name: .customLong("coverage-warning"), help: ArgumentHelp(
        "WARNING when the newest sealed part's coverage is below this (0 to 1). [env: ORDERBOOKS_HEALTH_COVERAGE_WARNING] [default: 0.95]",
        valueName: "ratio"))
    var coverageWarning: String?

    @Option(name: .customLong("quarantine-warning"), help: ArgumentHelp(
        "WARNING while a file quarantined less than this long ago is there. [env: ORDERBOOKS_HEALTH_QUARANTINE_WARNING] [default: 86400]",
        valueName: "seconds"))
    var quarantineWarning: String?

    @Option(name: .customLong("disk-warning-days"), help: ArgumentHelp(
        "WARNING when the data directory's disk fills in fewer days than this at the last day's rate of new data. [env: ORDERBOOKS_HEALTH_DISK_WARNING_DAYS] [default: 14]",
        valueName: "days"))
    var diskWarningDays: String?

    @Option(name: .customLong("disk-critical-days"), help: ArgumentHelp(
        "CRITICAL below this many days. [env: ORDERBOOKS_HEALTH_DISK_CRITICAL_DAYS] [default: 3]", valueName: "days"))
    var diskCriticalDays: String?

    @Option(name: .customLong("timers"), help: ArgumentHelp(
        "auto: check the orderbooks timers with systemctl when systemd runs this host; off: never (cron installs). [env: ORDERBOOKS_HEALTH_TIMERS] [default: auto]",
        valueName: "auto|off"))
    var timers: String?

    @Flag(name: .customLong("json"), help: "Print one JSON object (docs/FORMAT.md, \"Health\") instead of the text lines.")
    var json = false

    @Option(name: .customLong("prometheus"), help: ArgumentHelp(
        "Also write the figures as a node_exporter textfile at this path (replaced atomically; name it *.prom).",
        valueName: "path"))
    var prometheus: String?

    public init() {}

    public func configuration(environment env: [String: String]) throws -> HealthConfiguration {
        let segmentMinutes = try Setting.resolve(nil, "ORDERBOOKS_SEGMENT_MINUTES", env, default: 60, expected: "whole minutes") {
            Int($0).flatMap { $0 > 0 && $0 <= 1440 ? $0 : nil }
        }
        var t = HealthThresholds(segmentMinutes: segmentMinutes)
        func seconds(_ flag: String?, _ variable: String, _ fallback: Int64) throws -> Int64 {
            try Setting.resolve(flag, variable, env, default: fallback, expected: "whole seconds above 0") { Int64($0).flatMap { $0 > 0 ? $0 : nil } }
        }
        func number(_ flag: String?, _ variable: String, _ fallback: Double, _ range: ClosedRange<Double>) throws -> Double {
            try Setting.resolve(flag, variable, env, default: fallback, expected: "a number from \(range.lowerBound) to \(range.upperBound)") {
                Double($0).flatMap { range.contains($0) ? $0 : nil }
            }
        }
        t.snapshotWarning = try seconds(snapshotWarning, "ORDERBOOKS_HEALTH_SNAPSHOT_WARNING", t.snapshotWarning)
        t.snapshotCritical = try seconds(snapshotCritical, "ORDERBOOKS_HEALTH_SNAPSHOT_CRITICAL", t.snapshotCritical)
        t.backlogWarning = try seconds(backlogWarning, "ORDERBOOKS_HEALTH_BACKLOG_WARNING", t.backlogWarning)
        t.backlogCritical = try seconds(backlogCritical, "ORDERBOOKS_HEALTH_BACKLOG_CRITICAL", t.backlogCritical)
        t.shipWarning = try seconds(shipWarning, "ORDERBOOKS_HEALTH_SHIP_WARNING", t.shipWarning)
        t.shipCritical = try seconds(shipCritical, "ORDERBOOKS_HEALTH_SHIP_CRITICAL", t.shipCritical)
        t.coverageWarning = try number(coverageWarning, "ORDERBOOKS_HEALTH_COVERAGE_WARNING", t.coverageWarning, 0...1)
        t.quarantineWarning = try seconds(quarantineWarning, "ORDERBOOKS_HEALTH_QUARANTINE_WARNING", t.quarantineWarning)
        t.diskWarningDays = try number(diskWarningDays, "ORDERBOOKS_HEALTH_DISK_WARNING_DAYS", t.diskWarningDays, 0...36_500)
        t.diskCriticalDays = try number(diskCriticalDays, "ORDERBOOKS_HEALTH_DISK_CRITICAL_DAYS", t.diskCriticalDays, 0...36_500)
        for (warning, critical, names) in [(t.snapshotWarning, t.snapshotCritical, "snapshot"), (t.backlogWarning, t.backlogCritical, "backlog"),
                                           (t.shipWarning, t.shipCritical, "ship")] where warning > critical {
            throw ValidationError("--\(names)-warning (\(warning)) is later than --\(names)-critical (\(critical))")
        }
        if t.diskCriticalDays > t.diskWarningDays {
            throw ValidationError("--disk-critical-days (\(t.diskCriticalDays)) is above --disk-warning-days (\(t.diskWarningDays))")
        }
        let timers = try Setting.resolve(timers, "ORDERBOOKS_HEALTH_TIMERS", env, default: true, expected: "auto or off") {
            $0 == "auto" ? true : $0 == "off" ? false : nil
        }
        return HealthConfiguration(
            dataDirectory: try common.dataDirectory(env), thresholds: t, shipping: !(env["ORDERBOOKS_REMOTE"] ?? "").isEmpty,
            timers: timers, json: json, prometheusFile: prometheus.flatMap { $0.isEmpty ? nil : $0 })
    }
}
