import Glibc
import OrderbooksCore

/// One snapshot file as the gate read it.
struct SnapshotRead: Sendable {
    var name: String
    var startedAt: Timestamp
    /// Why it is not a valid snapshot file (gzip, a line that is not a row, no closing run row).
    var problem: String?
    var outcome: String?
    var sandbox: String?
    var disruption: String?
    var bootId: String?
    /// Series → markets with at least one book row.
    var seriesMarkets: [String: Set<String>] = [:]
}

/// Check 2, capture: over the recent window, snapshots against the slots expected, the share
/// complete, every configured series captured, every file a valid gzip JSONL.
enum CaptureCheck {
    static let minPresent = 0.9
    static let minComplete = 0.9

    static func run(_ c: GateRunConfiguration, now: Timestamp) -> (CheckResult, [SnapshotRead]) {
        var check = CheckBuilder("capture", "Capture")
        let interval = Int64(c.settings["ORDERBOOKS_SNAP_INTERVAL"].flatMap { Int64($0) } ?? 1)
        // The last two seconds may still be in flight.
        let to = now.adding(seconds: -2)
        let from = to.adding(seconds: -c.captureWindow)
        let directory = DataDirectory(root: c.dataDirectory)
        let reads = snapshots(directory, from: from, to: to)
        let step = max(interval, 1)
        // Slots in parts already pruned here (verified on the remote first) cannot be read: not judged.
        let pruned = PrunedParts.list(directory).filter { $0.window.end > from && $0.window.start < to }
        let collectors = Set(reads.compactMap { SnapshotName($0.name)?.collector })
        let gone = (0..<(c.captureWindow / step)).filter { slot in
            let start = from.adding(seconds: slot * step)
            return collectors.contains { PrunedParts.covers(pruned, start, collector: $0) }
        }.count
        let expected = c.captureWindow / step - Int64(gone)
        func slots(_ files: [SnapshotRead]) -> Int { Set(files.map { ($0.startedAt.seconds - from.seconds) / step }).count }
        let present = slots(reads)
        let complete = slots(reads.filter { $0.outcome == "complete" })
        check.add(.info("window \(from.iso8601) to \(to.iso8601): \(expected) slots of \(interval) s, \(reads.count) snapshot files"
            + (gone > 0 ? "; \(gone) more slots are in parts pruned here after verification (\(pruned.map(\.name).joined(separator: ", "))), not judged" : "")))
        check.expect(expected >= c.captureWindow / step / 2, "at least half the window is still here to judge",
                     else: "only \(expected) of \(c.captureWindow / step) slots are still here (the rest pruned): raise ORDERBOOKS_KEEP_DAYS or shorten --capture-window")
        check.expect(Double(present) >= minPresent * Double(expected), "\(present) of \(expected) slots have a snapshot",
                     else: "only \(present) of \(expected) slots have a snapshot (at least \(Int(minPresent * 100))% needed): snap is not running every \(interval) s")
        check.expect(Double(complete) >= minComplete * Double(expected), "\(complete) of \(expected) slots have a complete snapshot",
                     else: "only \(complete) of \(expected) slots have a complete snapshot (at least \(Int(minComplete * 100))% needed)")
        let bad = reads.filter { $0.problem != nil }
        check.expect(bad.isEmpty, "every one of \(reads.count) files is valid gzip JSON Lines closed by a run row",
                     else: "\(bad.count) invalid files: " + bad.prefix(5).map { "\($0.name): \($0.problem!)" }.joined(separator: "; "))
        let configured = (c.settings["ORDERBOOKS_SERIES"].flatMap { $0.isEmpty ? nil : $0 } ?? Series.allCases.map(\.rawValue).joined(separator: ","))
            .split(separator: ",").compactMap { Series(name: String($0).trimmingWhitespace)?.rawValue }
        if let newest = reads.last(where: { $0.outcome == "complete" }) {
            for series in configured {
                let markets = newest.seriesMarkets[series] ?? []
                check.expect(!markets.isEmpty, "series \(series): books of \(markets.count) markets in \(newest.name)",
                             else: "series \(series): no book in the newest complete snapshot \(newest.name)")
            }
        } else {
            check.add(.fail("no complete snapshot in the window"))
        }
        let unsandboxed = reads.filter { $0.sandbox?.hasPrefix("unavailable") == true }
        if let first = unsandboxed.first {
            check.add(.warn("\(unsandboxed.count) runs without snap's own sandbox (\(first.sandbox!)): systemd's unit is the only confinement"))
        }
        return (check.finished(), reads)
    }

    /// The snapshot files started in `[from, to)`: in `spool/`, and cut out of sealed segments
    /// by their manifests' offsets.
    static func snapshots(_ d: DataDirectory, from: Timestamp, to: Timestamp) -> [SnapshotRead] {
        var reads: [SnapshotRead] = []
        for name in DataDirectory.names(in: d.spool) ?? [] {
            guard let parsed = SnapshotName(name), parsed.startedAt >= from, parsed.startedAt < to else { continue }
            var lines: [[UInt8]] = []
            let result = GzipLines.read(d.spool + "/" + name, maxFileBytes: 64 << 20) { lines.append($0) }
            let problem = result.readError?.description ?? result.gzipError.map { "gzip: \($0)" } ?? result.limitExceeded
            reads.append(read(name, parsed.startedAt, lines: lines, problem: problem))
        }
        for part in (try? d.sealedParts()) ?? [] where part.window.end > from && part.window.start < to {
            let base = d.sealed + "/" + part.day + "/" + part.name
            guard let bytes = try? DurableFile.read(base + SealWindow.manifestSuffix), let manifest = try? Manifest(decoding: bytes) else { continue }
            for source in manifest.sources {
                guard let started = SnapshotName(source.name)?.startedAt, started >= from, started < to else { continue }
                guard let text = HealthFacts.member(of: base + SealWindow.segmentSuffix, offset: source.offset, bytes: source.bytes) else {
                    reads.append(SnapshotRead(name: source.name, startedAt: started, problem: "cannot be cut out of \(part.name)"))
                    continue
                }
                reads.append(read(source.name, started, lines: text.split(separator: 0x0A).map(Array.init), problem: nil))
            }
        }
        return reads.sorted { $0.startedAt < $1.startedAt }
    }

    static func read(_ name: String, _ startedAt: Timestamp, lines: [[UInt8]], problem: String?) -> SnapshotRead {
        var snapshot = SnapshotRead(name: name, startedAt: startedAt, problem: problem)
        guard problem == nil else { return snapshot }
        for (index, line) in lines.enumerated() {
            guard case .success(let row) = RowFields.read(line) else {
                snapshot.problem = "line \(index + 1) is not a row"
                return snapshot
            }
            if row.kind == "book", let series = row["series"], let slug = row["slug"] { snapshot.seriesMarkets[series, default: []].insert(slug) }
        }
        guard let last = lines.last, let run = try? JSON.parse(last), run["kind"]?.string == "run" else {
            snapshot.problem = "no closing run row"
            return snapshot
        }
        snapshot.outcome = run["outcome"]?.string
        snapshot.sandbox = run["sandbox"]?.string
        snapshot.disruption = run["disruption"]?.string
        snapshot.bootId = run["boot_id"]?.string
        return snapshot
    }
}
