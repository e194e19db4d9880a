import OrderbooksCore

/// `gate health`'s three forms of one answer: lines for people and monitoring plugins, one
/// JSON object, and a node_exporter textfile.
struct HealthOutput {
    var facts: HealthFacts
    var timers: [TimerState]?
    var verdict: HealthVerdict
    var configuration: HealthConfiguration

    /// The summary, then one line per check: `STATE name: message`.
    var text: String {
        ([verdict.summary] + verdict.checks.map { "\($0.status.name) \($0.name): \($0.message)" }).joined(separator: "\n") + "\n"
    }

    var json: [UInt8] {
        let f = facts
        var root = JSONObjectWriter(multiline: true)
        root.field("kind", "health")
        root.field("schema", 1)
        root.field("status", verdict.status.name)
        root.field("exit_code", Int(verdict.status.rawValue))
        root.field("summary", verdict.summary)
        root.field("generated_at", f.now.iso8601)
        root.field("data_dir", configuration.dataDirectory)
        root.field("gate_version", OrderbooksVersion.current)
        root.field("checks", each: verdict.checks) { check, o in
            o.field("name", check.name)
            o.field("status", check.status.name)
            o.field("message", check.message)
        }
        func snapshot(_ s: HealthFacts.Snapshot?) -> JSONObjectWriter? {
            s.map { s in
                var o = JSONObjectWriter()
                o.field("name", s.name)
                o.field("started_at", s.startedAt.iso8601)
                return o
            }
        }
        func part(_ p: HealthFacts.Part?) -> JSONObjectWriter? {
            p.map { p in
                var o = JSONObjectWriter()
                o.field("name", p.name)
                o.field("window_end", p.windowEnd.iso8601)
                if let coverage = p.coverage { o.field("coverage", number: coverageText(coverage)) }
                o.field("created_at", p.createdAt?.iso8601)
                return o
            }
        }
        root.field("last_snapshot", optional: snapshot(f.lastSnapshot))
        root.field("last_complete_snapshot", optional: snapshot(f.lastComplete))
        root.field("snapshots_read", f.snapshotsRead)
        root.field("spool_files", f.spoolFiles)
        root.field("oldest_spool_file", optional: snapshot(f.oldestSpool))
        root.field("sealed_parts", f.parts)
        root.field("last_part", optional: part(f.lastPart))
        root.field("unverified_parts", f.unverified.count)
        root.field("oldest_unverified_part", optional: part(f.unverified.first))
        root.field("refused_parts", strings: f.refused)
        root.field("quarantined_files", f.quarantined)
        root.field("last_quarantined_at", f.lastQuarantinedAt?.iso8601)
        root.field("backoff", each: f.backoff) { pause, o in
            o.field("api", pause.api)
            o.field("until", pause.until.iso8601)
            o.field("reason", pause.reason)
        }
        if let disk = f.disk {
            var o = JSONObjectWriter()
            o.field("free_bytes", disk.freeBytes)
            o.field("total_bytes", disk.totalBytes)
            if let rate = disk.growthBytesPerSecond { o.field("growth_bytes_per_day", Int64(rate * 86_400)) } else { o.field("growth_bytes_per_day", Int64?.none) }
            root.field("disk", object: o)
        } else {
            root.field("disk", optional: nil)
        }
        if let timers {
            root.field("timers", each: timers) { timer, o in
                o.field("unit", timer.unit)
                o.field("unit_file_state", timer.fileState)
                o.field("active_state", timer.activeState)
                o.field("last_trigger", timer.lastTrigger?.iso8601)
                o.field("next_elapse", timer.nextElapse?.iso8601)
            }
        } else {
            root.field("timers", optional: nil)
        }
        return root.finished + [0x0A]
    }

    /// The textfile: every figure as a gauge named after Prometheus' conventions (base units,
    /// `_timestamp_seconds` for instants, `_bytes`); a figure that is unknown is left out
    /// rather than written as NaN, so `absent()` sees it.
    var prometheus: [UInt8] {
        let f = facts
        var out = ""
        func gauge(_ name: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            guard !samples.isEmpty else { return }
            out += "# HELP orderbooks_\(name) \(help)\n# TYPE orderbooks_\(name) gauge\n"
            for sample in samples { out += "orderbooks_\(name)\(sample.labels) \(sample.value)\n" }
        }
        func one(_ value: String?) -> [(labels: String, value: String)] { value.map { [("", $0)] } ?? [] }
        func seconds(_ t: Timestamp?) -> String? { t.map { String(decimal: Double($0.microseconds) / 1e6, places: 3) } }
        gauge("health_status", "Overall state of gate health: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.", one("\(verdict.status.rawValue)"))
        gauge("health_check_status", "State of each check of gate health: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
              verdict.checks.map { ("{check=\"\(label($0.name))\"}", "\($0.status.rawValue)") })
        gauge("health_generated_timestamp_seconds", "When gate health looked.", one(seconds(f.now)))
        gauge("last_snapshot_timestamp_seconds", "Start of the newest snapshot run of any outcome.", one(seconds(f.lastSnapshot?.startedAt)))
        gauge("last_complete_snapshot_timestamp_seconds", "Start of the newest complete snapshot run.", one(seconds(f.lastComplete?.startedAt)))
        gauge("spool_files", "Snapshot files waiting to be sealed.", one("\(f.spoolFiles)"))
        gauge("oldest_spool_file_timestamp_seconds", "Start of the oldest snapshot not yet sealed.", one(seconds(f.oldestSpool?.startedAt)))
        gauge("sealed_parts", "Sealed parts in the data directory.", one("\(f.parts)"))
        gauge("last_sealed_window_end_timestamp_seconds", "End of the newest sealed part's window.", one(seconds(f.lastPart?.windowEnd)))
        gauge("last_sealed_coverage_ratio", "Coverage of the newest sealed part (0 to 1).", one(f.lastPart?.coverage.map(coverageText)))
        gauge("unverified_parts", "Sealed parts not yet verified on the remote.", one("\(f.unverified.count)"))
        gauge("oldest_unverified_window_end_timestamp_seconds", "Window end of the oldest part not verified on the remote.",
              one(seconds(f.unverified.first?.windowEnd)))
        gauge("refused_parts", "Parts ship refused because a sealed file no longer matches its manifest.", one("\(f.refused.count)"))
        gauge("quarantined_files", "Damaged spool files in quarantine.", one("\(f.quarantined)"))
        gauge("backoff_until_timestamp_seconds", "End of an active pause a throttling server asked for.",
              f.backoff.map { ("{api=\"\(label($0.api))\"}", seconds($0.until)!) })
        if let disk = f.disk {
            gauge("data_free_bytes", "Bytes free for the data directory (for unprivileged users).", one("\(disk.freeBytes)"))
            gauge("data_size_bytes", "Size of the data directory's file system.", one("\(disk.totalBytes)"))
            gauge("data_growth_bytes_per_second", "New data a second over the last day.", one(disk.growthBytesPerSecond.map { String(decimal: $0, places: 3) }))
        }
        if let timers {
            gauge("timer_enabled", "1 when the timer is enabled and armed.", timers.map { ("{timer=\"\(label($0.unit))\"}", $0.enabled && $0.armed ? "1" : "0") })
            gauge("timer_last_trigger_timestamp_seconds", "When the timer last started its service.",
                  timers.compactMap { t in seconds(t.lastTrigger).map { ("{timer=\"\(label(t.unit))\"}", $0) } })
        }
        return Array(out.utf8)
    }

    /// A label value as the text format wants it: backslash, quote and newline escaped.
    private func label(_ text: String) -> String {
        text.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"").replacing("\n", with: "\\n")
    }
}

extension JSONObjectWriter {
    /// An object member, or null.
    mutating func field(_ name: String, optional object: JSONObjectWriter?) {
        if let object { field(name, object: object) } else { field(name, Int?.none) }
    }
}
