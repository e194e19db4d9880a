/// A disruption the gate causes on purpose (`gate run`'s forced restart and network cut), kept
/// in `state/disruption.json` while it lasts: the runs it kills or cuts off name it in their
/// failure and run rows (`"disruption"`), and seal's gaps then give it as their reason, so the
/// archive never presents them as Polymarket outages.
public struct Disruption: Sendable, Equatable {
    /// The gate run's id (its report's directory name).
    public var gateRun: String
    /// `forced restart` or `network cut`.
    public var action: String
    public var from: Timestamp
    public var until: Timestamp

    public init(gateRun: String, action: String, from: Timestamp, until: Timestamp) {
        (self.gateRun, self.action, self.from, self.until) = (gateRun, action, from, until)
    }

    /// What the rows carry: `gate run 20261207T031500Z: network cut`.
    public var text: String { "gate run \(gateRun): \(action)" }

    public func isActive(at instant: Timestamp) -> Bool { from <= instant && instant <= until }

    public func encoded() -> [UInt8] {
        var o = JSONObjectWriter()
        o.field("kind", "disruption")
        o.field("schema", 1)
        o.field("gate_run", gateRun)
        o.field("action", action)
        o.field("from", from.iso8601)
        o.field("until", until.iso8601)
        return o.line
    }

    /// nil for anything that is not a whole notice (a missing file is no disruption).
    public static func decode(_ bytes: [UInt8]) -> Disruption? {
        guard let value = try? JSON.parse(bytes), value["kind"]?.string == "disruption",
              let run = value["gate_run"]?.string, let action = value["action"]?.string,
              let from = value["from"]?.string.flatMap(Timestamp.parse), let until = value["until"]?.string.flatMap(Timestamp.parse),
              run.count <= 64, action.count <= 64 else { return nil }
        return Disruption(gateRun: run, action: action, from: from, until: until)
    }
}
