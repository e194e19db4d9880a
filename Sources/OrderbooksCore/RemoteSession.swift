/// The remote as one ship or prune run sees it: rclone, the remote root, how files are verified,
/// and every rclone call made, for the receipts and the log.
final class RemoteSession {
    let rclone: Rclone
    let remote: String
    let log: Log
    private(set) var calls: [RcloneCall] = []
    private(set) var version: String?
    /// Set once `open()` has learned what the remote can hash.
    private(set) var method: RemoteCheck.Method?

    /// Why a step failed: its class and rclone's own words.
    struct Failure: Error {
        var kind: ShipFailure
        var message: String
    }

    init(rclone: Rclone, remote: String, log: Log) {
        (self.rclone, self.remote, self.log) = (rclone, remote, log)
    }

    /// `gdrive:orderbooks` + `2026/11/21` → `gdrive:orderbooks/2026/11/21`.
    static func join(_ remote: String, _ relative: String) -> String {
        remote.hasSuffix(":") || remote.hasSuffix("/") ? remote + relative : remote + "/" + relative
    }

    func path(_ relative: String) -> String { Self.join(remote, relative) }

    /// Learns rclone's version and whether the remote reports md5 (Drive and sftp do; plain
    /// WebDAV does not, and is then verified by downloading).
    func open() async throws(Failure) {
        let (versionCall, version) = await rclone.version()
        try record(versionCall, "version")
        self.version = version
        let (featuresCall, hashes) = await rclone.hashTypes(remote)
        try record(featuresCall, "backend features", answered: hashes != nil)
        guard let hashes else { return }
        method = hashes.contains("md5") ? .remoteMD5 : .downloadSHA256
    }

    /// A remote file's bytes, or nil when it cannot be read.
    func read(_ path: String) async -> [UInt8]? {
        let call = await rclone.cat(path)
        do throws(Failure) { try record(call, "cat") } catch { return nil }
        return call.stdout
    }

    /// Uploads `files` (paths below `source`) in one rclone process.
    func upload(_ files: [ShippedFile], from source: String, force: Bool) async throws(Failure) {
        guard !files.isEmpty else { return }
        let call = await rclone.copy(from: source, to: remote, names: files.map(\.relativePath), force: force)
        try record(call, force ? "copy --ignore-times" : "copy")
    }

    /// Checks `files` against one fresh listing of each of their directories (plus a download
    /// of each when the remote has no md5). A directory that does not exist is an empty listing
    /// (its files are `missing`); a failed listing or download leaves its files `not_checked`
    /// and is returned.
    func check(_ files: [ShippedFile]) async -> (checks: [RemoteCheck], failure: Failure?) {
        var checks = [RemoteCheck](repeating: RemoteCheck(status: .notChecked), count: files.count)
        var sha256s: [String: [String]] = [:]
        if method == .downloadSHA256 {
            let (call, sums) = await rclone.downloadedSHA256(remote, names: files.map(\.relativePath))
            do throws(Failure) {
                try record(call, "hashsum sha256 --download", answered: sums != nil)
            } catch {
                return (checks, error)
            }
            sha256s = sums ?? [:]
        }
        var failure: Failure?
        for directory in Set(files.map(\.directory)).sorted() {
            let (call, listing) = await rclone.list(path(directory), md5: method != .downloadSHA256)
            do throws(Failure) {
                try record(call, "lsjson", answered: listing != nil)
                for (i, file) in files.enumerated() where file.directory == directory {
                    checks[i] = RemoteCheck.of(file, listing: listing ?? [], method: method ?? .remoteMD5, sha256s: sha256s[file.relativePath])
                }
            } catch {
                failure = error
            }
        }
        return (checks, failure)
    }

    /// Keeps the call for the receipts; a failed one (or one whose output could not be used:
    /// `answered` false) is logged and thrown, classified.
    private func record(_ call: RcloneCall, _ what: String, answered: Bool = true) throws(Failure) {
        calls.append(call)
        if answered && (call.succeeded || call.missingDirectory) { return }
        if call.succeeded {
            log(.warning, "ship: rclone \(what): unreadable answer")
            throw Failure(kind: .unavailable, message: "rclone \(what): unreadable answer")
        }
        let kind = ShipFailure.classify(call)
        let status = call.exitCode.map { "exited \($0)" } ?? (call.spawnError != nil ? "did not start" : "was killed")
        let message = "rclone \(what) \(status) after \(call.microseconds / 1000) ms (\(kind.rawValue)): \(call.errorLine)"
        log(.warning, "ship: " + message)
        throw Failure(kind: kind, message: message)
    }
}
