import OrderbooksCore

/// `gate run --ship`: the report goes beside the data, to `<remote>/reports/<id>/`, and is
/// checked there byte for byte (rclone check --download: every remote has bytes, not all have
/// md5). Run as the tools' user, whose rclone config it is (a token refresh rewrites it).
/// What happened is written to `upload.json` in the report's directory (after SHA256SUMS,
/// which it does not cover) and sent too.
enum ReportUpload {
    static func run(_ c: GateRunConfiguration, directory: String, id: String, log: Log) async -> Bool {
        guard let remote = c.remote else {
            log(.error, "gate run --ship: no remote (ORDERBOOKS_REMOTE in \(c.environmentFile)): the report stays here only")
            return false
        }
        let service = AsService(configuration: c)
        let redaction = Redaction(remote: remote)
        let target = remote + (remote.hasSuffix(":") || remote.hasSuffix("/") ? "" : "/") + "reports/" + id
        var check = CheckBuilder("report-upload", "Report upload")
        let config = ["--config", c.rcloneConfig]
        let copy = await check.run(service.argv(["rclone", "copy", directory, target] + config), environment: service.environment)
        let verify = await check.run(service.argv(["rclone", "check", directory, target, "--download", "--one-way"] + config), environment: service.environment)
        check.expect(copy.succeeded && verify.succeeded, "report uploaded to \(redaction.shownRemote)/reports/\(id) and identical there",
                     else: "report upload: copy \(copy.ending), check \(verify.ending)")
        var result = check.finished()
        result.commands = result.commands.map { record in
            var record = record
            record.argv = record.argv.map(redaction.scrub)
            record.stdout = Array(redaction.scrub(record.stdoutText).utf8)
            record.stderr = Array(redaction.scrub(String(decoding: record.stderr, as: UTF8.self)).utf8)
            return record
        }
        let ok = result.status == .pass
        var o = JSONObjectWriter(multiline: true)
        o.field("kind", "gate_report_upload")
        o.field("schema", 1)
        o.field("gate_run", id)
        o.field("remote", redaction.shownRemote + "/reports/" + id)
        o.field("verified", ok)
        o.field("commands", each: result.commands) { command, j in
            j.field("argv", strings: command.argv)
            j.field("started_at", command.startedAt.iso8601)
            j.field("exit_status", command.exitStatus.map(Int.init))
            j.field("stderr_tail", strings: CommandRecord.tail(command.stderr))
        }
        do {
            try DurableFile.create(o.finished + [0x0A], at: directory + "/upload.json", temporaryDirectory: directory, readableByAll: true)
            _ = await Command.run(service.argv(["rclone", "copy", directory + "/upload.json", target] + config), environment: service.environment)
        } catch {
            log(.error, "gate run --ship: cannot write upload.json: \(error)")
        }
        log(ok ? .info : .error, ok ? "report shipped to \(redaction.shownRemote)/reports/\(id) and verified" : "report upload failed: " + result.findings.map(\.text).joined(separator: "; "))
        return ok
    }
}
