/// What a part's manifest says about its rows, tallied row by row while they are sealed.
public struct SegmentSummary: Sendable {
    public struct Market: Sendable {
        public var slug: String
        public var series: String?
        public var conditionId: String?
        public var tokens: [(tokenId: String, outcome: String?)] = []
        public var rows = 0, books = 0, absent = 0, failures = 0
        public var firstReceivedAt: Timestamp?
        public var lastReceivedAt: Timestamp?
    }

    /// A `resolution` row, or a `failure` row giving up on one (`winningOutcome` nil, `unresolved`).
    public struct Resolution: Sendable {
        public var slug: String
        public var conditionId: String?
        public var winningOutcome: String?
        public var winningTokenId: String?
        public var receivedAt: Timestamp?
    }

    public struct Run: Sendable {
        public var startedAt: Timestamp
        public var outcome: String
        /// `error_kind` of the run's failure rows.
        public var errorKinds: [String]
    }

    public private(set) var rows = 0
    public private(set) var rowsByKind: [String: Int] = [:]
    public private(set) var firstReceivedAt: Timestamp?
    public private(set) var lastReceivedAt: Timestamp?
    public private(set) var markets: [Market] = []
    public private(set) var runs: [Run] = []
    public private(set) var resolutions: [Resolution] = []
    /// Markets given up on: no resolution before the deadline.
    public private(set) var unresolved: [Resolution] = []
    private var marketIndex: [String: Int] = [:]
    private var pendingErrorKinds: [String] = []
    private var sourceStartedAt = Timestamp(microseconds: 0)
    private var sourceHasRun = false

    public init() {}

    /// Rows of a run precede its closing `run` row; a new file starts a new run.
    public mutating func beginSource(startedAt: Timestamp) {
        pendingErrorKinds = []
        sourceStartedAt = startedAt
        sourceHasRun = false
    }

    /// A file that ended without its `run` row (damaged) still stands for a run made at the
    /// time in its name: its slot's gap says `damaged file`, not `no run`.
    public mutating func endSource() {
        guard !sourceHasRun else { return }
        runs.append(Run(startedAt: sourceStartedAt, outcome: "damaged", errorKinds: ["damaged file"]))
    }

    public mutating func add(_ row: RowFields) {
        rows += 1
        rowsByKind[row.kind, default: 0] += 1
        let received = row.timestamp("received_at")
        if let received {
            if firstReceivedAt.map({ received < $0 }) ?? true { firstReceivedAt = received }
            if lastReceivedAt.map({ received > $0 }) ?? true { lastReceivedAt = received }
        }
        switch row.kind {
        case "run":
            // A run the gate disrupted on purpose gives that as its gap's reason, not its errors.
            runs.append(Run(startedAt: row.timestamp("started_at") ?? sourceStartedAt, outcome: row["outcome"] ?? "unknown",
                            errorKinds: row["disruption"].map { [$0] } ?? pendingErrorKinds))
            pendingErrorKinds = []
            sourceHasRun = true
        case "failure" where row["stage"] == "resolution":
            // About a market that has ended, not this run's capture: never a gap's reason.
            if row["error_kind"] == "unresolved", let slug = row["slug"] {
                unresolved.append(Resolution(slug: slug, conditionId: row["condition_id"], receivedAt: received))
            }
        case "failure":
            pendingErrorKinds.append(row["error_kind"] ?? "unknown")
            if let slug = row["slug"] { tallyMarket(slug, row, received) { $0.failures += 1 } }
        case "resolution":
            guard let slug = row["slug"] else { return }
            resolutions.append(Resolution(slug: slug, conditionId: row["condition_id"], winningOutcome: row["winning_outcome"],
                                          winningTokenId: row["winning_token_id"], receivedAt: received))
        case "market", "book", "absent":
            guard let slug = row["slug"] else { return }
            tallyMarket(slug, row, received) { market in
                market.rows += 1
                if row.kind == "book" { market.books += 1 }
                if row.kind == "absent" { market.absent += 1 }
                let pairs = row.kind == "market" ? row.tokens : row["token_id"].map { [($0, row["outcome"])] } ?? []
                for pair in pairs where !market.tokens.contains(where: { $0.tokenId == pair.0 }) { market.tokens.append(pair) }
            }
        default:
            break
        }
    }

    private mutating func tallyMarket(_ slug: String, _ row: RowFields, _ received: Timestamp?, _ update: (inout Market) -> Void) {
        let index = marketIndex[slug] ?? {
            markets.append(Market(slug: slug))
            marketIndex[slug] = markets.count - 1
            return markets.count - 1
        }()
        if markets[index].series == nil { markets[index].series = row["series"] }
        if markets[index].conditionId == nil { markets[index].conditionId = row["condition_id"] }
        if let received {
            if markets[index].firstReceivedAt.map({ received < $0 }) ?? true { markets[index].firstReceivedAt = received }
            if markets[index].lastReceivedAt.map({ received > $0 }) ?? true { markets[index].lastReceivedAt = received }
        }
        update(&markets[index])
    }

    /// Runs by outcome.
    public var runsByOutcome: [String: Int] { runs.reduce(into: [:]) { $0[$1.outcome, default: 0] += 1 } }

    /// Coverage of `[window start, until)` in slots of `interval` seconds, snap's cadence: a slot
    /// is covered when a run that started in it captured books (complete or partial).
    public func coverage(from start: Timestamp, until: Timestamp, interval: Int) -> Coverage {
        let step = Int64(interval) * 1_000_000
        let count = max(0, Int((until.microseconds - start.microseconds + step - 1) / step))
        // Per slot: 0 no run, 1 runs that captured nothing, 2 partial, 3 complete.
        var state = [UInt8](repeating: 0, count: count)
        var kinds = [[String]](repeating: [], count: count)
        var runCount = [Int](repeating: 0, count: count)
        for run in runs {
            let offset = run.startedAt.microseconds - start.microseconds
            guard offset >= 0, case let slot = Int(offset / step), slot < count else { continue }
            let value: UInt8 = run.outcome == "complete" ? 3 : run.outcome == "partial" ? 2 : 1
            state[slot] = max(state[slot], value)
            kinds[slot] += run.errorKinds.isEmpty ? [run.outcome] : run.errorKinds
            runCount[slot] += 1
        }
        var gaps: [Coverage.Gap] = []
        for slot in 0..<count where state[slot] < 2 {
            let reasons = Set(kinds[slot]).sorted()
            let reason = reasons.isEmpty ? "no run" : reasons.joined(separator: ", ")
            let runs = runCount[slot]
            let slotStart = Timestamp(microseconds: start.microseconds + Int64(slot) * step)
            let slotEnd = Timestamp(microseconds: min(slotStart.microseconds + step, until.microseconds))
            if let last = gaps.last, last.end == slotStart, last.reason == reason {
                gaps[gaps.count - 1].end = slotEnd
                gaps[gaps.count - 1].runs += runs
            } else {
                gaps.append(Coverage.Gap(start: slotStart, end: slotEnd, reason: reason, runs: runs))
            }
        }
        return Coverage(slotsExpected: count, slotsCovered: state.filter { $0 >= 2 }.count,
                        slotsComplete: state.filter { $0 == 3 }.count, gaps: gaps)
    }
}

public struct Coverage: Sendable, Equatable {
    public struct Gap: Sendable, Equatable {
        public var start: Timestamp
        public var end: Timestamp
        /// `no run`, or the `error_kind`s of the failed runs' failure rows (`connect, timeout`).
        public var reason: String
        /// Runs made inside the gap (all of them failed or were skipped).
        public var runs: Int
    }

    public var slotsExpected: Int
    public var slotsCovered: Int
    public var slotsComplete: Int
    public var gaps: [Gap]

    /// `slotsCovered / slotsExpected` with six decimals, as JSON number text.
    public var ratioText: String {
        guard slotsExpected > 0 else { return "null" }
        let millionths = slotsCovered * 1_000_000 / slotsExpected
        let fraction = String(millionths % 1_000_000)
        return "\(millionths / 1_000_000).\(String(repeating: "0", count: 6 - fraction.count))\(fraction)"
    }
}
