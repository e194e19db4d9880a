import Glibc

/// The layout under the data directory (docs/OPERATIONS.md):
/// `spool/` complete snapshot files, `tmp/` in-flight files, `cache/` the discovery cache,
/// `state/` throttling state. Everything in `tmp/`, `cache/` and `state/` may be deleted.
public struct DataDirectory: Sendable {
    public var root: String

    public init(root: String) { self.root = root }

    public var spool: String { root + "/spool" }
    public var temporary: String { root + "/tmp" }
    public var cache: String { root + "/cache" }
    public var state: String { root + "/state" }

    public var discoveryCacheFile: String { cache + "/discovery.json" }
    public var backoffFile: String { state + "/backoff.json" }

    public static let snapshotSuffix = ".jsonl.gz"

    /// Creates the directories that are missing.
    public func prepare() throws(FileError) {
        for directory in [spool, temporary, cache, state] { try DurableFile.makeDirectories(directory) }
    }

    /// `spool/20261121T193605.123Z_<collector>_<run id>.jsonl.gz`: names sort in time order,
    /// and the collector id keeps two collectors' files apart.
    public func snapshotPath(startedAt: Timestamp, collector: String, runId: String) -> String {
        "\(spool)/\(startedAt.compact)_\(collector)_\(runId)\(Self.snapshotSuffix)"
    }

    /// Removes in-flight files left by killed runs. Only files older than `age` seconds go, so a
    /// run still writing is never disturbed. Returns how many were removed.
    public func removeStaleTemporaryFiles(olderThan age: Int64, now: Timestamp) -> Int {
        guard let dir = opendir(temporary) else { return 0 }
        defer { closedir(dir) }
        var removed = 0
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            guard name.hasSuffix(DurableFile.temporarySuffix) else { continue }
            let path = temporary + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0, Int64(info.st_mtim.tv_sec) < now.seconds - age else { continue }
            if unlink(path) == 0 { removed += 1 }
        }
        return removed
    }
}
