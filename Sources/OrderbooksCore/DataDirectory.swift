import Glibc

/// The layout under the data directory (docs/FORMAT.md):
/// `spool/` complete snapshot files, `sealed/` segments and manifests, `receipts/` what ship
/// proved is on the remote, `quarantine/` damaged inputs, `tmp/` in-flight files, `cache/` the discovery cache, `state/` throttling state and
/// locks. Everything in `tmp/`, `cache/` and `state/` may be deleted.
public struct DataDirectory: Sendable {
    public var root: String

    public init(root: String) { self.root = root }

    public var spool: String { root + "/spool" }
    public var temporary: String { root + "/tmp" }
    public var cache: String { root + "/cache" }
    public var state: String { root + "/state" }
    public var sealed: String { root + "/sealed" }
    public var quarantine: String { root + "/quarantine" }
    public var receipts: String { root + "/receipts" }
    /// A receipt is `receipts/YYYY/MM/DD/<part>` plus this: ship writes them, seal and the gate read them.
    public static let receiptSuffix = ".receipt.json"
    /// `ship prune`'s record of a part it deleted locally, beside its receipt.
    public static let prunedSuffix = ".pruned.json"
    /// In-flight files older than this are from killed runs (a run's timeouts end it well before).
    public static let staleTemporaryAge: Int64 = 900

    public var discoveryCacheFile: String { cache + "/discovery.json" }
    public var backoffFile: String { state + "/backoff.json" }
    public var shipLockFile: String { state + "/ship.lock" }
    public var rcloneRecordFile: String { state + "/ship.rclone" }
    /// A disruption `gate run` is causing on purpose (see `Disruption`).
    public var disruptionFile: String { state + "/disruption.json" }
    /// `gate run`'s reports, one directory each; not one of `folders` (no tool but the gate uses it).
    public var reports: String { root + "/reports" }

    public static let snapshotSuffix = ".jsonl.gz"

    /// The standard folders: each must be a real directory, never a symbolic link. Every tool
    /// refuses a link there alike, rather than some following it and others not (ship lists
    /// `sealed/` without following links, and seal's files are linked and renamed from `tmp/`,
    /// which fails across disks): to keep the data elsewhere, link the data directory itself.
    public var folders: [String] { [spool, sealed, receipts, quarantine, state, temporary, cache] }

    /// Why a tool may not use this data directory: one of `folders` (the standard ones unless
    /// said) that exists but is not a real directory. nil when each is one or is absent (made
    /// when needed).
    public func layoutProblem(of folders: [String]? = nil) -> String? {
        for folder in folders ?? self.folders {
            var info = stat()
            guard lstat(folder, &info) == 0, info.st_mode & S_IFMT != S_IFDIR else { continue }
            return "\(folder) is \(DurableFile.fileType(info.st_mode)), not a directory: the data directory's folders must be real "
                + "directories (to keep the data on another disk, make the data directory itself the link); nothing done"
        }
        return nil
    }

    /// Creates the directories that are missing.
    public func prepare() throws(FileError) {
        for directory in [spool, temporary, cache, state] { try DurableFile.makeDirectories(directory) }
    }

    /// `spool/20261121T193605.123Z_<collector>_<run id>.jsonl.gz`: names sort in time order,
    /// and the collector id keeps two collectors' files apart.
    public func snapshotPath(startedAt: Timestamp, collector: String, runId: String) -> String {
        "\(spool)/\(startedAt.compact)_\(collector)_\(runId)\(Self.snapshotSuffix)"
    }

    /// A directory's entries (no `.`, `..` or hidden names), sorted unless told not to: the names that are valid
    /// UTF-8, and apart, as raw bytes, those that are not (a `String` would repair them into
    /// U+FFFD, a name no open finds). nil if it cannot be read. A symbolic link is not followed:
    /// the walk never leaves the tree.
    public static func listing(_ directory: String, sorted: Bool = true) -> (names: [String], undecodable: [[UInt8]])? {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        guard let dir = fdopendir(fd) else {
            let code = errno
            close(fd)
            errno = code
            return nil
        }
        defer { closedir(dir) }
        var names: [String] = []
        var undecodable: [[UInt8]] = []
        while let entry = readdir(dir) {
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix(while: { $0 != 0 })) }
            guard bytes.first != UInt8(ascii: ".") else { continue }
            if let name = String(validating: bytes, as: UTF8.self) { names.append(name) } else { undecodable.append(bytes) }
        }
        // By their bytes: the same order as String's for the tools' ASCII names (time order for
        // snapshots), without Unicode's comparison on every pair.
        guard sorted else { return (names, undecodable) }
        return (names.sorted(by: String.bytewiseLess), undecodable.sorted { $0.lexicographicallyPrecedes($1) })
    }

    /// The names in a directory that are valid UTF-8 (see `listing`), sorted; nil if it cannot be read.
    public static func names(in directory: String) -> [String]? { listing(directory)?.names }

    /// The name a spool file gets in `quarantine/` (before any `.1`, `.2` for a name taken): its
    /// own, unless it is not valid UTF-8 or so long that `.reason.json` would not fit in a name;
    /// then its readable start and a digest of its bytes, which the reason file lists exactly.
    public static func quarantineName(forSpoolName name: [UInt8]) -> String {
        if let text = String(validating: name, as: UTF8.self), name.count <= 200 { return text }
        var start = Substring(String(decoding: name, as: UTF8.self).map { $0 == "\u{FFFD}" ? "?" : $0 })
        while start.utf8.count > 160 { start = start.dropLast() }
        return start + "." + Digest.sha256Hex(name).prefix(16)
    }

    /// The `YYYY/MM/DD` directories under `sealed/`, in date order. A directory that is there
    /// but cannot be listed (no permission, an I/O error; `root` a link) throws: what it holds
    /// must never pass for nothing. `root` absent holds none; an entry that is a link is not followed.
    package static func dayDirectories(under root: String) throws(FileError) -> [String] {
        func numbered(_ path: String, _ digits: Int, top: Bool = false) throws(FileError) -> [String] {
            try listed(path, top: top).filter { $0.count == digits && $0.allSatisfy(\.isASCII) && Int($0) != nil }
        }
        var days: [String] = []
        for year in try numbered(root, 4, top: true) {
            for month in try numbered(root + "/" + year, 2) {
                days += try numbered(root + "/" + year + "/" + month, 2).map { year + "/" + month + "/" + $0 }
            }
        }
        return days
    }

    /// A directory's names; none when it is absent, or below the top a link (ELOOP) or no
    /// directory (ENOTDIR): listings never descend into a link.
    private static func listed(_ path: String, top: Bool = false) throws(FileError) -> [String] {
        if let names = names(in: path) { return names }
        guard errno == ENOENT || (!top && (errno == ELOOP || errno == ENOTDIR)) else { throw FileError("list", path) }
        return []
    }

    /// Every sealed part, found by its manifest (a segment alone is a seal cut short; a part
    /// pruned halfway keeps its manifest), as its day directory, window and name, in date order.
    /// Throws when a directory of `sealed/` is there but cannot be listed.
    public func sealedParts() throws(FileError) -> [(day: String, window: SealWindow, name: String)] {
        var parts: [(day: String, window: SealWindow, name: String)] = []
        for day in try Self.dayDirectories(under: sealed) {
            for name in try Self.listed(sealed + "/" + day) {
                if let parsed = SealWindow.parse(partFileName: name), parsed.isManifest { parts.append((day, parsed.window, parsed.window.partName(parsed.part))) }
            }
        }
        return parts
    }

    /// Every entry of the `YYYY/MM/DD` directories of `receipts/` (receipts, prune records), as its
    /// day directory and name, in date order. Throws when a directory is there but cannot be
    /// listed: what it holds must never pass for nothing.
    public func receiptFiles() throws(FileError) -> [(day: String, name: String)] {
        var files: [(day: String, name: String)] = []
        for day in try Self.dayDirectories(under: receipts) {
            files += try Self.listed(receipts + "/" + day).map { (day, $0) }
        }
        return files
    }

    /// Removes in-flight files left by killed runs. Only files older than `age` seconds go, so a
    /// run still writing is never disturbed. Returns how many were removed.
    public func removeStaleTemporaryFiles(olderThan age: Int64, now: Timestamp) -> Int {
        var removed = 0
        for name in Self.names(in: temporary) ?? [] where name.hasSuffix(DurableFile.temporarySuffix) {
            let path = temporary + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0, Int64(info.st_mtim.tv_sec) < now.seconds - age else { continue }
            if unlink(path) == 0 { removed += 1 }
        }
        return removed
    }
}

/// What a snapshot file's name says: `<started>_<collector>_<run id>.jsonl.gz`.
public struct SnapshotName: Sendable {
    public var startedAt: Timestamp
    public var collector: String
    public var runId: String

    public init?(_ name: String) {
        guard name.hasSuffix(DataDirectory.snapshotSuffix) else { return nil }
        let fields = name.dropLast(DataDirectory.snapshotSuffix.count).split(separator: "_", omittingEmptySubsequences: false)
        guard fields.count == 3, let startedAt = Timestamp(compact: String(fields[0])),
              !fields[1].isEmpty, fields[2].count == 16, fields[2].allSatisfy(\.isHexDigit) else { return nil }
        (self.startedAt, collector, runId) = (startedAt, String(fields[1]), String(fields[2]))
    }
}
