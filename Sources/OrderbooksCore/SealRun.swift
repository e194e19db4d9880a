import Glibc

/// What `seal` does once its configuration is settled.
public struct SealConfiguration: Sendable {
    public var dataDirectory: String
    public var segmentMinutes: Int
    public var graceSeconds: Int
    /// snap's cadence: the slot length behind the coverage figures.
    public var snapInterval: Int
    public var flush: Bool
    /// The command line, recorded in each manifest.
    public var command: [String]
}

/// One sealing pass: every closed window's spool files become one more part (segment plus
/// manifest) under `sealed/`, and leave the spool only once that part is durable and re-read.
///
/// Each step is safe to kill and to re-run: a segment is published before its manifest, and a
/// segment without a manifest is an unfinished attempt (its inputs are all still in the spool),
/// removed by the next run; a manifest is the commit point, and spool files a manifest names are
/// deleted (or quarantined) by whichever run gets there, after checking the part.
public struct SealRun {
    let config: SealConfiguration
    let log: Log
    let directory: DataDirectory

    public init(configuration: SealConfiguration, log: Log) {
        config = configuration
        self.log = log
        directory = DataDirectory(root: configuration.dataDirectory)
    }

    private enum Failure: Error {
        /// Nothing of the window was committed, or its spool files are kept: retried next run.
        case write(FileError)
        case check(String)

        var status: ExitStatus {
            switch self {
            case .write(let error): error.operation.hasPrefix("read") || error.operation.hasPrefix("open") ? .checkFailed : .cannotWrite
            case .check: .checkFailed
            }
        }
    }

    private struct Totals {
        var parts = 0, rows = 0, files = 0, quarantined = 0, cleaned = 0
        var status = ExitStatus.complete

        mutating func worsen(_ s: ExitStatus) {
            let rank: [ExitStatus: Int] = [.complete: 0, .partial: 1, .cannotWrite: 2, .checkFailed: 3]
            if rank[s, default: 3] > rank[status, default: 3] { status = s }
        }
    }

    public func run() -> ExitStatus {
        signal(SIGPIPE, SIG_IGN)
        let lock: FileLock
        do {
            for dir in [directory.spool, directory.temporary, directory.state, directory.sealed, directory.quarantine] {
                try DurableFile.makeDirectories(dir)
            }
            guard let held = try FileLock(exclusive: directory.state + "/seal.lock") else {
                log(.info, "seal: another seal is running on \(directory.root); nothing done")
                return .complete
            }
            lock = held
        } catch {
            log(.error, "seal: \(error)")
            return .cannotWrite
        }
        return withExtendedLifetime(lock) { sealClosedWindows(now: Timestamp.now()) }
    }

    private func sealClosedWindows(now: Timestamp) -> ExitStatus {
        _ = directory.removeStaleTemporaryFiles(olderThan: SnapRun.staleTemporaryAge, now: now)

        var totals = Totals()
        var windows: [SealWindow: [(name: String, startedAt: Timestamp)]] = [:]
        var pending = 0
        for name in DataDirectory.names(in: directory.spool) ?? [] {
            guard let parsed = SnapshotName(name) else {
                // Not snap's: it cannot be placed in a window, but it is kept and said.
                if quarantine(name, reason: "not a snapshot file name", bytes: nil, sha256: nil, rowsSalvaged: 0, part: nil) {
                    totals.quarantined += 1
                    totals.worsen(.partial)
                } else {
                    totals.worsen(.cannotWrite)
                }
                continue
            }
            let window = SealWindow(containing: parsed.startedAt, minutes: config.segmentMinutes, collector: parsed.collector)
            guard config.flush || window.end.microseconds + Int64(config.graceSeconds) * 1_000_000 <= now.microseconds else {
                pending += 1
                continue
            }
            windows[window, default: []].append((name, parsed.startedAt))
        }

        for window in windows.keys.sorted() {
            do {
                try seal(window, files: windows[window]!, now: now, totals: &totals)
            } catch let failure as Failure {
                totals.worsen(failure.status)
                switch failure {
                case .write(let error):
                    log(.error, "seal: \(window.baseName): \(error); its spool files are kept and retried next run")
                case .check(let message):
                    log(.error, "seal: \(window.baseName): \(message); its spool files are kept")
                }
                // A full disk fails every window alike: stop rather than churn through them.
                if case .write(let error) = failure, error.isDiskFull { break }
            } catch {
                totals.worsen(.checkFailed)
                log(.error, "seal: \(window.baseName): \(error)")
            }
        }
        let level: Log.Level = totals.status == .complete ? .info : totals.status == .partial ? .warning : .error
        log(level, "seal: status=\(totals.status.rawValue) parts=\(totals.parts) rows=\(totals.rows) files=\(totals.files) "
            + "quarantined=\(totals.quarantined) cleaned=\(totals.cleaned) pending=\(pending) windows=\(windows.count)")
        return totals.status
    }

    /// Seals one window's spool files, after finishing whatever an interrupted run left.
    private func seal(_ window: SealWindow, files: [(name: String, startedAt: Timestamp)], now: Timestamp, totals: inout Totals) throws {
        let day = directory.sealed + "/" + window.dayDirectory
        do { try DurableFile.makeDirectories(day) } catch { throw Failure.write(error) }

        // What earlier runs sealed of this window.
        var manifests: [Int: Manifest] = [:]
        var segments: Set<Int> = []
        for name in DataDirectory.names(in: day) ?? [] {
            guard let (part, isManifest) = window.part(ofFileNamed: name) else { continue }
            guard isManifest else {
                segments.insert(part)
                continue
            }
            let path = day + "/" + name
            do {
                manifests[part] = try Manifest(decoding: try DurableFile.read(path) ?? [])
            } catch {
                throw Failure.check("cannot read \(path): \(error)")
            }
        }
        // A segment without its manifest: a run was killed between the two; its inputs are all
        // still in the spool, so it goes and the part is made again.
        for part in segments where manifests[part] == nil {
            let path = day + "/" + window.partName(part) + SealWindow.segmentSuffix
            guard unlink(path) == 0 else { throw Failure.write(FileError("remove unfinished segment", path)) }
            log(.warning, "seal: removed \(window.partName(part))\(SealWindow.segmentSuffix), left without a manifest by an interrupted seal")
            do { try DurableFile.syncDirectory(day) } catch { throw Failure.write(error) }
        }

        // Spool files an existing manifest already names: their part is sealed, only the
        // clean-up was cut short.
        var sealedIn: [String: Int] = [:]
        for (part, manifest) in manifests {
            for name in manifest.sources.map(\.name) + manifest.quarantined.map(\.name) { sealedIn[name] = part }
        }
        var claimed: [Int: [String]] = [:]
        var fresh: [(name: String, startedAt: Timestamp)] = []
        for file in files {
            if let part = sealedIn[file.name] {
                claimed[part, default: []].append(file.name)
            } else {
                fresh.append(file)
            }
        }
        for (part, names) in claimed.sorted(by: { $0.key < $1.key }) {
            let manifest = manifests[part]!
            let name = window.partName(part)
            let problems = SegmentCheck.digestProblems(segmentPath: day + "/" + name + SealWindow.segmentSuffix, expected: manifest.files[0])
            guard problems.isEmpty else { throw Failure.check("\(name) fails its check (\(problems.joined(separator: "; ")))") }
            totals.cleaned += try removeInputs(names, of: manifest, partName: name, checkContent: true, totals: &totals)
        }
        guard !fresh.isEmpty else { return }

        // A new part.
        let part = (manifests.keys.max() ?? 0) + 1
        let name = window.partName(part)
        let segmentPath = day + "/" + name + SealWindow.segmentSuffix
        var summary = SegmentSummary()
        var sources: [Manifest.Source] = []
        var quarantined: [Manifest.Quarantined] = []
        let file: Manifest.DataFile
        do throws(FileError) {
            let writer = try SegmentWriter(for: segmentPath, temporaryDirectory: directory.temporary)
            var rows = 0
            for input in fresh {
                let source = try SpoolSource(name: input.name, path: directory.spool + "/" + input.name, startedAt: input.startedAt, into: &summary)
                let offset = writer.offset
                rows += source.rows
                if let damage = source.damage {
                    let salvaged = try source.salvagedRows()
                    if !salvaged.isEmpty {
                        let member: [UInt8]
                        do { member = try Gzip.compress(salvaged) } catch { throw FileError("compress salvaged rows of", input.name, code: EIO) }
                        if let failure = member.withUnsafeBytes({ writer.append($0) }) { throw failure }
                    }
                    quarantined.append(Manifest.Quarantined(name: input.name, bytes: source.bytes, sha256: source.sha256, reason: damage,
                                                            rowsSalvaged: source.rows, offset: salvaged.isEmpty ? nil : offset))
                } else {
                    try source.copy(to: writer)
                    sources.append(Manifest.Source(name: input.name, bytes: source.bytes, sha256: source.sha256, rows: source.rows, offset: offset))
                }
            }
            let written = try writer.publish(at: segmentPath)
            file = Manifest.DataFile(name: name + SealWindow.segmentSuffix, bytes: written.bytes, sha256: written.sha256, md5: written.md5, rows: rows)
        } catch {
            throw Failure.write(error)
        }

        let until = min(window.end, now)
        let manifest = Manifest(window: window, part: part, file: file, rowsByKind: summary.rowsByKind, sources: sources, quarantined: quarantined)
        let coverage = summary.coverage(from: window.start, until: until, interval: config.snapInterval)
        let context = Manifest.Context(summary: summary, coverage: coverage, coverageUntil: until, snapInterval: config.snapInterval,
                                       previousParts: manifests.keys.sorted().map { window.partName($0) + SealWindow.segmentSuffix },
                                       command: config.command, createdAt: Timestamp.now())
        let manifestPath = day + "/" + name + SealWindow.manifestSuffix
        let manifestBytes = manifest.encoded(context)
        do {
            try DurableFile.create(manifestBytes, at: manifestPath, temporaryDirectory: directory.temporary)
        } catch {
            // Without its manifest the segment is an unfinished attempt: give its space back now
            // (the next run would remove it anyway); the spool files are all still there.
            unlink(segmentPath)
            try? DurableFile.syncDirectory(day)
            throw Failure.write(error)
        }

        // Read both back before any input goes.
        var offset = 0
        var same = true
        do {
            try DurableFile.forEachChunk(manifestPath, size: GzipLines.chunkSize) { chunk in
                same = same && offset + chunk.count <= manifestBytes.count && manifestBytes[offset..<(offset + chunk.count)].elementsEqual(chunk)
                offset += chunk.count
                return nil
            }
        } catch {
            throw Failure.check("\(manifestPath) does not read back: \(error)")
        }
        guard same, offset == manifestBytes.count else { throw Failure.check("\(manifestPath) does not read back as written") }
        let problems = SegmentCheck.digestProblems(segmentPath: segmentPath, expected: file)
        guard problems.isEmpty else { throw Failure.check("\(name) fails its check right after sealing (\(problems.joined(separator: "; ")))") }

        // The spool files' bytes were checked against their scan while being copied.
        _ = try removeInputs(fresh.map(\.name), of: manifest, partName: name, checkContent: false, totals: &totals)
        totals.parts += 1
        totals.rows += file.rows
        totals.files += fresh.count
        let percent = coverage.slotsExpected == 0 ? "n/a" : "\(coverage.slotsCovered * 1000 / coverage.slotsExpected / 10).\(coverage.slotsCovered * 1000 / coverage.slotsExpected % 10)%"
        log(quarantined.isEmpty ? .info : .warning,
            "seal: sealed \(name): \(file.rows) rows from \(fresh.count) files, \(file.bytes) bytes, sha256 \(file.sha256), "
            + "coverage \(percent) (\(coverage.slotsCovered)/\(coverage.slotsExpected) slots), \(coverage.gaps.count) gaps, \(quarantined.count) quarantined")
    }

    /// Deletes spool files the committed `manifest` holds, and moves its damaged ones to
    /// quarantine. With `checkContent` (finishing an interrupted run), a file that is not the one
    /// sealed (another checksum) is quarantined instead.
    private func removeInputs(_ names: [String], of manifest: Manifest, partName: String, checkContent: Bool, totals: inout Totals) throws -> Int {
        let sources = Dictionary(manifest.sources.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let damagedFiles = Dictionary(manifest.quarantined.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var removed = 0
        for name in names {
            let path = directory.spool + "/" + name
            if let damaged = damagedFiles[name] {
                log(.warning, "seal: quarantined spool/\(name): \(damaged.reason); \(damaged.rowsSalvaged) rows salvaged into \(partName)")
                // If the move fails, the file stays in the spool, named by the manifest: the next
                // run moves it.
                if quarantine(name, reason: damaged.reason, bytes: damaged.bytes, sha256: damaged.sha256, rowsSalvaged: damaged.rowsSalvaged, part: partName) {
                    totals.quarantined += 1
                    totals.worsen(.partial)
                } else {
                    totals.worsen(.cannotWrite)
                }
                continue
            }
            guard let source = sources[name] else { continue }
            if checkContent {
                let sha256: String
                do { sha256 = try FileDigests.of(path, md5: false).sha256 } catch { throw Failure.write(error) }
                guard sha256 == source.sha256 else {
                    _ = quarantine(name, reason: "differs from the copy sealed in \(partName) (sha256 \(sha256), sealed \(source.sha256))",
                                   bytes: nil, sha256: sha256, rowsSalvaged: 0, part: nil)
                    totals.worsen(.partial)
                    continue
                }
            }
            guard unlink(path) == 0 || errno == ENOENT else { throw Failure.write(FileError("remove", path)) }
            removed += 1
        }
        do { try DurableFile.syncDirectory(directory.spool) } catch { throw Failure.write(error) }
        return removed
    }

    /// Moves a spool file to `quarantine/` beside a `<name>.reason.json` saying why. Returns
    /// false (and logs) when it cannot.
    private func quarantine(_ name: String, reason: String, bytes: Int64?, sha256: String?, rowsSalvaged: Int, part: String?) -> Bool {
        var note = JSONObjectWriter(multiline: true)
        note.field("name", name)
        note.field("reason", reason)
        note.field("quarantined_at", Timestamp.now().iso8601)
        note.field("bytes", bytes)
        note.field("sha256", sha256)
        note.field("rows_salvaged", rowsSalvaged)
        note.field("salvaged_into", part.map { $0 + SealWindow.segmentSuffix })
        note.field("seal_version", OrderbooksVersion.current)
        let target = directory.quarantine + "/" + name
        do {
            try DurableFile.replace(note.finished + [0x0A], at: target + ".reason.json", temporaryDirectory: directory.temporary)
            guard rename(directory.spool + "/" + name, target) == 0 else { throw FileError("move to quarantine", name) }
            try DurableFile.syncDirectory(directory.quarantine)
            try DurableFile.syncDirectory(directory.spool)
        } catch {
            log(.error, "seal: cannot quarantine spool/\(name) (\(reason)): \(error)")
            return false
        }
        if part == nil { log(.warning, "seal: quarantined spool/\(name): \(reason)") }
        return true
    }
}
