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
    /// The newest snapshot whose run was complete, among those started within `scanSeconds`.
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

    /// How far back run rows are read, newest first, to find the last complete snapshot; beyond,
    /// its age is only known to exceed this (an outage of an hour would otherwise cost 3,600
    /// reads a minute, about 0.2 s each time).
    public var scanSeconds: Int64 = 900

    public static func gather(_ directory: DataDirectory, now: Timestamp, scanSeconds: Int64 = 900) -> HealthFacts {
        var facts = HealthFacts(now: now, scanSeconds: scanSeconds)
        facts.readSpool(directory)
        facts.readSealed(directory)
        facts.readQuarantine(directory)
        facts.readBackoff(directory)
        facts.readDisk(directory)
        return facts
    }

    private mutating func readSpool(_ directory: DataDirectory) {
        guard let names = DataDirectory.listing(directory.spool, sorted: false)?.names else {
            if errno != ENOENT { problems.append("cannot list \(directory.spool): \(String(cString: strerror(errno)))") }
            return
        }
        // Names sort in time order by their bytes. A spool holds up to an hour (3,600): a cheap
        // look at each name's shape, the oldest and newest found in one pass, and a sort only
        // when the newest was not complete and older ones must be read.
        spoolNames = names.filter(Self.looksLikeSnapshot)
        spoolFiles = spoolNames.count
        guard let newest = spoolNames.max(by: String.bytewiseLess), let oldest = spoolNames.min(by: String.bytewiseLess) else { return }
        oldestSpool = Self.snapshot(oldest)
        lastSnapshot = Self.snapshot(newest)
        var scan = [newest]
        if !readRunRow(directory, newest) { scan = Array(spoolNames.sorted(by: String.bytewiseLess).reversed().dropFirst()) }
        let horizon = now.adding(seconds: -scanSeconds)
        for name in scan where lastComplete == nil {
            guard let started = SnapshotName(name)?.startedAt, started >= horizon else { break }
            _ = readRunRow(directory, name)
        }
    }

    /// Reads a spool file's run row; true when it was complete (then it is `lastComplete`).
    private mutating func readRunRow(_ directory: DataDirectory, _ name: String) -> Bool {
        guard let snapshot = Self.snapshot(name) else { return false }
        snapshotsRead += 1
        guard let text = try? DurableFile.read(directory.spool + "/" + name).flatMap({ try? Gzip.decompress($0) }),
              Self.isComplete(runRow: Self.lastLine(text)) else { return false }
        lastComplete = snapshot
        return true
    }

    /// The spool's snapshot names, in the listing's order (not sorted).
    var spoolNames: [String] = []

    /// `<YYYYMMDDTHHMMSS.mmmZ>_<collector>_<16 hex>.jsonl.gz`, by its fixed bytes.
    static func looksLikeSnapshot(_ name: String) -> Bool {
        let b = name.utf8
        guard b.count >= 20 + 1 + 1 + 1 + 16 + DataDirectory.snapshotSuffix.utf8.count else { return false }
        let start = b.startIndex
        return b[b.index(start, offsetBy: 8)] == UInt8(ascii: "T") && b[b.index(start, offsetBy: 19)] == UInt8(ascii: "Z")
            && b[b.index(start, offsetBy: 20)] == UInt8(ascii: "_") && b.suffix(DataDirectory.snapshotSuffix.utf8.count).elementsEqual(DataDirectory.snapshotSuffix.utf8)
    }

    /// Whether a file's last line is a run row with outcome complete.
    static func isComplete(runRow line: [UInt8]) -> Bool {
        guard case .success(let row) = RowFields.read(line) else { return false }
        return row.kind == "run" && row["outcome"] == "complete"
    }

    static func snapshot(_ name: String) -> Snapshot? { SnapshotName(name).map { Snapshot(name: name, startedAt: $0.startedAt) } }

    /// The last line of a file's text (its run row), without its newline.
    static func lastLine(_ text: [UInt8]) -> [UInt8] {
        var end = text.endIndex
        while end > text.startIndex && text[end - 1] == 0x0A { end -= 1 }
        let start = text[..<end].lastIndex(of: 0x0A).map { $0 + 1 } ?? text.startIndex
        return Array(text[start..<end])
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
    /// or capture stopped an hour ago), its last sources stand for the newest snapshots. The
    /// manifest is scanned once; only the members used are built, and of its sources (3,600 an
    /// hour) only those read.
    private mutating func readManifest(_ path: String, name: String, windowEnd: Timestamp, directory: DataDirectory) -> Part {
        var part = Part(name: name, windowEnd: windowEnd)
        // The coverage is near the top of a manifest (0.7 MB for an hour): its first 64 KiB
        // hold it; the whole file is read only for its sources, when they are needed (or when
        // the top was longer). When it was sealed: the manifest's mtime.
        let needSources = lastComplete == nil || lastSnapshot == nil
        let keys: Set<String> = needSources ? ["coverage", "sources"] : ["coverage"]
        var bytes: [UInt8] = []
        var ranges: [String: Range<Int>]?
        do {
            if !needSources, let head = try DurableFile.readPrefix(path, bytes: 64 << 10) {
                bytes = head
                ranges = try? JSON.leadingMemberRanges(bytes, keys)
            }
            if ranges == nil {
                guard let whole = try DurableFile.read(path) else { return part }
                bytes = whole
                ranges = try? JSON.leadingMemberRanges(bytes, keys)
            }
        } catch {
            problems.append(error.description)
            return part
        }
        guard let ranges else {
            problems.append("\(path) is not a manifest")
            return part
        }
        if let range = ranges["coverage"], case .number(let text)? = try? JSON.parse(bytes, range) { part.coverage = Double(text) }
        var info = stat()
        if lstat(path, &info) == 0 { part.createdAt = Timestamp(microseconds: Int64(info.st_mtim.tv_sec) * 1_000_000 + Int64(info.st_mtim.tv_nsec) / 1000) }
        guard needSources, let sourcesRange = ranges["sources"] else { return part }
        var sources: [Range<Int>] = []
        try? JSON.forEachElement(bytes, sourcesRange) { sources.append($0); return true }
        let segment = String(path.dropLast(SealWindow.manifestSuffix.count)) + SealWindow.segmentSuffix
        let horizon = now.adding(seconds: -scanSeconds)
        for range in sources.reversed() where lastComplete == nil {
            guard let source = try? JSON.parse(bytes, range), let sourceName = source["name"]?.string,
                  case .number(let offsetText)? = source["offset"], let offset = Int64(offsetText),
                  case .number(let sizeText)? = source["bytes"], let size = Int64(sizeText),
                  let snapshot = Self.snapshot(sourceName) else { continue }
            if lastSnapshot == nil { lastSnapshot = snapshot }
            guard snapshot.startedAt >= horizon else { break }
            snapshotsRead += 1
            if let text = Self.member(of: segment, offset: offset, bytes: size), Self.isComplete(runRow: Self.lastLine(text)) {
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
        // Read as far as `status` (the fourth member, in the first 200 bytes; the whole file only
        // when not there): health is a liveness view, `ship check` and `seal verify` read receipts
        // and parts whole.
        let path = base + DataDirectory.receiptSuffix
        for read in [{ try DurableFile.readPrefix(path, bytes: 1024) }, { try DurableFile.read(path) }] {
            guard let bytes = (try? read()) ?? nil else { break }
            if let range = (try? JSON.leadingMemberRanges(bytes, ["status"]))?["status"], let status = (try? JSON.parse(bytes, range))?.string {
                return status
            }
        }
        var info = stat()
        return lstat(base + DataDirectory.prunedSuffix, &info) == 0 ? "pruned" : nil
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
            // Day one: nothing sealed yet, the spool is the data. Its size from a sample of
            // 60 files (snapshots are alike in size): a stat of 3,600 would cost more than the rest.
            var (bytes, sampled): (Int64, Int64) = (0, 0)
            let fd = open(directory.spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if fd >= 0 {
                for name in stride(from: 0, to: spoolNames.count, by: max(1, spoolNames.count / 60)).map({ spoolNames[$0] }) {
                    var file = stat()
                    if fstatat(fd, name, &file, AT_SYMLINK_NOFOLLOW) == 0 { (bytes, sampled) = (bytes + Int64(file.st_size), sampled + 1) }
                }
                close(fd)
            }
            if sampled > 0 { growth = Self.rate(bytes * Int64(spoolNames.count) / sampled, since: oldest.startedAt, now: now) }
        }
        disk = Disk(freeBytes: Int64(info.f_bavail) * Int64(info.f_frsize), totalBytes: Int64(info.f_blocks) * Int64(info.f_frsize),
                    growthBytesPerSecond: growth)
    }

    /// Bytes a second, over at least an hour (a few minutes of data say little about a day).
    static func rate(_ bytes: Int64, since start: Timestamp, now: Timestamp) -> Double {
        Double(bytes) / Double(max(now.seconds - start.seconds, 3600))
    }
}
