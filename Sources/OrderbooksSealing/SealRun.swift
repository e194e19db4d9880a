import Glibc
import OrderbooksCore

/// What `seal` does once its configuration is settled.
public struct SealConfiguration: Sendable {
    public var dataDirectory: String
    public var segmentMinutes: Int
    public var graceSeconds: Int
    /// snap's cadence: the slot length behind the coverage figures.
    public var snapInterval: Int
    public var flush: Bool
    /// Wait for a seal already running instead of leaving at once.
    public var waitForLock: Bool
    /// The command line, recorded in each manifest.
    public var command: [String]

    package init(dataDirectory: String, segmentMinutes: Int, graceSeconds: Int, snapInterval: Int, flush: Bool, waitForLock: Bool,
                 command: [String]) {
        self.dataDirectory = dataDirectory
        self.segmentMinutes = segmentMinutes
        self.graceSeconds = graceSeconds
        self.snapInterval = snapInterval
        self.flush = flush
        self.waitForLock = waitForLock
        self.command = command
    }
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
            case .write(let error): ["open", "read", "read the same rows twice from", "copy unchanged"].contains(error.operation) ? .checkFailed : .cannotWrite
            case .check: .checkFailed
            }
        }
    }

    /// A fixed mmap threshold: glibc otherwise raises it to the size of each large buffer freed,
    /// so a long line's buffers stay in the heap and add up from pass to pass (measured: 51 MiB
    /// against 35 MiB for a file with a 20 MB line). Large buffers are then given back on free.
    /// (`mallopt` is not in Swift's Glibc module, hence dlsym; M_MMAP_THRESHOLD is -3.)
    static func returnLargeBuffers() {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
        _ = mallopt(-3, 256 << 10)
    }

    /// How far ahead of seal's clock a spool file's start may be before it is called a clock
    /// running ahead: snap and seal run on the same host, so anything beyond a clock step is.
    static let plausibleLead: Int64 = 300

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
        SealRun.returnLargeBuffers()
        if let problem = directory.layoutProblem() {
            log(.error, "seal: \(problem)")
            return .cannotWrite
        }
        let lock: FileLock
        do {
            for dir in [directory.spool, directory.temporary, directory.state, directory.sealed, directory.quarantine] {
                try DurableFile.makeDirectories(dir)
            }
            guard let held = try FileLock(exclusive: directory.state + "/seal.lock", wait: config.waitForLock) else {
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
        _ = directory.removeStaleTemporaryFiles(olderThan: DataDirectory.staleTemporaryAge, now: now)

        var totals = Totals()
        var windows: [SealWindow: [(name: String, startedAt: Timestamp)]] = [:]
        var pending = 0
        var future: [String] = []
        // The status line names the newest snapshot: with snap's good runs kept out of the journal
        // (LogLevelMax=notice), this line every few minutes is what shows capture is running.
        var newest: Timestamp?
        guard let spool = DataDirectory.listing(directory.spool) else {
            log(.error, "seal: cannot list \(directory.spool): \(String(cString: strerror(errno)))")
            return .checkFailed
        }
        // Nothing that cannot be a snapshot of snap's is ever opened: it is kept and said, in
        // quarantine, and never holds up a window or a later run.
        func setAside(_ name: [UInt8], _ reason: String) {
            if quarantine(name, reason: reason, bytes: nil, sha256: nil, rowsSalvaged: 0, part: nil) {
                totals.quarantined += 1
                totals.worsen(.partial)
            } else {
                totals.worsen(.cannotWrite)
            }
        }
        // A String would repair such a name into one no open finds: it is moved by its bytes.
        for name in spool.undecodable { setAside(name, "the name is not valid UTF-8") }
        for name in spool.names {
            guard let parsed = SnapshotName(name) else {
                setAside(Array(name.utf8), "not a snapshot file name")
                continue
            }
            var info = stat()
            guard lstat(directory.spool + "/" + name, &info) == 0 else { continue }  // gone meanwhile
            guard info.st_mode & S_IFMT == S_IFREG else {
                setAside(Array(name.utf8), "not a regular file (\(DurableFile.fileType(info.st_mode)))")
                continue
            }
            guard Int64(info.st_size) <= SpoolSource.maxFileBytes else {
                setAside(Array(name.utf8), "larger than \(SpoolSource.maxFileBytes) bytes (\(info.st_size)), not read")
                continue
            }
            if newest.map({ parsed.startedAt.microseconds > $0.microseconds }) ?? true { newest = parsed.startedAt }
            let window = SealWindow(containing: parsed.startedAt, minutes: config.segmentMinutes, collector: parsed.collector)
            guard config.flush || window.end.microseconds + Int64(config.graceSeconds) * 1_000_000 <= now.microseconds else {
                pending += 1
                if parsed.startedAt.microseconds > now.microseconds + Self.plausibleLead * 1_000_000 { future.append(name) }
                continue
            }
            windows[window, default: []].append((name, parsed.startedAt))
        }
        if let latest = future.last {
            log(.warning, "seal: \(future.count) spool files are dated more than \(Self.plausibleLead) s ahead of this clock (the latest spool/\(latest)): "
                + "a collector's clock runs ahead? They wait in spool/ until their window closes by this clock; seal --flush seals them now")
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
            + "quarantined=\(totals.quarantined) cleaned=\(totals.cleaned) pending=\(pending) future=\(future.count) windows=\(windows.count) "
            + "newest_snapshot=\(newest?.iso8601 ?? "none")")
        return totals.status
    }

    /// Seals one window's spool files, after finishing whatever an interrupted run left.
    private func seal(_ window: SealWindow, files: [(name: String, startedAt: Timestamp)], now: Timestamp, totals: inout Totals) throws {
        let day = directory.sealed + "/" + window.dayDirectory
        do { try DurableFile.makeDirectories(day) } catch { throw Failure.write(error) }

        // What earlier runs sealed of this window, or of a window of another length that
        // overlaps it (after a change of --segment-minutes): their manifests say which spool
        // files are already sealed.
        guard let dayNames = DataDirectory.names(in: day) else { throw Failure.check("cannot list \(day): \(String(cString: strerror(errno)))") }
        var manifests: [String: Manifest] = [:]
        var segments: [String] = []
        var ownParts: [Int] = []
        for name in dayNames {
            guard let parsed = SealWindow.parse(partFileName: name), parsed.window.overlaps(window) else { continue }
            let base = parsed.window.partName(parsed.part)
            guard parsed.isManifest else {
                segments.append(base)
                continue
            }
            let path = day + "/" + name
            do {
                manifests[base] = try Manifest(decoding: try DurableFile.read(path) ?? [])
            } catch {
                throw Failure.check("cannot read \(path): \(error)")
            }
            if parsed.window == window { ownParts.append(parsed.part) }
        }
        // Parts shipped and then pruned are gone from sealed/ but keep their receipts: their
        // numbers are never reused, so a remote copy is never replaced by other rows.
        for name in DataDirectory.names(in: directory.receipts + "/" + window.dayDirectory) ?? [] where name.hasSuffix(DataDirectory.receiptSuffix) {
            let asManifest = String(name.dropLast(DataDirectory.receiptSuffix.count)) + SealWindow.manifestSuffix
            if let (part, _) = window.part(ofFileNamed: asManifest), !ownParts.contains(part) { ownParts.append(part) }
        }
        // A segment without its manifest: a run was killed between the two; its inputs are all
        // still in the spool, so it goes and the part is made again.
        for base in segments where manifests[base] == nil {
            let path = day + "/" + base + SealWindow.segmentSuffix
            guard unlink(path) == 0 else { throw Failure.write(FileError("remove unfinished segment", path)) }
            log(.warning, "seal: removed \(base)\(SealWindow.segmentSuffix), left without a manifest by an interrupted seal")
            do { try DurableFile.syncDirectory(day) } catch { throw Failure.write(error) }
        }

        // Spool files a manifest already names with the same SHA-256: their part is sealed, only
        // the clean-up was cut short. A file under a sealed name but with other bytes is new.
        var listings: [String: [(base: String, sha256: String)]] = [:]
        for (base, manifest) in manifests {
            for source in manifest.sources { listings[source.name, default: []].append((base, source.sha256)) }
            for damaged in manifest.quarantined { listings[damaged.name, default: []].append((base, damaged.sha256)) }
        }
        var claimed: [String: [String]] = [:]
        var fresh: [(name: String, startedAt: Timestamp)] = []
        for file in files {
            if let listed = listings[file.name] {
                // Unreadable now: not the file that was sealed, so it is sealed (and, being
                // unreadable, quarantined) as a new one rather than holding the window up.
                let sha256 = try? FileDigests.of(directory.spool + "/" + file.name, md5: false).sha256
                if let match = listed.first(where: { $0.sha256 == sha256 }) {
                    claimed[match.base, default: []].append(file.name)
                    continue
                }
                log(.warning, "seal: spool/\(file.name) differs from the file of that name sealed in \(listed.map(\.base).joined(separator: ", ")); it is sealed again as a new file")
            }
            fresh.append(file)
        }
        for (base, names) in claimed.sorted(by: { $0.key < $1.key }) {
            let manifest = manifests[base]!
            let problems = SegmentCheck.digestProblems(segmentPath: day + "/" + base + SealWindow.segmentSuffix, expected: manifest.files[0])
            guard problems.isEmpty else { throw Failure.check("\(base) fails its check (\(problems.joined(separator: "; ")))") }
            totals.cleaned += try removeInputs(names, of: manifest, partName: base, totals: &totals)
        }
        guard !fresh.isEmpty else { return }

        // A new part. A number past the last one a name may carry (a receipt named by hand) stops here.
        let part = (ownParts.max() ?? 0) + 1
        guard part <= SealWindow.maxPart else { throw Failure.check("part \(SealWindow.maxPart) is taken, no part number is left") }
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
                let source = SpoolSource(name: input.name, path: directory.spool + "/" + input.name, startedAt: input.startedAt, into: &summary)
                let offset = writer.offset
                rows += source.rows
                if let damage = source.damage {
                    let salvaged = try source.salvage(into: writer)
                    guard salvaged == source.rows else {
                        throw FileError("read the same rows twice from", input.name, code: EIO)
                    }
                    quarantined.append(Manifest.Quarantined(name: input.name, bytes: source.bytes, sha256: source.sha256, reason: damage,
                                                            rowsSalvaged: source.rows, offset: salvaged > 0 ? offset : nil))
                } else {
                    try source.copy(to: writer)
                    sources.append(Manifest.Source(name: input.name, bytes: source.bytes, sha256: source.sha256, rows: source.rows, offset: offset))
                }
            }
            // Nothing readable at all: still a valid (empty) gzip file, so the part verifies.
            if writer.offset == 0 { try writer.appendMember([], of: "an empty segment") }
            let written = try writer.publish(at: segmentPath)
            file = Manifest.DataFile(name: name + SealWindow.segmentSuffix, bytes: written.bytes, sha256: written.sha256, md5: written.md5, rows: rows)
        } catch {
            throw Failure.write(error)
        }

        let until = min(window.end, now)
        let manifest = Manifest(window: window, part: part, file: file, rowsByKind: summary.rowsByKind, sources: sources, quarantined: quarantined)
        let coverage = summary.coverage(from: window.start, until: until, interval: config.snapInterval)
        let context = Manifest.Context(summary: summary, coverage: coverage, coverageUntil: until, snapInterval: config.snapInterval,
                                       previousParts: ownParts.sorted().map { window.partName($0) + SealWindow.segmentSuffix },
                                       command: config.command, createdAt: Timestamp.now())
        let manifestPath = day + "/" + name + SealWindow.manifestSuffix
        let manifestBytes = manifest.encoded(context)
        do {
            try DurableFile.create(manifestBytes, at: manifestPath, temporaryDirectory: directory.temporary)
        } catch {
            // Without its manifest the segment is an unfinished attempt: give its space back now
            // (the next run would remove it anyway); the spool files are all still there. If the
            // manifest got its name after all (a failed directory fsync), both stay.
            if access(manifestPath, F_OK) != 0 {
                unlink(segmentPath)
                try? DurableFile.syncDirectory(day)
            }
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

        _ = try removeInputs(fresh.map(\.name), of: manifest, partName: name, totals: &totals)
        totals.parts += 1
        totals.rows += file.rows
        totals.files += fresh.count
        let percent = coverage.slotsExpected == 0 ? "n/a" : "\(coverage.slotsCovered * 1000 / coverage.slotsExpected / 10).\(coverage.slotsCovered * 1000 / coverage.slotsExpected % 10)%"
        log(quarantined.isEmpty ? .info : .warning,
            "seal: sealed \(name): \(file.rows) rows from \(fresh.count) files, \(file.bytes) bytes, sha256 \(file.sha256), "
            + "coverage \(percent) (\(coverage.slotsCovered)/\(coverage.slotsExpected) slots), \(coverage.gaps.count) gaps, \(quarantined.count) quarantined")
    }

    /// Deletes spool files the committed `manifest` holds, and moves its damaged ones to
    /// quarantine.
    private func removeInputs(_ names: [String], of manifest: Manifest, partName: String, totals: inout Totals) throws -> Int {
        let damagedFiles = Dictionary(manifest.quarantined.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var removed = 0
        for name in names {
            let path = directory.spool + "/" + name
            if let damaged = damagedFiles[name] {
                log(.warning, "seal: quarantined spool/\(name): \(damaged.reason); \(damaged.rowsSalvaged) rows salvaged into \(partName)")
                // If the move fails, the file stays in the spool, named by the manifest: the next
                // run moves it.
                if quarantine(Array(name.utf8), reason: damaged.reason, bytes: damaged.bytes, sha256: damaged.sha256, rowsSalvaged: damaged.rowsSalvaged, part: partName) {
                    totals.quarantined += 1
                    totals.worsen(.partial)
                } else {
                    totals.worsen(.cannotWrite)
                }
                continue
            }
            guard unlink(path) == 0 || errno == ENOENT else { throw Failure.write(FileError("remove", path)) }
            removed += 1
        }
        do { try DurableFile.syncDirectory(directory.spool) } catch { throw Failure.write(error) }
        return removed
    }

    /// Moves a spool file, named by its bytes, to `quarantine/` beside a `<name>.reason.json`
    /// saying why. Returns false (and logs) when it cannot.
    private func quarantine(_ name: [UInt8], reason: String, bytes: Int64?, sha256: String?, rowsSalvaged: Int, part: String?) -> Bool {
        let shown = String(decoding: name, as: UTF8.self)
        let base = DataDirectory.quarantineName(forSpoolName: name)
        var note = JSONObjectWriter(multiline: true)
        note.field("name", shown)
        if String(validating: name, as: UTF8.self) == nil { note.field("name_hex", Digest.hex(name)) }
        note.field("reason", reason)
        note.field("quarantined_at", Timestamp.now().iso8601)
        note.field("bytes", bytes)
        note.field("sha256", sha256)
        note.field("rows_salvaged", rowsSalvaged)
        note.field("salvaged_into", part.map { $0 + SealWindow.segmentSuffix })
        note.field("seal_version", OrderbooksVersion.current)
        do {
            // Never over an earlier quarantined file of the same name: `<name>.1`, `.2`, ...
            // (only seal writes here, under its lock, so the name found stays free). lstat, not
            // access: a dangling link there is a name taken too.
            func taken(_ path: String) -> Bool {
                var info = stat()
                return lstat(path, &info) == 0
            }
            var target = directory.quarantine + "/" + base
            var n = 0
            while taken(target) || taken(target + ".reason.json") {
                n += 1
                target = directory.quarantine + "/" + base + ".\(n)"
            }
            note.field("quarantined_as", String(target.dropFirst(directory.root.count + 1)))
            try DurableFile.replace(note.finished + [0x0A], at: target + ".reason.json", temporaryDirectory: directory.temporary)
            let source = Array(directory.spool.utf8) + [UInt8(ascii: "/")] + name + [0]
            let moved = source.withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { rename($0.baseAddress!, target) } }
            guard moved == 0 else { throw FileError("move to quarantine", shown) }
            try DurableFile.syncDirectory(directory.quarantine)
            try DurableFile.syncDirectory(directory.spool)
        } catch {
            log(.error, "seal: cannot quarantine spool/\(shown) (\(reason)): \(error)")
            return false
        }
        if part == nil { log(.warning, "seal: quarantined spool/\(shown): \(reason)") }
        return true
    }
}
