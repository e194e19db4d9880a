import OrderbooksCore

/// The monitoring-plugin states, which are also `gate health`'s exit statuses.
public enum HealthStatus: Int32, Sendable, Comparable, CaseIterable {
    case ok = 0, warning = 1, critical = 2, unknown = 3

    public var name: String {
        switch self {
        case .ok: "OK"
        case .warning: "WARNING"
        case .critical: "CRITICAL"
        case .unknown: "UNKNOWN"
        }
    }

    /// Worse first: CRITICAL, WARNING, UNKNOWN, OK (a known problem outranks an unknown).
    var severity: Int {
        switch self {
        case .ok: 0
        case .unknown: 1
        case .warning: 2
        case .critical: 3
        }
    }

    public static func < (a: HealthStatus, b: HealthStatus) -> Bool { a.severity < b.severity }
}

/// One line of the answer: what was looked at, its state, in words.
public struct HealthCheck: Sendable, Equatable {
    public var name: String
    public var status: HealthStatus
    public var message: String
}

/// Judges the facts against the thresholds; pure, so each rule is tested on its own.
public struct HealthVerdict: Sendable {
    public var checks: [HealthCheck]
    public var status: HealthStatus { checks.map(\.status).max() ?? .ok }

    public init(facts f: HealthFacts, timers: [TimerState]?, timersNote: String?, configuration: HealthConfiguration) {
        let t = configuration.thresholds
        let now = f.now
        func age(_ at: Timestamp) -> Int64 { max(0, now.seconds - at.seconds) }
        func graded(_ value: Int64, _ warning: Int64, _ critical: Int64) -> HealthStatus {
            value > critical ? .critical : value > warning ? .warning : .ok
        }
        var checks: [HealthCheck] = []

        // Capture: the newest complete snapshot, and whether snap runs at all.
        if let last = f.lastSnapshot {
            let anyAge = age(last.startedAt)
            if let complete = f.lastComplete {
                let completeAge = age(complete.startedAt)
                let status = max(graded(completeAge, t.snapshotWarning, t.snapshotCritical), graded(anyAge, t.snapshotWarning, t.snapshotCritical))
                var message = "last complete snapshot \(completeAge) s ago"
                if completeAge != anyAge { message += ", last snapshot of any outcome \(anyAge) s ago" }
                if status != .ok { message += " (warning > \(t.snapshotWarning) s, critical > \(t.snapshotCritical) s)" }
                checks.append(HealthCheck(name: "capture", status: status, message: message))
            } else {
                checks.append(HealthCheck(name: "capture", status: .critical, message:
                    "no complete snapshot in the last \(f.scanSeconds) s (\(f.snapshotsRead) run rows read); last snapshot of any outcome \(anyAge) s ago"))
            }
        } else {
            checks.append(HealthCheck(name: "capture", status: .critical, message: "no snapshot at all in \(configuration.dataDirectory): snap has never written one"))
        }

        // Sealing: the spool's backlog, and the newest part's coverage.
        var sealing: [(HealthStatus, String)] = []
        if let oldest = f.oldestSpool {
            let backlog = age(oldest.startedAt)
            let status = graded(backlog, t.backlogWarning, t.backlogCritical)
            sealing.append((status, "\(f.spoolFiles) spool files, the oldest \(backlog) s old"
                + (status == .ok ? "" : " (warning > \(t.backlogWarning) s, critical > \(t.backlogCritical) s: is seal running?)")))
        } else {
            sealing.append((.ok, "spool empty"))
        }
        if let part = f.lastPart {
            let coverage = part.coverage.map { coverageText($0) } ?? "unknown"
            let low = (part.coverage ?? 1) < t.coverageWarning
            sealing.append((low ? .warning : .ok, "newest part \(part.name) (window ended \(age(part.windowEnd)) s ago), coverage \(coverage)"
                + (low ? " (below \(coverageText(t.coverageWarning)))" : "")))
        } else {
            sealing.append((.ok, "no part sealed yet"))
        }
        checks.append(HealthCheck(name: "sealing", status: sealing.map(\.0).max() ?? .ok, message: sealing.map(\.1).joined(separator: "; ")))

        // Shipping: the oldest part not proven on the remote; any part refused as damaged.
        var shipping: [(HealthStatus, String)] = []
        if let oldest = f.unverified.first {
            let waited = age(oldest.windowEnd)
            let status = graded(waited, t.shipWarning, t.shipCritical)
            shipping.append((status, "\(f.unverified.count) of \(f.parts) parts not verified on the remote, the oldest \(oldest.name) (window ended \(waited) s ago)"
                + (status == .ok ? "" : " (warning > \(t.shipWarning) s, critical > \(t.shipCritical) s)")
                + (configuration.shipping ? "" : "; ORDERBOOKS_REMOTE is not set: shipping is off, the archive exists only on this disk")))
        } else {
            shipping.append((.ok, f.parts == 0 ? "no part sealed yet" : "every one of \(f.parts) parts verified on the remote"))
        }
        if !f.refused.isEmpty {
            shipping.append((.critical, "\(f.refused.count) parts refused by ship because a sealed file no longer matches its manifest (first: \(f.refused[0])); run seal verify"))
        }
        checks.append(HealthCheck(name: "shipping", status: shipping.map(\.0).max() ?? .ok, message: shipping.map(\.1).joined(separator: "; ")))

        // Quarantine: recent arrivals warn; older ones have been seen.
        if f.quarantined > 0, let at = f.lastQuarantinedAt, age(at) < t.quarantineWarning {
            checks.append(HealthCheck(name: "quarantine", status: .warning, message:
                "\(f.quarantined) files in quarantine, the newest moved there \(age(at)) s ago (docs/OPERATIONS.md, \"When something breaks\")"))
        } else {
            checks.append(HealthCheck(name: "quarantine", status: .ok, message: "\(f.quarantined) files in quarantine"))
        }

        // Throttling: a pause the servers asked for.
        if f.backoff.isEmpty {
            checks.append(HealthCheck(name: "throttling", status: .ok, message: "no pause"))
        } else {
            checks.append(HealthCheck(name: "throttling", status: .warning, message: f.backoff.map {
                "\($0.api) paused for \(max(0, $0.until.seconds - now.seconds)) s more (\($0.reason))"
            }.joined(separator: "; ")))
        }

        // Disk: days left at the recent rate of new data (pruning gives space back; not counted).
        if let disk = f.disk {
            let free = "\(bytesText(disk.freeBytes)) free of \(bytesText(disk.totalBytes))"
            if let rate = disk.growthBytesPerSecond, rate > 0 {
                let days = Double(disk.freeBytes) / rate / 86_400
                let status: HealthStatus = days < t.diskCriticalDays ? .critical : days < t.diskWarningDays ? .warning : .ok
                checks.append(HealthCheck(name: "disk", status: status, message: "\(free), full in \(String(decimal: days, places: 1)) days at \(bytesText(Int64(rate * 86_400)))/day"
                    + (status == .ok ? "" : " (warning < \(String(decimal: t.diskWarningDays, places: 1)), critical < \(String(decimal: t.diskCriticalDays, places: 1)) days)")))
            } else {
                checks.append(HealthCheck(name: "disk", status: disk.freeBytes == 0 ? .critical : .ok, message: free + ", no recent data to extrapolate"))
            }
        }

        // Timers: snap's and seal's must be enabled and armed; ship's, prune's and check's too
        // once a remote is configured.
        if let timers {
            var problems: [(HealthStatus, String)] = []
            for timer in timers {
                let needed: HealthStatus = TimerState.required.contains(timer.unit) ? .critical
                    : configuration.shipping && TimerState.forShipping.contains(timer.unit) ? .warning : .ok
                guard needed != .ok, !(timer.enabled && timer.armed) else { continue }
                problems.append((needed, "\(timer.unit) is \(timer.fileState) and \(timer.activeState)"))
            }
            let armed = timers.filter { $0.enabled && $0.armed }.map { $0.unit.dropFirst("orderbooks-".count).dropLast(".timer".count) }
            checks.append(HealthCheck(name: "timers", status: problems.map(\.0).max() ?? .ok,
                                      message: problems.isEmpty ? "enabled and armed: " + armed.joined(separator: ", ") : problems.map(\.1).joined(separator: "; ")))
        } else if let timersNote {
            checks.append(HealthCheck(name: "timers", status: timersNote.hasPrefix("not checked") ? .ok : .unknown, message: timersNote))
        }

        for problem in f.problems { checks.append(HealthCheck(name: "data", status: .unknown, message: problem)) }
        self.checks = checks
    }

    /// The first line: the state, then the problems (worst first), or a short all-clear.
    public var summary: String {
        let problems = checks.filter { $0.status != .ok }.sorted { $0.status > $1.status }
        let text = problems.isEmpty ? checks.filter { ["capture", "shipping", "disk"].contains($0.name) }.map(\.message) : problems.map { "\($0.name): \($0.message)" }
        return "ORDERBOOKS \(status.name): " + text.joined(separator: "; ")
    }
}

func bytesText(_ bytes: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : String(decimal: value, places: 1) + " " + units[unit]
}

/// A ratio as the manifests write coverage: six decimals.
func coverageText(_ value: Double) -> String { String(decimal: value, places: 6) }
