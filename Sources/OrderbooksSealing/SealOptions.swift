import ArgumentParser
import OrderbooksCore

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
