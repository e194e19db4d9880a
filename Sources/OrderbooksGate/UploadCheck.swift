import Glibc
import OrderbooksCore

/// Check 5, the upload: ship run under its unit; every sealed part old enough verified; `ship
/// check` passes; no local file gone before its receipt said verified; the remote's type.
enum UploadCheck {
    /// A part whose window ended this long ago has had a seal and a ship start since.
    static let oldEnough: Int64 = 15 * 60

    struct RemoteFacts: Sendable {
        /// rclone's backend type (`drive`, `sftp`, …), nil when unknown.
        var type: String?
        var verifiedParts: [(window: SealWindow, name: String)]
    }

    static func run(_ c: GateRunConfiguration) async -> (CheckResult, RemoteFacts) {
        var check = CheckBuilder("upload", "Upload")
        var facts = RemoteFacts(type: nil, verifiedParts: [])
        guard let remote = c.remote else {
            check.add(.fail("no remote: ORDERBOOKS_REMOTE is not set in \(c.environmentFile), so nothing leaves this disk"))
            return (check.finished(), facts)
        }
        let service = AsService(configuration: c)
        let redaction = Redaction(remote: remote)
        check.add(.info("remote \(redaction.shownRemote)"))
        facts.type = await remoteType(remote, service: service, &check)

        let ship = await check.run(["systemctl", "start", "orderbooks-ship.service"])
        let state = await check.run(["systemctl", "show", "--property=Result,ExecMainStatus,ConditionResult", "orderbooks-ship.service"])
        let shown = state.stdoutText.split(separator: "\n").map(String.init)
        check.expect(ship.succeeded && shown.contains("Result=success") && shown.contains("ConditionResult=yes"),
                     "ship ran under its unit and succeeded", else: "ship under its unit: \(ship.ending), \(shown.joined(separator: " "))")

        let directory = DataDirectory(root: c.dataDirectory)
        let now = Timestamp.now()
        var waiting: [String] = []
        for part in (try? directory.sealedParts()) ?? [] {
            let status = HealthFacts.receiptStatus(directory, day: part.day, part: part.name)
            if status == "verified" || status == "pruned" {
                facts.verifiedParts.append((part.window, part.name))
            } else if now.seconds - part.window.end.seconds >= oldEnough {
                waiting.append("\(part.name) (\(status ?? "no receipt"))")
            }
        }
        facts.verifiedParts += PrunedParts.list(directory)
        check.expect(waiting.isEmpty, "every part whose window ended \(oldEnough / 60) minutes ago or more is verified on the remote (\(facts.verifiedParts.count) verified)",
                     else: "\(waiting.count) parts old enough are not verified: " + waiting.prefix(5).joined(separator: ", "))

        // --wait: a check that found the lock held would say "busy" and exit 0 without looking.
        let audit = await check.run(service.argv([c.bin + "/ship", "check", "--wait", "--json"]), environment: service.environment)
        let report = try? JSON.parse(audit.stdout)
        let counts = report?["counts"]
        func count(_ name: String) -> String { if case .number(let n)? = counts?[name] { n } else { "?" } }
        check.expect(audit.succeeded && report?["result"]?.string == "clean",
                     "ship check: all \(count("parts")) verified or pruned parts on the remote as recorded (\(count("intact")) intact, \(count("unknown")) unknown files)",
                     else: "ship check: \(audit.ending), result \(report?["result"]?.string ?? "none"): \(count("missing")) missing, \(count("changed")) changed, "
                         + "\(count("lost")) lost; " + CommandRecord.tail(audit.stderr, lines: 2).joined(separator: " | "))

        let early = prunedEarly(directory)
        check.expect(early.isEmpty, "no local file deleted before its receipt said verified",
                     else: "\(early.count) parts deleted locally without a verified receipt: " + early.prefix(5).joined(separator: ", "))
        return (check.finished(), facts)
    }

    /// The remote's backend type: from a connection string (`:sftp,host=…:path`), else from
    /// `rclone listremotes --long` (names and types only: no secret is printed).
    static func remoteType(_ remote: String, service: AsService, _ check: inout CheckBuilder) async -> String? {
        if remote.hasPrefix(":") {
            let type = remote.dropFirst().prefix { $0 != "," && $0 != ":" }
            check.add(.info("remote type \(type) (a connection string)"))
            return String(type)
        }
        let name = remote.prefix { $0 != ":" }
        let list = await check.run(service.argv(["rclone", "listremotes", "--long", "--config", service.configuration.rcloneConfig]))
        for line in list.stdoutText.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, fields[0] == name + ":" {
                check.add(.info("remote type \(fields[1]) (rclone listremotes)"))
                return String(fields[1])
            }
        }
        check.add(.warn("the type of remote \(name) is unknown (rclone listremotes: \(list.ending))"))
        return nil
    }

    /// Parts whose local files are gone although their receipt never said verified.
    static func prunedEarly(_ d: DataDirectory) -> [String] {
        ((try? d.receiptFiles()) ?? []).compactMap { day, name in
            guard name.hasSuffix(DataDirectory.receiptSuffix) else { return nil }
            let part = String(name.dropLast(DataDirectory.receiptSuffix.count))
            let local = d.sealed + "/" + day + "/" + part
            guard access(local + SealWindow.manifestSuffix, F_OK) != 0 || access(local + SealWindow.segmentSuffix, F_OK) != 0 else { return nil }
            let status = HealthFacts.receiptStatus(d, day: day, part: part)
            let pruned = access(d.receipts + "/" + day + "/" + part + DataDirectory.prunedSuffix, F_OK) == 0
            return pruned && status == "verified" ? nil : "\(part) (receipt \(status ?? "none"), \(pruned ? "prune record" : "no prune record"))"
        }
    }
}
