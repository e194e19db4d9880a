import Glibc
import OrderbooksCore

/// The orderbooks timers as systemd sees them.
public struct TimerState: Sendable, Equatable {
    public var unit: String
    /// `enabled`, `disabled`, `masked`, `not-found`, …: systemd's UnitFileState (LoadState when not found).
    public var fileState: String
    /// `active` while the timer is armed.
    public var activeState: String
    public var lastTrigger: Timestamp?
    public var nextElapse: Timestamp?

    public var enabled: Bool { fileState == "enabled" || fileState == "enabled-runtime" }
    public var armed: Bool { activeState == "active" }

    /// Every timer of the package; snap's and seal's must run, ship's, prune's and check's
    /// when a remote is configured.
    public static let units = ["orderbooks-snap.timer", "orderbooks-seal.timer", "orderbooks-ship.timer",
                               "orderbooks-prune.timer", "orderbooks-check.timer", "orderbooks-health.timer"]
    public static let required = ["orderbooks-snap.timer", "orderbooks-seal.timer"]
    public static let forShipping = ["orderbooks-ship.timer", "orderbooks-prune.timer", "orderbooks-check.timer"]

    /// Whether systemd is this host's init (sd_booted's test).
    public static var systemdRuns: Bool { access("/run/systemd/system", F_OK) == 0 }

    static let properties = ["Id", "LoadState", "UnitFileState", "ActiveState", "LastTriggerUSec", "NextElapseUSecRealtime"]

    /// The argv that asks systemd about `units` in one call; run it with `environment` (systemd
    /// 252's `show` ignores --timestamp= and writes times in the local zone).
    public static func query(_ units: [String]) -> [String] {
        ["systemctl", "show", "--property=" + properties.joined(separator: ",")] + units
    }
    public static let environment = ["TZ": "UTC"]

    /// Reads `systemctl show`'s blocks (one per unit, separated by a blank line).
    public static func parse(_ text: String) -> [TimerState] {
        text.split(separator: "\n\n", omittingEmptySubsequences: true).compactMap { block in
            var values: [String: String] = [:]
            for line in block.split(separator: "\n") {
                guard let eq = line.firstIndex(of: "=") else { continue }
                values[String(line[..<eq])] = String(line[line.index(after: eq)...])
            }
            guard let unit = values["Id"], !unit.isEmpty else { return nil }
            let load = values["LoadState"] ?? ""
            let fileState = load == "not-found" || load == "masked" ? load : (values["UnitFileState"].flatMap { $0.isEmpty ? nil : $0 } ?? load)
            return TimerState(unit: unit, fileState: fileState, activeState: values["ActiveState"] ?? "",
                              lastTrigger: values["LastTriggerUSec"].flatMap(stamp), nextElapse: values["NextElapseUSecRealtime"].flatMap(stamp))
        }
    }

    /// `Mon 2026-12-07 03:05:03 UTC` (or `@1796612703`, as later systemd writes with
    /// --timestamp=unix); empty or `n/a` is never.
    static func stamp(_ text: String) -> Timestamp? {
        if text.hasPrefix("@") { return Int64(text.dropFirst()).flatMap { $0 > 0 ? Timestamp(seconds: $0) : nil } }
        let fields = text.split(separator: " ")
        guard fields.count == 4, fields[3] == "UTC" else { return nil }
        return Timestamp.parse(fields[1] + "T" + fields[2] + "Z")
    }
}
