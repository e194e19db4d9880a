import Glibc
import OrderbooksCore

/// `ship prune`: the only thing in orderbooks that deletes data. A part's segment and manifest go
/// only when its receipt says verified, its window ended more than `keepDays` ago, the local files
/// still match the receipt, and a fresh remote listing still shows each file once with the right
/// size and hash. A listing that no longer matches turns the receipt back to `failed`, so the next
/// ship sends the part again.
public struct ShipPrune {
    let configuration: ShipConfiguration
    let directory: DataDirectory
    let log: Log

    public init(configuration: ShipConfiguration, log: Log) {
        self.configuration = configuration
        self.directory = DataDirectory(root: configuration.dataDirectory)
        self.log = log
    }

    /// A verified part old enough to go, with the local files still on disk.
    struct Candidate {
        var part: String
        var files: [ShippedFile]
        var localPaths: [String]
    }

    public func run() async -> ExitStatus {
        let started = Timestamp.now()
        let (lock, early) = ShipRun.lock(directory, configuration, log: log, tool: "ship prune")
        if let early { return early }
        defer { withExtendedLifetime(lock) {} }

        let cutoff = Timestamp(seconds: started.seconds - Int64(configuration.keepDays) * 86_400)
        var candidates: [Candidate] = []
        var (young, unshipped) = (0, 0)
        var worst: ShipFailure?

        let sealedParts: [(day: String, window: SealWindow, name: String)]
        do { sealedParts = try directory.sealedParts() } catch {
            log(.error, "ship prune: \(error); nothing pruned")
            return .checkFailed
        }
        for (day, window, part) in sealedParts {
            guard let receipt = Receipt.summary(in: directory, day: day, part: part), receipt.status == .verified, receipt.files.count == 2 else {
                unshipped += 1
                continue
            }
            guard window.end <= cutoff else {
                young += 1
                continue
            }
            candidates.append(Candidate(part: part, files: receipt.files, localPaths: receipt.files.map { directory.sealed + "/" + $0.relativePath }))
        }

        // Local files first: one that changed since it was shipped is not deleted (something is
        // wrong on this disk, and a person should look).
        candidates = candidates.filter { candidate in
            for (file, path) in zip(candidate.files, candidate.localPaths) where access(path, F_OK) == 0 {
                let local = try? FileDigests.of(path, md5: false)
                if local?.bytes != file.bytes || local?.sha256 != file.sha256 {
                    log(.error, "ship prune: kept \(path): it no longer matches its receipt (\(local.map { "\($0.bytes) bytes, sha256 \($0.sha256)" } ?? "unreadable"))")
                    worst.worsen(.localIntegrity)
                    return false
                }
            }
            return true
        }

        if configuration.dryRun {
            for candidate in candidates {
                for path in candidate.localPaths where access(path, F_OK) == 0 { print("would prune \(path) (after a fresh remote check)") }
            }
            log(.info, "ship prune: dry run: \(candidates.count) part(s) old enough and verified; \(young) younger than \(configuration.keepDays) days, \(unshipped) not verified")
            return worst?.status ?? .complete
        }

        var pruned = 0, mismatched = 0
        let session = RemoteSession(rclone: configuration.rclone, remote: configuration.remote, log: log)
        if !candidates.isEmpty {
            do throws(RemoteSession.Failure) {
                try await session.open()
                // Nothing is deleted unless the remote is proved not to be this data directory:
                // a file sent lands elsewhere, and a file put in each day folder is not in the
                // listing below, the one every deletion rests on.
                let probe = SelfRemoteProbe(directory: directory, days: candidates.map { $0.files[0].directory })
                let files = candidates.flatMap(\.files)
                let checks: [RemoteCheck]
                do throws(RemoteSession.Failure) {
                    try await probe.begin(session)
                    let (listed, failure, _) = await session.check(files)
                    try probe.end(session)
                    if let failure { worst.worsen(failure.kind) }
                    checks = listed
                } catch {
                    try? probe.end(session)
                    log(.error, "ship prune: nothing deleted: " + error.message)
                    throw error
                }
                for (c, candidate) in candidates.enumerated() {
                    let mine = Array(checks[(2 * c)..<(2 * c + 2)])
                    if mine.allSatisfy(\.verified) {
                        do {
                            try remove(candidate, checks: mine, session: session)
                            pruned += 1
                        } catch {
                            log(.error, "ship prune: \(candidate.part): \(error)")
                            worst.worsen(.cannotWrite)
                        }
                    } else if !mine.contains(where: { $0.status == .notChecked }) {
                        mismatched += 1
                        worst.worsen(.verification)
                        if access(candidate.localPaths[0], F_OK) == 0 {
                            demote(candidate, checks: mine, session: session, started: started)
                        } else {
                            // Pruned halfway (the segment went first) before the remote copy
                            // changed: nothing is left to send again, so the receipt stays.
                            log(.error, "ship prune: the remote copy of \(candidate.part) no longer matches its receipt, and its local segment was "
                                + "already deleted: the manifest stays as evidence; restore the segment from another copy")
                        }
                    }
                }
            } catch {
                worst.worsen(error.kind)
            }
        }
        let status = worst?.status ?? .complete
        log(status == .complete ? .info : .error,
            "ship prune: status=\(status.rawValue) pruned=\(pruned) mismatched=\(mismatched) candidates=\(candidates.count) "
            + "kept_younger=\(young) not_verified=\(unshipped) keep_days=\(configuration.keepDays)")
        return status
    }

    /// Records the deletion first (a `.pruned.json` beside the receipt), then deletes the segment
    /// and the manifest; a kill in between leaves a record and files the next prune removes.
    private func remove(_ candidate: Candidate, checks: [RemoteCheck], session: RemoteSession) throws(FileError) {
        let day = candidate.files[0].directory
        var record = JSONObjectWriter(multiline: true)
        record.field("kind", "pruned")
        record.field("schema", Receipt.schemaVersion)
        record.field("part", candidate.part)
        record.field("remote", session.shown(day))
        record.field("method", session.method?.rawValue)
        record.field("files", each: Array(zip(candidate.files, zip(candidate.localPaths, checks)))) { item, f in
            let (file, (path, check)) = item
            f.field("name", file.name)
            f.field("deleted", path)
            f.fields(of: file)
            f.fields(of: check)
        }
        record.field("keep_days", configuration.keepDays)
        record.field("rclone_version", session.version)
        record.field("pruned_at", Timestamp.now().iso8601)
        record.field("command", strings: configuration.command)
        try DurableFile.replace(record.finishedLine(), at: directory.receipts + "/" + day + "/" + candidate.part + DataDirectory.prunedSuffix,
                                temporaryDirectory: directory.temporary)
        for path in candidate.localPaths {
            if unlink(path) != 0 && errno != ENOENT { throw FileError("delete", path) }
        }
        try DurableFile.syncDirectory(of: candidate.localPaths[0])
        log(.info, "ship prune: deleted \(candidate.localPaths.joined(separator: " and ")): verified on the remote at \(session.shown(day))")
    }

    /// The files a prune record lists, segment first: what was deleted here, so what the remote
    /// must still hold (`ship check` reads it back).
    static func recordedFiles(_ bytes: [UInt8], directory: String) throws -> [ShippedFile] {
        let root = try JSON.objectMembers(bytes, ["kind", "files"])
        func fail(_ what: String) -> Manifest.DecodingError { Manifest.DecodingError(description: "prune record: \(what) missing or invalid") }
        guard root["kind"]?.string == "pruned" else { throw fail("kind") }
        return try (root["files"]?.array ?? []).map { f in
            guard let file = ShippedFile(recorded: f, directory: directory) else { throw fail("files") }
            return file
        }
    }

    /// The remote no longer holds the part as the receipt says: the receipt becomes `failed`
    /// (with what the listing showed), and the local files stay for the next ship.
    private func demote(_ candidate: Candidate, checks: [RemoteCheck], session: RemoteSession, started: Timestamp) {
        let message = "ship prune: the remote copy no longer matches the receipt (\(Demotion.problems(candidate.files, checks))); local files kept, the next ship sends the part again"
        log(.error, "\(message): \(candidate.part)")
        do {
            try Demotion.write(part: candidate.part, files: candidate.files, localPaths: candidate.localPaths, checks: checks, message: message,
                               session: session, startedAt: started, command: configuration.command, in: directory)
        } catch {
            log(.error, "ship prune: cannot write the receipt of \(candidate.part): \(error)")
        }
    }
}
