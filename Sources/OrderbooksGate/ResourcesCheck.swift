import OrderbooksCore

/// Check 7, resources: disk headroom and retention, the journal's size, and what systemd's
/// accounting says each service used.
enum ResourcesCheck {
    static let services = ["orderbooks-snap.service", "orderbooks-seal.service", "orderbooks-ship.service", "orderbooks-health.service"]
    /// A journal larger than this is a warning (journald caps itself at 10% of the disk by default).
    static let journalWarning: Int64 = 1 << 30

    static func run(_ c: GateRunConfiguration) async -> CheckResult {
        var check = CheckBuilder("resources", "Resources")
        let facts = HealthFacts.gather(DataDirectory(root: c.dataDirectory), now: Timestamp.now())
        let thresholds = HealthThresholds()
        if let disk = facts.disk {
            let perDay = (disk.growthBytesPerSecond ?? 0) * 86_400
            let days = perDay > 0 ? Double(disk.freeBytes) / perDay : .infinity
            check.expect(days >= thresholds.diskCriticalDays && disk.freeBytes > 0,
                         "disk: \(bytesText(disk.freeBytes)) free of \(bytesText(disk.totalBytes)); new data \(bytesText(Int64(perDay)))/day: "
                             + (days.isFinite ? "\(String(decimal: days, places: 1)) days" : "no growth measured"),
                         else: "disk: \(bytesText(disk.freeBytes)) free, full in \(String(decimal: days, places: 1)) days at \(bytesText(Int64(perDay)))/day")
        } else {
            check.add(.fail("disk: cannot statvfs \(c.dataDirectory)"))
        }
        let keep = c.settings["ORDERBOOKS_KEEP_DAYS"].flatMap { Int($0) } ?? 7
        check.add(.info("retention: ship prune keeps \(keep) days of verified parts locally" + (c.remote == nil ? "; without a remote nothing is pruned" : "")))
        let journal = await check.run(["journalctl", "--disk-usage"])
        let usage = journal.stdoutText.trimmingWhitespace
        check.add(journal.succeeded ? .info("journal: " + usage) : .warn("journal size unknown: \(journal.ending)"))
        if let bytes = journalBytes(usage), bytes > journalWarning { check.add(.warn("journal: \(bytesText(bytes)), above \(bytesText(journalWarning))")) }
        let accounting = await check.run(["systemctl", "show", "--property=Id,CPUUsageNSec,MemoryCurrent,IOReadBytes,IOWriteBytes,NRestarts"] + services)
        for block in accounting.stdoutText.split(separator: "\n\n") {
            check.add(.info(block.split(separator: "\n").joined(separator: " ")))
        }
        let consumed = await check.run(["journalctl", "--no-pager", "-o", "cat", "--since", "-1h", "-u", "orderbooks-seal.service", "-u", "orderbooks-ship.service",
                                        "--grep", "Consumed"])
        for line in CommandRecord.tail(consumed.stdout, lines: 4) { check.add(.info("systemd: " + line)) }
        return check.finished()
    }

    /// "Archived and active journals take up 24.0M in the file system." → bytes.
    static func journalBytes(_ text: String) -> Int64? {
        guard let word = text.split(separator: " ").first(where: { $0.last.map { "KMGT".contains($0) } == true && Double($0.dropLast()) != nil }),
              let value = Double(word.dropLast()) else { return nil }
        let power = ["K": 10, "M": 20, "G": 30, "T": 40][String(word.last!)] ?? 0
        return Int64(value * Double(Int64(1) << power))
    }
}
