import Glibc
import OrderbooksCore

/// The production report of one `gate run` (docs/FORMAT.md, "Gate reports"): `gate.json` for
/// machines, `gate.md` for a person (verdict first, one table per check), the file inventory,
/// and a `SHA256SUMS` of them.
struct GateReport: Sendable {
    static let schemaVersion = 1

    var id: String
    var verdict: Verdict
    var reasons: [String]
    var startedAt: Timestamp
    var finishedAt: Timestamp
    var command: [String]
    var host: HostFacts
    var hostname: String
    var conditions: [Condition]
    var checks: [CheckResult]
    var risks: [Risk]

    var json: [UInt8] {
        var root = JSONObjectWriter(multiline: true)
        root.field("kind", "gate_report")
        root.field("schema", Self.schemaVersion)
        root.field("gate_run", id)
        root.field("verdict", verdict.rawValue)
        root.field("reasons", strings: reasons)
        root.field("started_at", startedAt.iso8601)
        root.field("finished_at", finishedAt.iso8601)
        root.field("gate_version", OrderbooksVersion.current)
        root.field("command", strings: command)
        var h = JSONObjectWriter()
        h.field("hostname", hostname)
        h.field("boot_id", host.bootId)
        h.field("virtualization", host.virtualization)
        h.field("container", host.container)
        h.field("pid1", host.pid1)
        h.field("clock_synchronized", host.clockSynchronized)
        root.field("host", object: h)
        root.field("conditions", each: conditions) { condition, o in
            o.field("name", condition.name)
            o.field("real", condition.real)
            o.field("stand_in", condition.standIn)
            o.field("detail", condition.detail)
        }
        root.field("checks", each: checks) { check, o in
            o.field("id", check.id)
            o.field("title", check.title)
            o.field("status", check.status.rawValue)
            o.field("skipped", check.skipped)
            o.field("started_at", check.startedAt.iso8601)
            o.field("finished_at", check.finishedAt.iso8601)
            o.field("findings", each: check.findings) { finding, f in
                f.field("status", finding.status.rawValue)
                f.field("text", finding.text)
            }
            o.field("commands", each: check.commands) { command, c in
                c.field("argv", strings: command.argv)
                c.field("started_at", command.startedAt.iso8601)
                c.field("finished_at", command.finishedAt.iso8601)
                c.field("milliseconds", milliseconds: command.finishedAt.microseconds - command.startedAt.microseconds)
                c.field("exit_status", command.exitStatus.map(Int.init))
                c.field("signal", command.signal.map(Int.init))
                c.field("start_error", command.startError)
                c.field("stdout_bytes", command.stdout.count)
                c.field("stdout_sha256", Digest.sha256Hex(command.stdout))
                c.field("stdout_tail", strings: CommandRecord.tail(command.stdout))
                c.field("stderr_bytes", command.stderr.count)
                c.field("stderr_sha256", Digest.sha256Hex(command.stderr))
                c.field("stderr_tail", strings: CommandRecord.tail(command.stderr))
            }
        }
        root.field("risks", each: risks) { risk, o in
            o.field("risk", risk.risk)
            o.field("evidence", risk.evidence)
        }
        return root.finished + [0x0A]
    }

    var markdown: String {
        var md = "# Production gate: \(verdict.rawValue)\n\n"
        md += "`gate run` \(id) on \(hostname), \(startedAt.iso8601) to \(finishedAt.iso8601) (gate \(OrderbooksVersion.current)).\n\n"
        md += reasons.map { "- \(cell($0))\n" }.joined() + "\n"
        md += "Command: `\(command.joined(separator: " "))`. Machine-readable: `gate.json`; checksums: `SHA256SUMS` "
            + "(`sha256sum -c SHA256SUMS` in this directory); every command below can be run again by hand.\n\n"
        md += "## What it ran on\n\n| condition | real | detail |\n|---|---|---|\n"
        md += conditions.map { "| \($0.name) | \($0.real ? "yes" : "no") | \(cell($0.detail)) |\n" }.joined()
        md += "\nHost: virtualization \(host.virtualization), container \(host.container), PID 1 \(host.pid1), boot \(host.bootId ?? "unknown").\n\n"
        md += "## Checks\n\n| # | check | status | started | seconds |\n|---|---|---|---|---|\n"
        for (index, check) in checks.enumerated() {
            md += "| \(index + 1) | \(check.title) | **\(check.status.rawValue.uppercased())** | \(check.startedAt.iso8601) | "
                + String(decimal: Double(check.finishedAt.microseconds - check.startedAt.microseconds) / 1e6, places: 1) + " |\n"
        }
        for (index, check) in checks.enumerated() {
            md += "\n## \(index + 1). \(check.title): \(check.status.rawValue.uppercased())\n\n"
            if let skipped = check.skipped { md += "Not run: \(cell(skipped)).\n" }
            if !check.findings.isEmpty {
                md += "| | finding |\n|---|---|\n" + check.findings.map { "| \($0.status.rawValue) | \(cell($0.text)) |\n" }.joined()
            }
            if !check.commands.isEmpty {
                md += "\n| command | started (UTC) | exit | ms | stdout sha256 | last line |\n|---|---|---|---|---|---|\n"
                for command in check.commands {
                    let last = CommandRecord.tail(command.stdout, lines: 1).first ?? CommandRecord.tail(command.stderr, lines: 1).first ?? ""
                    md += "| `\(cell(command.argv.joined(separator: " ")))` | \(command.startedAt.iso8601) | \(command.ending) | "
                        + String(decimal: command.milliseconds, places: 1) + " | `\(Digest.sha256Hex(command.stdout).prefix(16))…` | \(cell(String(last.prefix(120)))) |\n"
                }
            }
        }
        md += "\n## Remaining risks\n\n| risk | evidence |\n|---|---|\n" + risks.map { "| \(cell($0.risk)) | \(cell($0.evidence)) |\n" }.joined()
        return md
    }

    /// Text safe in a Markdown table cell: one line, no pipe.
    private func cell(_ text: String) -> String {
        String(text.map { $0 == "|" ? "¦" : $0.isNewline ? " " : $0 })
    }

    /// Writes the report into `<reports>/<id>/` at once: built in a hidden directory beside it,
    /// each file fsynced, then the directory renamed into place and its parent fsynced. The
    /// files end up owned by `owner` (the tools' user reads them for `--ship`).
    func write(to reports: String, inventory: FileInventory, owner: String) throws(FileError) -> String {
        try DurableFile.makeDirectories(reports, mode: 0o755)
        let final = reports + "/" + id
        let building = reports + "/." + id + ".partial"
        guard mkdir(building, 0o755) == 0 else { throw FileError("create directory", building) }
        let files: [(String, [UInt8])] = [("gate.json", json), ("gate.md", Array(markdown.utf8)), ("inventory.json", inventory.json)]
        var sums = ""
        for (name, bytes) in files {
            try DurableFile.create(bytes, at: building + "/" + name, temporaryDirectory: building, readableByAll: true)
            sums += Digest.sha256Hex(bytes) + "  " + name + "\n"
        }
        try DurableFile.create(Array(sums.utf8), at: building + "/SHA256SUMS", temporaryDirectory: building, readableByAll: true)
        if let user = getpwnam(owner) {
            for name in files.map(\.0) + ["SHA256SUMS", ""] { _ = chown(building + (name.isEmpty ? "" : "/" + name), user.pointee.pw_uid, user.pointee.pw_gid) }
        }
        guard rename(building, final) == 0 else { throw FileError("rename into", final) }
        try DurableFile.syncDirectory(reports)
        return final
    }
}
