import OrderbooksCore

/// From the checks and what they were run on, the verdict and its reasons.
enum GateVerdict {
    static let defaultCLOB = "https://clob.polymarket.com"
    static let defaultGamma = "https://gamma-api.polymarket.com"
    /// Full clock hours that must be sealed and verified for PRODUCTION_READY.
    static let hoursNeeded = 2

    /// What the run was done on: the real host, endpoints and remote, and a long enough capture.
    static func conditions(_ c: GateRunConfiguration, host: HostFacts, remote: UploadCheck.RemoteFacts) -> [Condition] {
        var conditions: [Condition] = []
        conditions.append(Condition(name: "host", real: !host.isContainer,
                                    detail: host.isContainer ? "a container (\(host.container)): a simulation of the VPS, not the VPS"
                                        : "not a container (virtualization: \(host.virtualization))", standIn: true))
        let clob = c.settings["ORDERBOOKS_CLOB_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultCLOB
        let gamma = c.settings["ORDERBOOKS_GAMMA_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultGamma
        let caFile = c.settings["ORDERBOOKS_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        let realEndpoints = clob == defaultCLOB && gamma == defaultGamma && caFile == nil
        conditions.append(Condition(name: "endpoints", real: realEndpoints,
                                    detail: "CLOB \(clob), Gamma \(gamma), " + (caFile.map { "extra CA file \($0)" } ?? "the system CA store only")
                                        + (realEndpoints ? "" : ": not Polymarket's own endpoints with the system trust store"), standIn: true))
        conditions.append(Condition(name: "remote", real: remote.type == "drive",
                                    detail: c.remote == nil ? "no remote configured" : "rclone backend \(remote.type ?? "unknown")"
                                        + (remote.type == "drive" ? " (Google Drive)" : ": not Google Drive"), standIn: true))
        let hours = fullHours(remote.verifiedParts.map(\.window))
        conditions.append(Condition(name: "capture length", real: hours >= hoursNeeded,
                                    detail: "\(hours) full clock hours sealed and verified on the remote (\(hoursNeeded) needed)", standIn: false))
        return conditions
    }

    /// Whole UTC hours entirely covered by the windows.
    static func fullHours(_ windows: [SealWindow]) -> Int {
        var covered: [Int64: Int64] = [:]  // hour start → seconds covered
        for window in Set(windows) {
            var t = window.start.seconds
            while t < window.end.seconds {
                let hour = t - ((t % 3600) + 3600) % 3600
                let end = min(window.end.seconds, hour + 3600)
                covered[hour, default: 0] += end - t
                t = end
            }
        }
        return covered.values.filter { $0 >= 3600 }.count
    }

    /// NOT_READY when a check failed or was skipped (failing checks first in the reasons);
    /// BLOCKED_NEEDS_VPS_ACCESS when every check passed but the host, the endpoints or the
    /// remote is a stand-in; NOT_READY when only the capture is still too short;
    /// PRODUCTION_READY otherwise.
    static func decide(_ checks: [CheckResult], _ conditions: [Condition]) -> (Verdict, [String]) {
        let failed = checks.filter { $0.status == .fail }
        let skipped = checks.filter { $0.status == .skipped }
        let standIns = conditions.filter { !$0.real && $0.standIn }
        let short = conditions.filter { !$0.real && !$0.standIn }
        if !failed.isEmpty || !skipped.isEmpty {
            let reasons = failed.map { check in "\(check.title) failed: " + check.findings.filter { $0.status == .fail }.map(\.text).joined(separator: "; ") }
                + skipped.map { "\($0.title) not run (\($0.skipped ?? ""))" }
            return (.notReady, reasons + standIns.map { "stand-in \($0.name): \($0.detail)" })
        }
        if !standIns.isEmpty {
            return (.blockedNeedsVPSAccess, standIns.map { "stand-in \($0.name): \($0.detail)" } + short.map { "also: \($0.name): \($0.detail)" })
        }
        if !short.isEmpty { return (.notReady, short.map { "\($0.name): \($0.detail): run again later" }) }
        return (.productionReady, ["every check passed on a real host, against Polymarket's endpoints, shipping to Google Drive, with \(hoursNeeded)+ hours sealed and verified"])
    }

    /// The risks that remain whatever the verdict, with their evidence or why they cannot be
    /// checked here; then every warning the checks raised.
    static func risks(_ c: GateRunConfiguration, checks: [CheckResult], conditions: [Condition], reads: [SnapshotRead]) -> [Risk] {
        var risks: [Risk] = []
        let endpoints = conditions.first { $0.name == "endpoints" }
        if endpoints?.real == true, let newest = reads.last(where: { $0.outcome == "complete" }) {
            risks.append(Risk(risk: "Slug formats and payloads may change on Polymarket's side",
                              evidence: "verified live in this run: \(newest.name) holds books of \(newest.seriesMarkets.keys.sorted().joined(separator: ", ")); a change would show as failure rows and gate health CRITICAL"))
        } else {
            risks.append(Risk(risk: "Slug formats and payloads unverified against Polymarket itself",
                              evidence: "cannot be checked here: \(endpoints?.detail ?? "endpoints unknown"); the fakes speak the shapes of docs (polymarket-api.md)"))
        }
        let remote = conditions.first { $0.name == "remote" }
        risks.append(Risk(risk: "Google Drive quota (storage, and 750 GB of uploads a day)",
                          evidence: remote?.real == true ? "see `rclone about` of the remote; the archive grows by the disk check's daily figure"
                              : "cannot be checked here: \(remote?.detail ?? "no remote")"))
        var collectors = Set<String>()
        for read in reads { if let name = SnapshotName(read.name) { collectors.insert(name.collector) } }
        risks.append(Risk(risk: "A single collector",
                          evidence: collectors.count <= 1 ? "only \(collectors.first ?? "one collector") writes here: an outage of this VPS is a gap in the archive (a second VPS with its own ORDERBOOKS_COLLECTOR_ID would cover it)"
                              : "\(collectors.count) collectors seen: \(collectors.sorted().joined(separator: ", "))"))
        if !c.afterReboot {
            risks.append(Risk(risk: "Surviving a reboot is not proven by this run",
                              evidence: "reboot the host, then run `gate run --after-reboot` (docs/CUTOVER.md)"))
        }
        risks.append(Risk(risk: "One local disk until a part is verified on the remote",
                          evidence: "parts wait at most one ship cycle (5 minutes) when the remote answers; gate health warns after 3 hours"))
        for check in checks {
            for finding in check.findings where finding.status == .warn { risks.append(Risk(risk: "\(check.title): warning", evidence: finding.text)) }
        }
        return risks
    }
}
