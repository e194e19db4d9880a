import Glibc
import OrderbooksCore

/// `ship check`: an audit of what the remote holds, after restic's `check`. Every part whose
/// receipt says verified, and every part `ship prune` deleted here (its `.pruned.json`), must still
/// be on the remote, each file once, with the size and hash recorded: one listing per day
/// directory (md5), or a download and its sha256 where the remote has no md5 (or with
/// `readData`). A part that is not is demoted when its local files are still whole (its receipt
/// turns back to `failed`, as prune does it, so the next ship sends it again), and otherwise
/// reported as lost, with what it held. Remote files no record here accounts for are reported.
/// Nothing is deleted, here or on the remote: the only write is a demoted receipt.
public struct ShipCheck {
    /// Version of the `--json` report (docs/FORMAT.md, "Check reports").
    public static let schemaVersion = 1

    let configuration: ShipConfiguration
    let directory: DataDirectory
    /// Download and hash every file, even where the listing has an md5.
    let readData: Bool
    /// One JSON report on stdout.
    let json: Bool
    let log: Log

    public init(configuration: ShipConfiguration, readData: Bool, json: Bool, log: Log) {
        self.configuration = configuration
        self.directory = DataDirectory(root: configuration.dataDirectory)
        (self.readData, self.json, self.log) = (readData, json, log)
    }

    /// A part that must be on the remote: verified by ship, or deleted here by prune.
    struct AuditedPart {
        var name: String
        var day: String
        var files: [ShippedFile]
        /// A prune record is there: prune deleted (or began deleting) the local files.
        var pruned: Bool
    }

    /// What the data directory's records say.
    struct Inventory {
        var audited: [AuditedPart] = []
        /// Sealed parts with neither a verified receipt nor a prune record: not the audit's business.
        var notShipped = 0
        /// Per day directory, every file name a receipt, prune record or manifest here accounts for.
        var known: [String: Set<String>] = [:]
        /// The collector ids of those parts: a remote part of another id is another collector's.
        var collectors: Set<String> = []
        /// Receipts and prune records that do not parse.
        var unreadable: [String] = []
    }

    /// How one file of an audited part compares with the remote.
    enum Category: String {
        case intact, missing, changed, duplicated, unchecked
        /// More than one copy, all of them right: a warning.
        case identicalCopies = "identical_copies"

        init(_ check: RemoteCheck) {
            switch check.status {
            case .verified: self = check.copies > 1 ? .identicalCopies : .intact
            case .missing: self = .missing
            case .sizeMismatch, .hashMismatch: self = .changed
            case .duplicate: self = .duplicated
            default: self = .unchecked
            }
        }

        /// The remote does not hold the file as recorded (an unchecked file is not known to be bad).
        var isProblem: Bool { self == .missing || self == .changed || self == .duplicated }
    }

    /// The local files of a part with a problem: whether the next ship can send them again.
    enum Local: String {
        /// Both there, with the recorded size and sha256.
        case present
        case absent
        /// One of the two (a prune cut short deletes the segment first).
        case partial
        /// There, but one no longer matches the record or cannot be read.
        case changed
    }

    enum Action: String {
        case none, demoted, lost
        case wouldDemote = "would_demote"
    }

    /// An audited part with anything to report.
    struct Finding {
        var part: AuditedPart
        var checks: [RemoteCheck]
        var local: Local?
        var action = Action.none
        var error: String?

        var categories: [Category] { checks.map(Category.init) }
    }

    /// A remote file in a day directory that no record here accounts for.
    enum Stray: Equatable {
        /// ship's self-remote probe, left by a ship killed before it deleted it (or another
        /// host's ship running now).
        case probe
        /// A part of a collector id none of this data directory's parts has: another collector
        /// shipping to the same folder.
        case otherCollector(String)
        case unknown
    }

    static func stray(_ name: String, collectors: Set<String>) -> Stray {
        if name.hasPrefix(SelfRemoteProbe.prefix) { return .probe }
        if let part = SealWindow.parse(partFileName: name), !collectors.contains(part.window.collector) { return .otherCollector(part.window.collector) }
        return .unknown
    }

    /// Everything the run found, for the log's summary and the JSON report.
    struct Outcome {
        var status = ExitStatus.complete
        var busy = false
        var failure: ShipFailure?
        var error: String?
        var inventory = Inventory()
        var findings: [Finding] = []
        var unknown: [RemoteEntry] = []
        var probes: [String] = []
        var otherCollectors: [String: Int] = [:]
        var days = 0
        /// Files of checked parts by category, and parts whose every file is intact (or in identical copies).
        var files: [Category: Int] = [:]
        var intact = 0

        mutating func fail(_ kind: ShipFailure, _ message: String) {
            if failure.map({ kind.rank > $0.rank }) ?? true { error = message }
            failure.worsen(kind)
        }

        func count(_ category: Category) -> Int { files[category] ?? 0 }
        func count(_ action: Action) -> Int { findings.filter { $0.action == action }.count }
    }

    public func run() async -> ExitStatus {
        let started = Timestamp.now()
        var outcome = Outcome()
        let session = RemoteSession(rclone: configuration.rclone, remote: configuration.remote, log: log)
        // The lock ship and prune take, dry run or not: check runs rclone either way, and an
        // rclone run outside the lock would be ended by the next ship as a killed run's.
        var locking = configuration
        locking.dryRun = false
        let (lock, early) = ShipRun.lock(directory, locking, log: log, tool: "ship check")
        defer { withExtendedLifetime(lock) {} }
        if let early {
            outcome.status = early
            outcome.busy = early == .complete
            outcome.error = outcome.busy ? "another ship, prune or check is running: nothing checked"
                : directory.layoutProblem() ?? "cannot take \(directory.shipLockFile)"
            return report(outcome, session: session, started: started)
        }
        do {
            outcome.inventory = try inventory()
        } catch {
            log(.error, "ship check: \(error); nothing checked")
            outcome.fail(.unreadable, "\(error)")
            return report(outcome, session: session, started: started)
        }
        for path in outcome.inventory.unreadable {
            log(.warning, "ship check: \(path) cannot be read as a receipt or prune record: its part is not checked")
            outcome.fail(.unreadable, "\(path) cannot be read")
        }
        do throws(RemoteSession.Failure) {
            try await session.open()
        } catch {
            log(.error, "ship check: nothing checked: " + error.message)
            outcome.fail(error.kind, error.message)
            return report(outcome, session: session, started: started)
        }
        await audit(&outcome, session: session, started: started)
        return report(outcome, session: session, started: started)
    }

    /// Lists each day directory, compares, and demotes or reports what does not match.
    private func audit(_ outcome: inout Outcome, session: RemoteSession, started: Timestamp) async {
        let audited = outcome.inventory.audited
        let auditedDays = Set(audited.map(\.day))
        var days = auditedDays
        do throws(RemoteSession.Failure) {
            days.formUnion(try await session.dayDirectories())
        } catch {
            // The days this data directory knows are still worth checking.
            outcome.fail(error.kind, error.message)
            days.formUnion(outcome.inventory.known.keys)
        }
        outcome.days = days.count

        let files = audited.flatMap(\.files)
        var checks: [RemoteCheck] = []
        var listed: [String: RemoteEntry] = [:]
        if !files.isEmpty {
            let result = await session.check(files, method: readData ? .downloadSHA256 : nil)
            (checks, listed) = (result.checks, result.listed)
            if let failure = result.failure { outcome.fail(failure.kind, failure.message) }
            // A file listed without an md5 is downloaded instead: a missing hash never verifies.
            let unhashed = checks.indices.filter { checks[$0].status == .noHash }
            if !unhashed.isEmpty && session.method == .remoteMD5 && !readData {
                let again = await session.check(unhashed.map { files[$0] }, method: .downloadSHA256)
                if let failure = again.failure { outcome.fail(failure.kind, failure.message) }
                for (k, i) in unhashed.enumerated() { checks[i] = again.checks[k] }
            }
        }
        for day in days.subtracting(auditedDays).sorted() {
            do throws(RemoteSession.Failure) {
                for entry in try await session.list(day) where listed[day + "/" + entry.path] == nil { listed[day + "/" + entry.path] = entry }
            } catch {
                outcome.fail(error.kind, error.message)
            }
        }

        var offset = 0
        for part in audited {
            let mine = Array(checks[offset..<(offset + part.files.count)])
            offset += part.files.count
            let categories = mine.map(Category.init)
            for category in categories { outcome.files[category, default: 0] += 1 }
            if categories.allSatisfy({ $0 == .intact || $0 == .identicalCopies }) { outcome.intact += 1 }
            // A file whose listing failed is only counted: the failure is logged once, and an
            // outage would otherwise list every part.
            guard mine.contains(where: { Category($0) != .intact && $0.status != .notChecked }) else { continue }
            var finding = Finding(part: part, checks: mine)
            if finding.categories.contains(where: \.isProblem) {
                outcome.fail(.verification, "a remote copy is missing, changed or duplicated")
                let (local, paths) = localState(part)
                finding.local = local
                if local != .present {
                    finding.action = .lost
                } else if configuration.dryRun {
                    finding.action = .wouldDemote
                } else {
                    let message = "ship check: the remote copy no longer matches the receipt (\(Demotion.problems(part.files, mine))); "
                        + "local files kept, the next ship sends the part again"
                    do {
                        try Demotion.write(part: part.name, files: part.files, localPaths: paths, checks: mine, message: message, session: session,
                                           startedAt: started, command: configuration.command, in: directory)
                        finding.action = .demoted
                    } catch {
                        finding.error = "cannot write the receipt: \(error)"
                        outcome.fail(.cannotWrite, "\(part.name): \(finding.error ?? "")")
                    }
                }
            } else if mine.contains(where: { $0.status == .noHash }) {
                outcome.fail(.verification, "a remote file gave no hash, even downloaded")
            }
            logFinding(finding, session: session)
            outcome.findings.append(finding)
        }

        for (path, entry) in listed.sorted(by: { $0.key < $1.key }) {
            let day = String(path.prefix(10)), name = String(path.dropFirst(11))
            guard outcome.inventory.known[day]?.contains(name) != true else { continue }
            switch Self.stray(name, collectors: outcome.inventory.collectors) {
            case .probe:
                outcome.probes.append(session.shown(path))
                log(.warning, "ship check: \(session.shown(path)): a probe file left by a ship killed before it deleted it (or another host's "
                    + "ship running now); left alone (rclone deletefile removes it)")
            case .otherCollector(let collector):
                outcome.otherCollectors[collector, default: 0] += 1
            case .unknown:
                outcome.unknown.append(RemoteEntry(path: path, bytes: entry.bytes, md5: entry.md5))
                log(.warning, "ship check: unknown: \(session.shown(path)) (\(entry.bytes) bytes\(entry.md5.map { ", md5 " + $0 } ?? "")): no receipt, "
                    + "prune record or manifest here accounts for it; left alone")
            }
        }
        for (collector, count) in outcome.otherCollectors.sorted(by: { $0.key < $1.key }) {
            log(.info, "ship check: \(count) file(s) of collector \(collector), which has no part here: another collector's, not checked")
        }
    }

    /// One line per file that is not intact, then one for what became of the part.
    private func logFinding(_ finding: Finding, session: RemoteSession) {
        let part = finding.part
        for (file, check) in zip(part.files, finding.checks) {
            let path = session.shown(file.relativePath)
            let what = "\(file.role.rawValue) of \(part.name): \(file.bytes) bytes, sha256 \(file.sha256), md5 \(file.md5)"
            switch Category(check) {
            case .intact: break
            case .identicalCopies:
                log(.warning, "ship check: \(path): \(check.copies) identical copies on the remote (rclone dedupe --dedupe-mode skip removes the extras)")
            case .unchecked:
                log(.warning, "ship check: unchecked: \(path) (\(what)): \(check.status == .noHash ? "the remote gave no hash, even downloaded" : "the listing failed")")
            case let category:
                let how = category == .missing ? "not on the remote" : ShipRun.describe(check, file)
                log(.error, "ship check: \(category.rawValue): \(path): \(how) (\(what))")
            }
        }
        let pruned = part.pruned ? " (pruned here)" : ""
        switch finding.action {
        case .none:
            if let error = finding.error { log(.error, "ship check: \(part.name): \(error); its receipt still says verified") }
        case .demoted:
            log(.error, "ship check: demoted \(part.name): its receipt says failed again; its local files are whole, and the next ship sends the part again")
        case .wouldDemote:
            log(.error, "ship check: dry run: \(part.name) would be demoted (its local files are whole); receipt left as it was")
        case .lost:
            let held = part.files.map { "\($0.name) \($0.bytes) bytes, sha256 \($0.sha256), md5 \($0.md5)" }.joined(separator: "; ")
            log(.error, "ship check: lost: \(part.name)\(pruned): the remote copy is not as recorded and no whole local copy is left "
                + "(local files \(finding.local?.rawValue ?? "?")); it held \(held). Restore it from another copy")
        }
    }

    /// Whether the part's local files are there, each with its recorded size and sha256 (read
    /// through), and their paths.
    func localState(_ part: AuditedPart) -> (Local, [String]) {
        let paths = part.files.map { directory.sealed + "/" + $0.relativePath }
        let present = paths.filter { access($0, F_OK) == 0 }.count
        guard present == paths.count else { return (present == 0 ? .absent : .partial, paths) }
        for (file, path) in zip(part.files, paths) {
            guard let local = try? FileDigests.of(path, md5: false), local.bytes == file.bytes, local.sha256 == file.sha256 else { return (.changed, paths) }
        }
        return (.present, paths)
    }

    /// Reads receipts, prune records and sealed parts: what must be on the remote, and every
    /// name accounted for. Throws when a directory of `receipts/` or `sealed/` cannot be listed.
    func inventory() throws(FileError) -> Inventory {
        struct Records {
            var receipt: Receipt.Summary?
            var pruned: [ShippedFile]?
            var sealed = false
        }
        var inventory = Inventory()
        var parts: [String: Records] = [:]
        for (day, name) in try directory.receiptFiles() {
            let path = directory.receipts + "/" + day + "/" + name
            let suffix = [DataDirectory.receiptSuffix, DataDirectory.prunedSuffix].first { name.hasSuffix($0) }
            guard let suffix else { continue }
            let key = day + "/" + name.dropLast(suffix.count)
            do {
                let bytes = try DurableFile.read(path) ?? []
                if suffix == DataDirectory.receiptSuffix {
                    parts[key, default: Records()].receipt = try Receipt.decode(bytes, directory: day)
                } else {
                    parts[key, default: Records()].pruned = try ShipPrune.recordedFiles(bytes, directory: day)
                }
            } catch {
                inventory.unreadable.append(path)
                // Its names are still accounted for.
                if parts[key] == nil { parts[key] = Records() }
            }
        }
        for (day, _, part) in try directory.sealedParts() { parts[day + "/" + part, default: Records()].sealed = true }

        for (key, records) in parts.sorted(by: { $0.key < $1.key }) {
            let day = String(key.prefix(10)), name = String(key.dropFirst(11))
            let recorded = (records.receipt?.files ?? []) + (records.pruned ?? [])
            inventory.known[day, default: []].formUnion([name + SealWindow.segmentSuffix, name + SealWindow.manifestSuffix] + recorded.map(\.name))
            if let window = SealWindow.parse(partFileName: name + SealWindow.segmentSuffix)?.window { inventory.collectors.insert(window.collector) }
            if let receipt = records.receipt, receipt.status == .verified, !receipt.files.isEmpty {
                inventory.audited.append(AuditedPart(name: name, day: day, files: receipt.files, pruned: records.pruned != nil))
            } else if let pruned = records.pruned, !pruned.isEmpty {
                inventory.audited.append(AuditedPart(name: name, day: day, files: pruned, pruned: true))
            } else if records.sealed {
                inventory.notShipped += 1
            }
        }
        return inventory
    }

    /// Logs the summary line, prints the JSON report when asked, and returns the status.
    private func report(_ outcome: Outcome, session: RemoteSession, started: Timestamp) -> ExitStatus {
        var outcome = outcome
        if !outcome.busy && outcome.status == .complete { outcome.status = outcome.failure?.status ?? .complete }
        // None until the remote said what it can hash (nothing was checked before that).
        let method = session.method.map { readData ? .downloadSHA256 : $0 }
        let counts: [(String, Int)] = [
            ("parts", outcome.inventory.audited.count), ("pruned", outcome.inventory.audited.filter(\.pruned).count), ("intact", outcome.intact),
            ("missing", outcome.count(.missing)), ("changed", outcome.count(.changed)), ("duplicated", outcome.count(.duplicated)),
            ("identical_copies", outcome.count(.identicalCopies)), ("unchecked", outcome.count(.unchecked)), ("lost", outcome.count(.lost)),
            ("demoted", outcome.count(.demoted)), ("would_demote", outcome.count(.wouldDemote)), ("unknown", outcome.unknown.count),
            ("probes", outcome.probes.count), ("other_collector_files", outcome.otherCollectors.values.reduce(0, +)),
            ("not_shipped", outcome.inventory.notShipped), ("unreadable_records", outcome.inventory.unreadable.count), ("days", outcome.days),
        ]
        let seconds = Double((Timestamp.now().microseconds - started.microseconds) / 1000) / 1000
        if !outcome.busy {
            log(outcome.status == .complete ? .info : .error,
                "ship check: status=\(outcome.status.rawValue) " + counts.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
                + " method=\(method?.rawValue ?? "none") rclone_calls=\(session.calls.count) seconds=\(seconds)")
        }
        if json {
            var bytes = encoded(outcome, counts: counts, method: method, session: session, started: started)
            bytes.withUnsafeMutableBytes { buffer in
                var done = 0
                while done < buffer.count {
                    let n = write(1, buffer.baseAddress! + done, buffer.count - done)
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { break }
                    done += n
                }
            }
        }
        return outcome.status
    }

    /// The `--json` report (docs/FORMAT.md, "Check reports").
    private func encoded(_ outcome: Outcome, counts: [(String, Int)], method: RemoteCheck.Method?, session: RemoteSession,
                         started: Timestamp) -> [UInt8] {
        var r = JSONObjectWriter(multiline: true)
        r.field("kind", "check")
        r.field("schema", Self.schemaVersion)
        r.field("status", Int(outcome.status.rawValue))
        r.field("result", outcome.busy ? "busy" : outcome.status == .complete ? "clean" : outcome.status == .mismatch ? "problems" : "failed")
        r.field("error_class", outcome.busy ? nil : outcome.failure?.rawValue)
        r.field("error", outcome.status == .mismatch ? nil : outcome.error)
        r.field("remote", session.shown(""))
        r.field("method", method?.rawValue)
        r.field("read_data", readData)
        r.field("dry_run", configuration.dryRun)
        var c = JSONObjectWriter()
        for (name, value) in counts { c.field(name, value) }
        r.field("counts", object: c)
        r.field("parts", each: outcome.findings) { finding, p in
            p.field("part", finding.part.name)
            p.field("day", finding.part.day)
            p.field("action", finding.action.rawValue)
            p.field("local", finding.local?.rawValue)
            p.field("pruned", finding.part.pruned)
            p.field("receipt", Receipt.path(in: directory, day: finding.part.day, part: finding.part.name))
            p.field("error", finding.error)
            p.field("files", each: Array(zip(finding.part.files, finding.checks))) { item, f in
                let (file, check) = item
                f.field("role", file.role.rawValue)
                f.field("name", file.name)
                f.field("remote_path", session.shown(file.relativePath))
                f.field("category", Category(check).rawValue)
                f.field("status", check.status.rawValue)
                f.fields(of: file)
                f.fields(of: check)
            }
        }
        r.field("unknown", each: outcome.unknown) { entry, u in
            u.field("remote_path", session.shown(entry.path))
            u.field("bytes", entry.bytes)
            u.field("md5", entry.md5)
        }
        r.field("probes", strings: outcome.probes)
        r.field("other_collectors", each: outcome.otherCollectors.sorted { $0.key < $1.key }) { item, o in
            o.field("collector", item.key)
            o.field("files", item.value)
        }
        r.field("unreadable_records", strings: outcome.inventory.unreadable)
        r.field("rclone_version", session.version)
        r.field("rclone_calls", session.calls.count)
        r.field("started_at", started.iso8601)
        r.field("finished_at", Timestamp.now().iso8601)
        r.field("ship_version", OrderbooksVersion.current)
        r.field("command", strings: configuration.command)
        return r.finishedLine()
    }
}
