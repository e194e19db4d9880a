import Glibc
import OrderbooksCore

/// Check 4, a network failure: the snap service's network cut for a few cycles, nothing else on
/// the host touched: failure rows (naming the gate) and journal lines appear, and the first
/// cycle after the cut writes complete rows again. The cut is systemd's IP firewall
/// (`set-property --runtime IPAddressDeny=any`); where it has no effect (no BPF in a
/// container), a runtime drop-in with `PrivateNetwork=yes` instead, and the report says so.
enum NetworkCheck {
    static let unit = "orderbooks-snap.service"
    static let dropInDirectory = "/run/systemd/system/orderbooks-snap.service.d"
    static let dropIn = dropInDirectory + "/90-gate-network-cut.conf"
    /// Seconds the network stays cut: a few cycles at one a second.
    static let cutSeconds: UInt64 = 5

    static func run(_ c: GateRunConfiguration, gateRun: String) async -> CheckResult {
        var check = CheckBuilder("network", "Network failure")
        guard c.disrupt else {
            check.skip("--no-disruption")
            return check.finished()
        }
        let disrupting = Disrupting(configuration: c, gateRun: gateRun)
        guard disrupting.declare("network cut", seconds: 90, &check) != nil else { return check.finished() }
        let journalSince = Timestamp.now()

        // The firewall first.
        var cutAt = Timestamp.now()
        let deny = await check.run(["systemctl", "set-property", "--runtime", unit, "IPAddressDeny=any"])
        var failed: [SnapshotRead] = []
        var how = "IPAddressDeny=any"
        if deny.succeeded {
            failed = await observe(disrupting, after: cutAt)
            await check.run(["systemctl", "set-property", "--runtime", unit, "IPAddressDeny="])
        }
        if !deny.succeeded || failed.isEmpty {
            check.add(.info("IPAddressDeny=any did not cut snap off (\(deny.succeeded ? "its runs still completed: no BPF firewall here" : deny.ending)); using a PrivateNetwork=yes drop-in instead"))
            how = "PrivateNetwork=yes"
            await check.run(["mkdir", "-p", dropInDirectory])
            await check.run(["sh", "-c", "printf '[Service]\\nPrivateNetwork=yes\\n' > \(dropIn)"])
            await check.run(["systemctl", "daemon-reload"])
            cutAt = Timestamp.now()
            failed = await observe(disrupting, after: cutAt)
            await check.run(["rm", "-f", dropIn])
            await check.run(["systemctl", "daemon-reload"])
        }
        let restoredAt = Timestamp.now()
        let named = failed.filter { $0.disruption == "gate run \(gateRun): network cut" }
        check.expect(!failed.isEmpty, "network cut with \(how): \(failed.count) runs failed while it lasted",
                     else: "the network cut (\(how)) made no run fail: the check could not disrupt snap")
        check.expect(!failed.isEmpty && named.count == failed.count, "every failed run names the gate (\"disruption\": \"gate run \(gateRun): network cut\")",
                     else: "\(failed.count - named.count) of \(failed.count) failed runs do not name the gate")
        let journal = await check.run(["journalctl", "--no-pager", "-o", "cat", "-u", unit, "--since", "@\(journalSince.seconds)"])
        let lines = journal.stdoutText.split(separator: "\n").filter { $0.contains("outcome=failed") }
        check.expect(!lines.isEmpty, "\(lines.count) journal lines of failed runs", else: "no journal line of a failed run (journalctl: \(journal.ending))")
        if let next = await disrupting.waitForComplete(after: restoredAt, seconds: 30) {
            check.add(.pass("the first cycle after the cut wrote complete rows: \(next.name)"))
        } else {
            check.add(.fail("no complete snapshot within 30 s after the network came back"))
        }
        disrupting.end(&check)
        let property = await check.run(["systemctl", "show", "--property=IPAddressDeny", unit])
        check.expect(property.stdoutText.trimmingWhitespace == "IPAddressDeny=" && access(dropIn, F_OK) != 0, "the cut is reverted",
                     else: "the cut is still in place: \(property.stdoutText.trimmingWhitespace)")
        return check.finished()
    }

    /// The runs started during the cut that failed.
    static func observe(_ disrupting: Disrupting, after cutAt: Timestamp) async -> [SnapshotRead] {
        try? await Task.sleep(for: .seconds(cutSeconds))
        // A run in flight at the cut may still have had its connection.
        return disrupting.snapshots(after: cutAt.adding(seconds: 1)).filter { $0.outcome == "failed" }
    }
}
