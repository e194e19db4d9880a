import Glibc
import OrderbooksCore

/// `gate run --after-reboot`: against the previous report (its inventory and boot id): the host
/// did reboot, every file of then is unchanged (or sealed, pruned, updated as the pipeline does),
/// and capture resumed in this boot.
enum RebootCheck {
    static func run(_ c: GateRunConfiguration, host: HostFacts, inventory now: FileInventory, reads: [SnapshotRead], currentRun: String) -> CheckResult {
        var check = CheckBuilder("reboot", "After the reboot")
        guard let previous = previousReport(c.reportsDirectory, before: currentRun) else {
            check.add(.fail("no earlier report with an inventory in \(c.reportsDirectory): run `gate run` before the reboot"))
            return check.finished()
        }
        check.add(.info("compared with report \(previous.id) (boot \(previous.bootId ?? "unknown"), \(previous.inventory.files.count) files)"))
        check.expect(previous.bootId != nil && previous.bootId != host.bootId, "the host rebooted since: boot \(host.bootId ?? "?") after \(previous.bootId ?? "?")",
                     else: "no reboot since report \(previous.id): still boot \(host.bootId ?? "unknown")")
        let (unchanged, moved, problems) = previous.inventory.compare(to: now, root: c.dataDirectory)
        check.expect(problems.isEmpty, "every file of report \(previous.id) unchanged (\(unchanged)) or sealed/pruned/updated as the pipeline does (\(moved))",
                     else: "\(problems.count) files lost or changed across the reboot: " + problems.prefix(5).joined(separator: "; "))
        let resumed = reads.filter { $0.outcome == "complete" && $0.bootId == host.bootId }
        check.expect(!resumed.isEmpty, "capture resumed in this boot: \(resumed.count) complete snapshots since, the first \(resumed.first?.name ?? "")",
                     else: "no complete snapshot of this boot (\(host.bootId ?? "unknown")) in the capture window")
        return check.finished()
    }

    /// The newest report before `current` with an inventory: its id, boot id and inventory.
    static func previousReport(_ reports: String, before current: String) -> (id: String, bootId: String?, inventory: FileInventory)? {
        for id in (DataDirectory.names(in: reports) ?? []).filter({ $0 < current }).reversed() {
            guard let bytes = (try? DurableFile.read(reports + "/" + id + "/inventory.json")) ?? nil, let inventory = FileInventory.decode(bytes),
                  let report = (try? DurableFile.read(reports + "/" + id + "/gate.json")) ?? nil, let gate = try? JSON.parse(report) else { continue }
            return (id, gate["host"]?["boot_id"]?.string, inventory)
        }
        return nil
    }
}
