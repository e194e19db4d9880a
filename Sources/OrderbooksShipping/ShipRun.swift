import Glibc
import OrderbooksCore

public struct ShipConfiguration: Sendable {
    public var dataDirectory: String
    /// rclone's remote root, e.g. `gdrive:orderbooks/polymarket`.
    public var remote: String
    public var rclone: Rclone
    public var dryRun: Bool
    public var waitForLock: Bool
    /// prune: parts whose window ended less than this many days ago stay.
    public var keepDays: Int
    public var command: [String]
}

/// A sealed part waiting to ship: its two files as the manifest and the local disk say.
struct PendingPart {
    var name: String
    var directory: String
    var files: [ShippedFile]
    var localPaths: [String]
    /// Why it cannot be uploaded (changed or unreadable local file), per file status.
    var refusal: (ShipFailure, String, [RemoteCheck.Status])?
}

/// One ship pass: every sealed part without a verified receipt goes to the remote, segment
/// first and manifest last, and each is proved there by size and hash before its receipt says
/// `verified`. Nothing local is deleted (that is `ship prune`). Safe to kill and to re-run: a
/// re-run sends only what is missing or bad.
public struct ShipRun {
    let configuration: ShipConfiguration
    let directory: DataDirectory
    let log: Log

    public init(configuration: ShipConfiguration, log: Log) {
        self.configuration = configuration
        self.directory = DataDirectory(root: configuration.dataDirectory)
        self.log = log
    }

    public func run() async -> ExitStatus {
        let started = Timestamp.now()
        let (lock, early) = ShipRun.lock(directory, configuration, log: log, tool: "ship")
        if let early { return early }
        defer { withExtendedLifetime(lock) {} }

        var parts: [PendingPart], shipped: Int
        do { (parts, shipped) = try pendingParts() } catch {
            log(.error, "ship: \(error); nothing shipped")
            return .checkFailed
        }
        if configuration.dryRun {
            for i in parts.indices { checkLocal(&parts[i]) }
            return dryRun(parts)
        }
        guard !parts.isEmpty else {
            log(.info, "ship: status=0 parts=0 verified=0 shipped_before=\(shipped): nothing to ship")
            return .complete
        }

        let session = RemoteSession(rclone: configuration.rclone, remote: configuration.remote, log: log)
        // The remote first: while it is unreachable, re-reading every waiting segment on each run
        // would only cost disk time. A changed local file is still caught before anything is sent.
        var openFailure: RemoteSession.Failure?
        if parts.contains(where: { $0.refusal == nil }) {
            do { try await session.open() } catch { openFailure = error }
        }
        if openFailure == nil {
            for i in parts.indices where parts[i].refusal == nil { checkLocal(&parts[i]) }
        }
        var outcomes = parts.map { part in
            var outcome = PartOutcome(checks: part.refusal?.2.map(RemoteCheck.init(status:)) ?? part.files.map { _ in RemoteCheck(status: .notChecked) })
            if let (kind, message, _) = part.refusal { outcome.fail(kind, message) }
            if let openFailure { outcome.fail(openFailure.kind, openFailure.message) }
            return outcome
        }
        if openFailure == nil {
            let sendable = parts.indices.filter { parts[$0].refusal == nil }
            // Before anything is sent: the remote must not be this data directory, however it is
            // spelled; the conflict check's listings are the probe's read side.
            let probe = SelfRemoteProbe(directory: directory, days: sendable.map { parts[$0].directory })
            var probeFailure: RemoteSession.Failure?
            if !sendable.isEmpty {
                do throws(RemoteSession.Failure) { try await probe.begin(session) } catch { probeFailure = error }
            }
            var replaceable: Set<String> = []
            if probeFailure == nil { replaceable = await refuseConflicts(sendable, parts: parts, outcomes: &outcomes, session: session) }
            do throws(RemoteSession.Failure) { try probe.end(session) } catch { probeFailure = probeFailure ?? error }
            if let probeFailure {
                log(.error, "ship: " + probeFailure.message)
                for i in sendable { outcomes[i].failure = nil; outcomes[i].fail(probeFailure.kind, probeFailure.message) }
            }
            // Segments first; a manifest only once its segment verified, so a manifest on the
            // remote means its segment is there whole.
            for role in [ShippedFile.Role.segment, .manifest] {
                let items = sendable.filter { outcomes[$0].failure == nil }.compactMap { i in
                    parts[i].files.firstIndex { $0.role == role }.map { (part: i, file: $0) }
                }
                await ship(items, replaceable: replaceable, parts: parts, outcomes: &outcomes, session: session)
            }
        }

        // Receipts, one per part.
        var totals = (verified: 0, failed: 0, refused: 0, bytes: Int64(0))
        var worst: ShipFailure?
        for (i, part) in parts.enumerated() {
            var outcome = outcomes[i]
            let verified = outcome.failure == nil && outcome.checks.allSatisfy(\.verified)
            if !verified && outcome.failure == nil { outcome.fail(.verification, "not verified") }
            let receipt = Receipt(
                part: part.name, status: verified ? .verified : part.refusal?.0 == .localIntegrity ? .refused : .failed,
                failure: outcome.failure, error: outcome.message, remoteDirectory: session.shown(part.directory),
                method: session.method,
                files: Receipt.entries(part.files, localPaths: part.localPaths, checks: outcome.checks, session: session),
                warnings: outcome.checks.indices.compactMap { f in
                    outcome.checks[f].copies > 1 && outcome.checks[f].verified
                        ? "\(part.files[f].name): \(outcome.checks[f].copies) identical copies on the remote (rclone dedupe --dedupe-mode skip removes the extras)"
                        : nil
                },
                rcloneVersion: session.version, commands: session.calls, startedAt: started, finishedAt: Timestamp.now(),
                command: configuration.command)
            do {
                try ShipRun.write(receipt, in: directory)
            } catch {
                log(.error, "ship: cannot write the receipt of \(part.name): \(error)")
                outcome.fail(.cannotWrite, "\(error)")
            }
            if verified && outcome.failure == nil {
                totals.verified += 1
                totals.bytes += part.files.reduce(0) { $0 + $1.bytes }
                let segment = part.files[0]
                log(.info, "ship: verified \(part.name): \(segment.bytes) bytes, md5 \(segment.md5), \(session.method?.rawValue ?? ""), at \(session.shown(segment.relativePath))")
                for warning in receipt.warnings { log(.warning, "ship: \(part.name): \(warning)") }
            } else {
                if receipt.status == .refused { totals.refused += 1 } else { totals.failed += 1 }
                let failure = outcome.failure ?? .verification
                worst.worsen(failure)
                log(.error, "ship: NOT shipped \(part.name) (\(failure.rawValue)): \(outcome.message ?? "")")
            }
        }
        let status = worst?.status ?? .complete
        let seconds = Double((Timestamp.now().microseconds - started.microseconds) / 1000) / 1000
        log(status == .complete ? .info : .error,
            "ship: status=\(status.rawValue) parts=\(parts.count) verified=\(totals.verified) failed=\(totals.failed) refused=\(totals.refused) "
            + "shipped_before=\(shipped) bytes=\(totals.bytes) rclone_calls=\(session.calls.count) seconds=\(seconds)")
        return status
    }

    /// What happened to one part in this run.
    struct PartOutcome {
        var checks: [RemoteCheck] = []
        var failure: ShipFailure?
        var message: String?

        mutating func fail(_ kind: ShipFailure, _ text: String) {
            if failure == nil { (failure, message) = (kind, text) }
        }
    }

    /// A manifest already on the remote under a waiting part's name but for another segment is
    /// another part: the same collector id on two hosts, or a data directory moved without its
    /// receipts. Overwriting it would destroy that part's only remote copy, so the part is not
    /// sent. Only a remote manifest that is provably ship's own may be replaced:
    /// - one that verifies (the same bytes as ours: a re-run after a lost receipt);
    /// - one read whole (as many bytes as listed) that parses and names our segment by name
    ///   and sha256 (the same part, written by another ship version);
    /// - one read whole that does not parse and is a prefix of our manifest: our own upload cut
    ///   short (a whole manifest parses, so no complete one is a prefix of another; a fragment
    ///   that is a prefix of ours holds nothing ours does not, and no receipt is verified by it).
    /// Everything else is a conflict, and any step that fails (listing, download, a read shorter
    /// than listed) fails the part as `unavailable` for the next run: never "no conflict".
    /// A segment already there under our name with no manifest beside it (a manifest of ours
    /// proves its segment ours: it is sent only once that verified) is replaced only if it is
    /// provably ours too: shorter than ours and a prefix of it (our upload, cut
    /// short), or, on a remote with no hash in its listings, of our size (our upload, damaged on
    /// the way: it cannot be told apart without a download). A longer one, or one of our size
    /// whose md5 differs, may be another host's upload not yet finished: a conflict.
    /// Returns the remote files the check's listings showed: only those may be replaced.
    private func refuseConflicts(_ indices: [Int], parts: [PendingPart], outcomes: inout [PartOutcome], session: RemoteSession) async -> Set<String> {
        let manifests = indices.map { parts[$0].files[1] }
        guard !manifests.isEmpty else { return [] }
        let (checks, failure, listed) = await session.check(manifests)
        var withoutManifest: [Int] = []
        for (k, i) in indices.enumerated() {
            let remote = session.shown(manifests[k].relativePath)
            switch checks[k].status {
            case .missing:
                withoutManifest.append(i)
                continue
            case .verified:
                continue
            case .notChecked:
                outcomes[i].fail(failure?.kind ?? .unavailable, failure?.message ?? "the remote could not be listed")
                continue
            case .duplicate:
                outcomes[i].fail(.conflict, "\(remote) is on the remote \(checks[k].copies) times, in copies that differ: not overwritten; "
                                 + "compare them (rclone dedupe --dedupe-mode list) and keep one")
                continue
            default:
                break
            }
            guard let listed = checks[k].remoteBytes, listed >= 0, listed <= max(Self.largestManifest, manifests[k].bytes) else {
                outcomes[i].fail(.conflict, "\(remote) already exists, \(checks[k].remoteBytes ?? -1) bytes: not a manifest of ours; not overwritten")
                continue
            }
            let bytes: [UInt8]
            do throws(RemoteSession.Failure) {
                bytes = try await session.read(manifests[k].relativePath)
            } catch {
                outcomes[i].fail(.unavailable, "\(remote) exists and could not be read to tell whether it is ours, so it is not overwritten: \(error.message)")
                continue
            }
            guard bytes.count == listed else {
                outcomes[i].fail(.unavailable, "\(remote) is listed with \(listed) bytes but \(bytes.count) were read: it cannot be told from "
                                 + "another part's manifest, so it is not overwritten")
                continue
            }
            let ours = parts[i].files[0]
            guard let theirs = try? Manifest(decoding: bytes, lists: false) else {
                if let local = try? DurableFile.read(parts[i].localPaths[1]), bytes.count < local.count, local.starts(with: bytes) { continue }
                outcomes[i].fail(.conflict, "\(remote) already exists, \(bytes.count) bytes that are not a manifest and not a prefix of ours: "
                                 + "not overwritten; look at it and move it aside")
                continue
            }
            guard theirs.files[0].sha256 != ours.sha256 || theirs.files[0].name != ours.name else { continue }
            outcomes[i].fail(.conflict, "\(remote) already exists for another segment (\(theirs.files[0].name), sha256 \(theirs.files[0].sha256), "
                             + "\(theirs.files[0].rows) rows, collector \(theirs.collector)); ours is sha256 \(ours.sha256). Not overwritten: another host "
                             + "with the same collector id, or a data directory moved without its receipts/? Compare them and move one aside.")
        }
        for i in withoutManifest where outcomes[i].failure == nil {
            let ours = parts[i].files[0]
            guard let theirs = listed[ours.relativePath], theirs.bytes != ours.bytes || (theirs.md5 != nil && theirs.md5 != ours.md5) else { continue }
            let remote = session.shown(ours.relativePath)
            let notOurs = "\(remote) already exists, \(theirs.bytes) bytes\(theirs.md5.map { ", md5 " + $0 } ?? ""), and is not an upload of ours "
                + "(\(ours.bytes) bytes, md5 \(ours.md5)) cut short: another host's part, not finished? Not overwritten; compare them and move one aside."
            guard theirs.bytes < ours.bytes else {
                outcomes[i].fail(.conflict, notOurs)
                continue
            }
            let bytes: [UInt8]
            do throws(RemoteSession.Failure) {
                bytes = try await session.read(ours.relativePath)
            } catch {
                outcomes[i].fail(.unavailable, "\(remote) exists and could not be read to tell whether it is ours, so it is not overwritten: \(error.message)")
                continue
            }
            if bytes.count != theirs.bytes || !Self.isPrefix(bytes, of: parts[i].localPaths[0]) { outcomes[i].fail(.conflict, notOurs) }
        }
        return Set(listed.keys)
    }

    /// Whether `bytes` are the first bytes of the file at `path`, read a chunk at a time.
    static func isPrefix(_ bytes: [UInt8], of path: String) -> Bool {
        var offset = 0
        var same = true
        do throws(FileError) {
            try DurableFile.forEachChunk(path, size: 1 << 20) { chunk in
                let n = min(chunk.count, bytes.count - offset)
                if n > 0 && same && !chunk.prefix(n).elementsEqual(bytes[offset..<(offset + n)]) { same = false }
                offset += n
                return nil
            }
        } catch {
            return false
        }
        return same && offset == bytes.count
    }

    /// A remote file under a manifest's name larger than this and than ours is not one of ours
    /// (an hour's manifest is under 1 MB), and is not downloaded to find out.
    static let largestManifest: Int64 = 1 << 20

    /// Uploads one role's files, checks them, re-sends the bad ones once, checks again.
    /// A file the conflict check's listing showed may be replaced (the check found no other
    /// part there: ship's own upload cut short); one it did not show is sent `--immutable`, so a
    /// listing that missed another part's file (an outage's "directory not found", an eventually
    /// consistent Drive listing) cannot make ship overwrite it. A repair follows a listing too.
    private func ship(_ items: [(part: Int, file: Int)], replaceable listed: Set<String>, parts: [PendingPart], outcomes: inout [PartOutcome],
                      session: RemoteSession) async {
        var pending = items
        // Files this run's copies wrote: ours to repair. A file no listing showed and no copy of
        // ours wrote may be someone else's (a remote with no hash skips one of the same size).
        var written: Set<String> = []
        for attempt in 0..<2 where !pending.isEmpty {
            let replaceable = Set(pending.indices.filter {
                let path = parts[pending[$0].part].files[pending[$0].file].relativePath
                return listed.contains(path) || written.contains(path)
            })
            var uploadFailures: [RemoteSession.Failure?] = Array(repeating: nil, count: pending.count)
            for immutable in [false, true] {
                let group = pending.indices.filter { replaceable.contains($0) != immutable }
                let (copied, failure) = await session.upload(group.map { parts[pending[$0].part].files[pending[$0].file] }, from: directory.sealed,
                                                             force: attempt > 0, immutable: immutable)
                written.formUnion(copied)
                if let failure { for k in group { uploadFailures[k] = failure } }
            }
            let (checks, listingFailure, _) = await session.check(pending.map { parts[$0.part].files[$0.file] })
            var again: [(part: Int, file: Int)] = []
            var reasons: [String] = []
            for (k, item) in pending.enumerated() {
                outcomes[item.part].checks[item.file] = checks[k]
                guard !checks[k].verified else { continue }
                let file = parts[item.part].files[item.file]
                let uploadFailure = uploadFailures[k]
                let failure = uploadFailure ?? listingFailure
                    ?? RemoteSession.Failure(kind: .verification, message: "\(file.role.rawValue) \(file.name) on the remote: \(Self.describe(checks[k], file))"
                                             + (attempt > 0 ? " after a repair" : ""))
                // Differing duplicates and failed listings are not repaired: a person picks the
                // copy to keep (rclone dedupe), and an unreachable remote is for the next run.
                if attempt == 0 && uploadFailure == nil && listingFailure == nil && checks[k].status != .duplicate {
                    again.append(item)
                    reasons.append("\(file.name) (\(checks[k].status.rawValue))")
                } else {
                    outcomes[item.part].fail(failure.kind, failure.message)
                }
            }
            if !again.isEmpty {
                log(.warning, "ship: re-sending \(again.count) file(s) that did not verify: " + reasons.joined(separator: ", "))
            }
            pending = again
        }
    }

    static func describe(_ check: RemoteCheck, _ file: ShippedFile) -> String {
        switch check.status {
        case .missing: "missing"
        case .sizeMismatch: "\(check.remoteBytes ?? -1) bytes, not \(file.bytes)"
        case .hashMismatch: check.remoteMD5 != nil && check.remoteSHA256 == nil
            ? "md5 \(check.remoteMD5 ?? ""), not \(file.md5)" : "sha256 \(check.remoteSHA256 ?? ""), not \(file.sha256)"
        case .duplicate: "\(check.copies) copies that differ (list them with rclone dedupe --dedupe-mode list)"
        case .noHash: "the remote gave no hash"
        default: check.status.rawValue
        }
    }

    /// Sealed parts whose receipt does not say verified, and how many do.
    func pendingParts() throws(FileError) -> (parts: [PendingPart], shipped: Int) {
        var parts: [PendingPart] = []
        var shipped = 0
        for (day, _, part) in try directory.sealedParts() {
            if Receipt.summary(in: directory, day: day, part: part)?.status == .verified {
                shipped += 1
            } else {
                parts.append(pending(part, day: day))
            }
        }
        return (parts, shipped)
    }

    /// Reads a part's manifest and hashes it: what the part's two files must be.
    private func pending(_ part: String, day: String) -> PendingPart {
        let base = directory.sealed + "/" + day + "/" + part
        let segmentName = part + SealWindow.segmentSuffix, manifestName = part + SealWindow.manifestSuffix
        var result = PendingPart(name: part, directory: day, files: [], localPaths: [base + SealWindow.segmentSuffix, base + SealWindow.manifestSuffix])
        let unknown = ShippedFile(role: .segment, directory: day, name: segmentName, bytes: 0, sha256: "", md5: "")
        let manifestBytes: [UInt8]
        let manifest: Manifest
        do {
            manifestBytes = try DurableFile.read(result.localPaths[1]) ?? []
            manifest = try Manifest(decoding: manifestBytes, lists: false)
        } catch {
            result.files = [unknown, ShippedFile(role: .manifest, directory: day, name: manifestName, bytes: 0, sha256: "", md5: "")]
            result.refusal = (.unreadable, "cannot read \(result.localPaths[1]): \(error)", [.unreadable, .unreadable])
            return result
        }
        let digests = FileDigests(md5: true)
        manifestBytes.withUnsafeBytes { digests.update($0) }
        let (manifestSHA, manifestMD5) = digests.finish()
        let recorded = manifest.files[0]
        result.files = [
            ShippedFile(role: .segment, directory: day, name: recorded.name, bytes: recorded.bytes, sha256: recorded.sha256, md5: recorded.md5),
            ShippedFile(role: .manifest, directory: day, name: manifestName, bytes: Int64(manifestBytes.count), sha256: manifestSHA, md5: manifestMD5 ?? ""),
        ]
        if recorded.name != segmentName {
            result.refusal = (.localIntegrity, "the manifest \(manifestName) names \(recorded.name), not \(segmentName)", [.localMismatch, .localMismatch])
        }
        return result
    }

    /// Re-hashes the segment: one that no longer matches its manifest is refused, never sent.
    private func checkLocal(_ part: inout PendingPart) {
        guard part.refusal == nil else { return }
        let recorded = part.files[0]
        do {
            let local = try FileDigests.of(part.localPaths[0], md5: true)
            if (local.bytes, local.sha256, local.md5 ?? "") != (recorded.bytes, recorded.sha256, recorded.md5) {
                part.refusal = (.localIntegrity, "\(part.localPaths[0]) no longer matches its manifest: \(local.bytes) bytes, sha256 \(local.sha256); "
                                + "the manifest says \(recorded.bytes) bytes, sha256 \(recorded.sha256). Not uploaded.", [.localMismatch, .notChecked])
            }
        } catch {
            part.refusal = (.unreadable, "\(error)", [.unreadable, .notChecked])
        }
    }

    private func dryRun(_ parts: [PendingPart]) -> ExitStatus {
        var worst: ShipFailure?
        for part in parts {
            if let (kind, message, _) = part.refusal {
                print("would refuse \(part.name) (\(kind.rawValue)): \(message)")
                log(.error, "ship: dry run: \(part.name) would be refused (\(kind.rawValue)): \(message)")
                worst.worsen(kind)
                continue
            }
            for (file, local) in zip(part.files, part.localPaths) {
                print("would upload \(local) -> \(RemoteSession.join(Redaction(remote: configuration.remote).shownRemote, file.relativePath)) (\(file.bytes) bytes)")
            }
        }
        log(.info, "ship: dry run: \(parts.count) part(s) to ship; nothing sent or written")
        return worst?.status ?? .complete
    }

    /// Takes the lock ship and prune share, or says what to exit with at once: 0 when another
    /// one holds it (without --wait), 73 when it cannot be taken, 78 when a folder of the data
    /// directory is a link (DataDirectory.layoutProblem). A dry run writes nothing and takes
    /// none. Also makes `tmp/`, where receipts and the rclone record are written first.
    static func lock(_ directory: DataDirectory, _ configuration: ShipConfiguration, log: Log, tool: String) -> (FileLock?, ExitStatus?) {
        if let problem = directory.layoutProblem() {
            log(.error, "\(tool): \(problem)")
            return (nil, .configuration)
        }
        if configuration.dryRun { return (nil, nil) }
        do {
            try DurableFile.makeDirectories(directory.state)
            try DurableFile.makeDirectories(directory.temporary)
            if let lock = try FileLock(exclusive: directory.shipLockFile, wait: configuration.waitForLock) {
                if let (pid, ended) = configuration.rclone.record?.endLeftover() {
                    log(.warning, ended ? "\(tool): ended rclone \(pid), left running by a ship or prune that was killed"
                                        : "\(tool): rclone \(pid), left running by a killed ship or prune, does not end: going on beside it")
                }
                return (lock, nil)
            }
            log(.info, "\(tool): another ship, prune or check is running; nothing done")
            return (nil, .complete)
        } catch {
            log(.error, "\(tool): \(error)")
            return (nil, .cannotWrite)
        }
    }

    static func write(_ receipt: Receipt, in directory: DataDirectory) throws(FileError) {
        let day = receipt.files[0].file.directory
        try DurableFile.makeDirectories(directory.receipts + "/" + day)
        try DurableFile.replace(receipt.encoded(), at: Receipt.path(in: directory, day: day, part: receipt.part), temporaryDirectory: directory.temporary)
    }
}
