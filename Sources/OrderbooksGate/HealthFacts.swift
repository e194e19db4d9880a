import Glibc
import OrderbooksCore

/// What the data directory says about capture, sealing and shipping, read without writing
/// anything (no lock either: a reader never waits for a seal or a ship).
public struct HealthFacts: Sendable {
    public struct Snapshot: Sendable {
        public var name: String
        public var startedAt: Timestamp
    }

    public struct Part: Sendable {
        public var name: String
        public var windowEnd: Timestamp
        public var coverage: Double?
        public var createdAt: Timestamp?
    }

    public struct Disk: Sendable {
        public var freeBytes: Int64
        public var totalBytes: Int64
        /// New data a second over the last day (segments of windows that started in it, or the
        /// spool when nothing is sealed yet); nil with nothing to go by.
        public var growthBytesPerSecond: Double?
    }

    public var now: Timestamp
    /// The newest snapshot file of any outcome, in `spool/` or else the newest part's last source.
    public var lastSnapshot: Snapshot?
    /// The newest snapshot whose run was complete, among the newest `scanLimit` files.
    public var lastComplete: Snapshot?
    /// Snapshot files whose run row was read to find `lastComplete`.
    public var snapshotsRead = 0
    public var spoolFiles = 0
    public var oldestSpool: Snapshot?
    public var parts = 0
    public var lastPart: Part?
    /// Parts without a verified receipt (or a prune record), oldest first.
    public var unverified: [Part] = []
    /// Parts whose receipt says `refused`: a sealed file no longer matches its manifest.
    public var refused: [String] = []
    public var quarantined = 0
    public var lastQuarantinedAt: Timestamp?
    public var backoff: [(api: String, until: Timestamp, reason: String)] = []
    public var disk: Disk?
    /// Why something could not be read; each makes the answer UNKNOWN.
    public var problems: [String] = []

    /// Run rows read at most, newest first, to find the last complete snapshot: an hour of
    /// failed runs at one a second; beyond, the age is only known to exceed it.
    public static let scanLimit = 3600

    public static func gather(_ directory: DataDirectory, now: Timestamp) -> HealthFacts {
        var facts = HealthFacts(now: now)
        facts.readSpool(directory)
        facts.readSealed(directory)
        facts.readQuarantine(directory)
        facts.readBackoff(directory)
        facts.readDisk(directory)
        return facts
    }

    private mutating func readSpool(_ directory: DataDirectory) {
        guard let names = DataDirectory.names(in: directory.spool) else {
            if errno != ENOENT { problems.append("cannot list \(directory.spool): \(String(cString: strerror(errno)))") }
            return
        }
        let snapshots = names.compactMap { name in SnapshotName(name).map { Snapshot(name: name, startedAt: $0.startedAt) } }
            .sorted { $0.startedAt < $1.startedAt }
        spoolFiles = snapshots.count
        oldestSpool = snapshots.first
        lastSnapshot = snapshots.last
        for snapshot in snapshots.reversed() where lastComplete == nil && snapshotsRead < Self.scanLimit {
            snapshotsRead += 1
            var last: [UInt8] = []
            let read = GzipLines.read(directory.spool + "/" + snapshot.name, maxFileBytes: 64 << 20) { last = $0 }
            if read.readError == nil, read.gzipError == nil, Self.isComplete(runRow: last) { lastComplete = snapshot }
        }
    }

    /// Whether a file's last line is a run row with outcome complete.
    static func isComplete(runRow line: [UInt8]) -> Bool {
        guard case .success(let row) = RowFields.read(line) else { return false }
        return row.kind == "run" && row["outcome"] == "complete"
    }

    private mutating func readSealed(_ directory: DataDirectory) {
        let all: [(day: String, window: SealWindow, name: String)]
        do { all = try directory.sealedParts() } catch {
            problems.append(error.description)
            return
        }
        parts = all.count
        var growthBytes: Int64 = 0
        var growthSince: Timestamp?
        let dayAgo = now.adding(seconds: -86_400)
        for (index, part) in all.enumerated() {
            let base = directory.sealed + "/" + part.day + "/" + part.name
            if part.window.start >= dayAgo {
                var info = stat()
                if lstat(base + SealWindow.segmentSuffix, &info) == 0 {
                    growthBytes += Int64(info.st_size)
                    growthSince = min(growthSince ?? part.window.start, part.window.start)
                }
            }
            let newest = index == all.count - 1
            switch Self.receiptStatus(directory, day: part.day, part: part.name) {
            case "verified", "pruned": if !newest { continue }
            case "refused": refused.append(part.name)
            default: unverified.append(Part(name: part.name, windowEnd: part.window.end))
            }
            guard newest else { continue }
            lastPart = readManifest(base + SealWindow.manifestSuffix, name: part.name, windowEnd: part.window.end, directory: directory)
        }
        if let growthSince { disk = Disk(freeBytes: 0, totalBytes: 0, growthBytesPerSecond: Self.rate(growthBytes, since: growthSince, now: now)) }
    }

    /// The newest part's coverage; and, when `spool/` holds no snapshot (sealed a moment ago,
    /// or capture stopped an hour ago), its last sources stand for the newest snapshots.
    private mutating func readManifest(_ path: String, name: String, windowEnd: Timestamp, directory: DataDirectory) -> Part {
        var part = Part(name: name, windowEnd: windowEnd)
        let bytes: [UInt8]
        do {
            guard let read = try DurableFile.read(path) else { return part }
            bytes = read
        } catch {
            problems.append(error.description)
            return part
        }
        guard let members = try? JSON.objectMembers(bytes, ["coverage", "created_at"]) else {
            problems.append("\(path) is not a manifest")
            return part
        }
        if case .number(let text)? = members["coverage"] { part.coverage = Double(text) }
        part.createdAt = members["created_at"]?.string.flatMap(Timestamp.parse)
        guard lastComplete == nil || lastSnapshot == nil, let manifest = try? Manifest(decoding: bytes) else { return part }
        let segment = (path.dropLast(SealWindow.manifestSuffix.count)) + SealWindow.segmentSuffix
        for source in manifest.sources.reversed() where lastComplete == nil && snapshotsRead < Self.scanLimit {
            guard let started = SnapshotName(source.name)?.startedAt else { continue }
            let snapshot = Snapshot(name: source.name, startedAt: started)
            if lastSnapshot == nil { lastSnapshot = snapshot }
            snapshotsRead += 1
            if let text = Self.member(of: String(segment), offset: source.offset, bytes: source.bytes),
               let last = text.split(separator: 0x0A).last, Self.isComplete(runRow: Array(last)) {
                lastComplete = snapshot
            }
        }
        return part
    }

    /// One snapshot's gzip member cut out of a segment and inflated (a source is one run: small).
    static func member(of segment: String, offset: Int64, bytes: Int64) -> [UInt8]? {
        guard bytes > 0, bytes <= 64 << 20, let (fd, size) = try? DurableFile.openRegularFile(segment) else { return nil }
        defer { close(fd) }
        guard offset >= 0, offset + bytes <= size else { return nil }
        var buffer = [UInt8](repeating: 0, count: Int(bytes))
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
        guard n == bytes else { return nil }
        return try? Gzip.decompress(buffer)
    }

    /// A part's receipt status (`verified`, `failed`, `refused`), `pruned` when only its prune
    /// record is left, nil when it was never shipped.
    static func receiptStatus(_ directory: DataDirectory, day: String, part: String) -> String? {
        let base = directory.receipts + "/" + day + "/" + part
        if let bytes = try? DurableFile.read(base + DataDirectory.receiptSuffix),
           let status = (try? JSON.objectMembers(bytes, ["status"]))?["status"]?.string {
            return status
        }
        var info = stat()
        return lstat(base + ".pruned.json", &info) == 0 ? "pruned" : nil
    }

    private mutating func readQuarantine(_ directory: DataDirectory) {
        guard let listing = DataDirectory.listing(directory.quarantine) else {
            if errno != ENOENT { problems.append("cannot list \(directory.quarantine): \(String(cString: strerror(errno)))") }
            return
        }
        for name in listing.names where !name.hasSuffix(".reason.json") {
            quarantined += 1
            var info = stat()
            guard lstat(directory.quarantine + "/" + name, &info) == 0 else { continue }
            // ctime: the move into quarantine (a rename keeps the file's mtime).
            let at = Timestamp(seconds: Int64(info.st_ctim.tv_sec))
            lastQuarantinedAt = max(lastQuarantinedAt ?? at, at)
        }
        quarantined += listing.undecodable.count
    }

    private mutating func readBackoff(_ directory: DataDirectory) {
        let bytes = (try? DurableFile.read(directory.backoffFile, maxBytes: DurableFile.stateFileLimit)) ?? nil
        let state = BackoffState.decode(bytes ?? [])
        for api in API.allCases {
            if let pause = state.pause(for: api, at: now) { backoff.append((api.rawValue, pause.until, pause.reason)) }
        }
    }

    private mutating func readDisk(_ directory: DataDirectory) {
        var info = statvfs()
        guard statvfs(directory.root, &info) == 0 else {
            problems.append("cannot statvfs \(directory.root): \(String(cString: strerror(errno)))")
            disk = nil
            return
        }
        var growth = disk?.growthBytesPerSecond
        if growth == nil, let oldest = oldestSpool {
            var bytes: Int64 = 0
            for name in DataDirectory.names(in: directory.spool) ?? [] where SnapshotName(name) != nil {
                var file = stat()
                if lstat(directory.spool + "/" + name, &file) == 0 { bytes += Int64(file.st_size) }
            }
            growth = Self.rate(bytes, since: oldest.startedAt, now: now)
        }
        disk = Disk(freeBytes: Int64(info.f_bavail) * Int64(info.f_frsize), totalBytes: Int64(info.f_blocks) * Int64(info.f_frsize),
                    growthBytesPerSecond: growth)
    }

    /// Bytes a second, over at least an hour (a few minutes of data say little about a day).
    static func rate(_ bytes: Int64, since start: Timestamp, now: Timestamp) -> Double {
        Double(bytes) / Double(max(now.seconds - start.seconds, 3600))
    }
}
