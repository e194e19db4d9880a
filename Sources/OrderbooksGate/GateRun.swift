import Glibc
import OrderbooksCore

/// `gate run`: every check on this host, the verdict, and the report.
public struct GateRun {
    public var configuration: GateRunConfiguration
    public var log: Log

    public init(configuration: GateRunConfiguration, log: Log) {
        (self.configuration, self.log) = (configuration, log)
    }

    /// Exit statuses: 0 PRODUCTION_READY, 1 NOT_READY, 2 BLOCKED_NEEDS_VPS_ACCESS; 73 the
    /// report could not be written; 77 not root; 69 `--ship` could not upload the report.
    public func run() async -> Int32 {
        let c = configuration
        guard geteuid() == 0 else {
            log(.error, "gate run must run as root: it restarts the units, kills a snap and cuts its network (sudo gate run)")
            return 77
        }
        let startedAt = Timestamp.now()
        let id = String(startedAt.compact.prefix(15)) + "Z"
        log(.info, "gate run \(id): checking \(c.dataDirectory) with \(c.bin); report in \(c.reportsDirectory)/\(id)")
        var checks: [CheckResult] = []
        let (install, host) = await InstallCheck.run(c)
        checks.append(install)
        let (capture, reads) = CaptureCheck.run(c, now: Timestamp.now())
        checks.append(capture)
        let before = FileInventory.take(c.dataDirectory)
        if c.afterReboot { checks.append(RebootCheck.run(c, host: host, inventory: before, reads: reads, currentRun: id)) }
        checks.append(await RestartCheck.run(c, gateRun: id, inventory: before))
        checks.append(await NetworkCheck.run(c, gateRun: id))
        let (upload, remote) = await UploadCheck.run(c)
        checks.append(upload)
        checks.append(await IntegrityCheck.run(c))
        checks.append(await ResourcesCheck.run(c))
        for check in checks { log(check.status == .fail ? .warning : .info, "check \(check.id): \(check.status.rawValue)") }

        let conditions = GateVerdict.conditions(c, host: host, remote: remote)
        let (verdict, reasons) = GateVerdict.decide(checks, conditions)
        let report = GateReport(id: id, verdict: verdict, reasons: reasons, startedAt: startedAt, finishedAt: Timestamp.now(),
                                command: c.command, host: host, hostname: Self.hostname, conditions: conditions, checks: checks,
                                risks: GateVerdict.risks(c, checks: checks, conditions: conditions, reads: reads))
        let directory: String
        do {
            // The inventory saved is the state after every check: what --after-reboot compares with.
            directory = try report.write(to: c.reportsDirectory, inventory: FileInventory.take(c.dataDirectory), owner: c.user)
        } catch {
            log(.error, "cannot write the report: \(error)")
            return 73
        }
        print("\(verdict.rawValue)\n" + reasons.map { "  - \($0)" }.joined(separator: "\n") + "\nreport: \(directory)/gate.md")
        if c.ship, !(await ReportUpload.run(c, directory: directory, id: id, log: log)) { return 69 }
        switch verdict {
        case .productionReady: return 0
        case .notReady: return 1
        case .blockedNeedsVPSAccess: return 2
        }
    }

    static var hostname: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "unknown" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
