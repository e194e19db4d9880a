import OrderbooksCore

/// The remote as one ship or prune run sees it: rclone, the remote root, how files are verified,
/// and every rclone call made, for the receipts and the log.
final class RemoteSession {
    let rclone: Rclone
    let remote: String
    /// How the remote and rclone's words about it are recorded: no credential in any of them.
    let redaction: Redaction
    let log: Log
    private(set) var calls: [RcloneCall] = []
    private(set) var version: String?
    /// Set once `open()` has learned what the remote can hash.
    private(set) var method: RemoteCheck.Method?
    /// A name no listing may show (SelfRemoteProbe), and whether one did.
    private var watched: String?
    private(set) var sawWatched = false

    /// Why a step failed: its class and rclone's own words.
    struct Failure: Error {
        var kind: ShipFailure
        var message: String
    }

    init(rclone: Rclone, remote: String, log: Log) {
        (self.rclone, self.remote, self.log) = (rclone, remote, log)
        redaction = Redaction(remote: remote)
    }

    /// `gdrive:orderbooks` + `2026/11/21` → `gdrive:orderbooks/2026/11/21`.
    static func join(_ remote: String, _ relative: String) -> String {
        remote.hasSuffix(":") || remote.hasSuffix("/") ? remote + relative : remote + "/" + relative
    }

    /// The path rclone is given.
    func path(_ relative: String) -> String { Self.join(remote, relative) }

    /// The same path as receipts and the log show it, credentials masked.
    func shown(_ relative: String) -> String { relative.isEmpty ? redaction.shownRemote : Self.join(redaction.shownRemote, relative) }

    /// Learns rclone's version and whether the remote reports md5 (Drive and sftp do; plain
    /// WebDAV does not, and is then verified by downloading).
    func open() async throws(Failure) {
        let ignored = Rclone.ignoredHere
        if !ignored.isEmpty {
            log(.warning, "ship: ignoring \(ignored.joined(separator: ", ")) in the environment: they would hide files from ship's "
                + "listings, skip copies or move rclone's log (set them on the command line of your own rclone runs instead)")
        }
        let (versionCall, version) = await rclone.version()
        try record(versionCall, "version")
        self.version = version
        let (featuresCall, hashes) = await rclone.hashTypes(remote)
        try record(featuresCall, "backend features", answered: hashes != nil)
        guard let hashes else { return }
        method = hashes.contains("md5") ? .remoteMD5 : .downloadSHA256
    }

    /// A remote file's bytes (`relative` below the remote root); a failed read throws, it never
    /// passes for an empty file.
    func read(_ relative: String) async throws(Failure) -> [UInt8] {
        let call = await rclone.cat(path(relative))
        try record(call, "cat")
        return call.stdout
    }

    /// Writes `content` to a remote file (`rcat`).
    func write(_ content: String, to relative: String) async throws(Failure) {
        try record(await rclone.rcat(path(relative), content: content), "rcat")
    }

    /// Deletes one remote file (ship's own probe): its going is part of the proof that the
    /// remote is not the data directory, so a failure throws.
    func deleteFile(_ relative: String) async throws(Failure) {
        try record(await rclone.deleteFile(path(relative)), "deletefile")
    }

    /// From now on, a listing that shows a file whose name holds `name` is noted in `sawWatched`.
    func watch(_ name: String) { watched = name }

    /// Uploads `files` (paths below `source`) in one rclone process; with `immutable`, a file
    /// already on the remote is never replaced (rclone fails it as a conflict instead).
    /// Returns the files rclone says it wrote, also when the copy failed for others.
    func upload(_ files: [ShippedFile], from source: String, force: Bool, immutable: Bool = false) async -> (written: Set<String>, failure: Failure?) {
        guard !files.isEmpty else { return ([], nil) }
        let call = await rclone.copy(from: source, to: remote, names: files.map(\.relativePath), force: force, immutable: immutable)
        do throws(Failure) {
            try record(call, "copy" + (force ? " --ignore-times" : "") + (immutable ? " --immutable" : ""))
        } catch {
            return (call.copied, error)
        }
        return (call.copied, nil)
    }

    /// The files of one remote directory (`relative` below the root), without hashes.
    func list(_ relative: String) async throws(Failure) -> [RemoteEntry] {
        let (call, listing) = await rclone.list(path(relative), md5: false)
        try record(call, "lsjson", answered: listing != nil)
        note(listing ?? [])
        return listing ?? []
    }

    /// The `YYYY/MM/DD` directories under the remote root: one listing of directories only,
    /// three levels deep. None when the root does not exist (yet).
    func dayDirectories() async throws(Failure) -> [String] {
        let (call, listing) = await rclone.directories(remote, depth: 3)
        try record(call, "lsjson --dirs-only", answered: listing != nil)
        return (listing ?? []).map(\.path).filter { path in
            path.split(separator: "/", omittingEmptySubsequences: false).map(\.count) == [4, 2, 2] && path.allSatisfy { $0 == "/" || $0.isASCII && $0.isNumber }
        }.sorted()
    }

    private func note(_ listing: [RemoteEntry]) {
        if let watched, listing.contains(where: { $0.path.contains(watched) }) { sawWatched = true }
    }

    /// Checks `files` against one fresh listing of each of their directories (plus a download
    /// of each when the remote has no md5). A directory that does not exist is an empty listing
    /// (its files are `missing`); a failed listing or download leaves its files `not_checked`
    /// and is returned, with every file the listings showed (by path below the remote root; the
    /// first of duplicates). `method` overrides the session's (ship check's `--read-data`).
    func check(_ files: [ShippedFile], method chosen: RemoteCheck.Method? = nil) async -> (checks: [RemoteCheck], failure: Failure?, listed: [String: RemoteEntry]) {
        let method = chosen ?? self.method
        var checks = [RemoteCheck](repeating: RemoteCheck(status: .notChecked), count: files.count)
        var sha256s: [String: [String]] = [:]
        if method == .downloadSHA256 {
            let (call, sums) = await rclone.downloadedSHA256(remote, names: files.map(\.relativePath))
            do throws(Failure) {
                try record(call, "hashsum sha256 --download", answered: sums != nil)
            } catch {
                return (checks, error, [:])
            }
            sha256s = sums ?? [:]
        }
        var failure: Failure?
        var listed: [String: RemoteEntry] = [:]
        for directory in Set(files.map(\.directory)).sorted() {
            let (call, listing) = await rclone.list(path(directory), md5: method != .downloadSHA256)
            do throws(Failure) {
                try record(call, "lsjson", answered: listing != nil)
                note(listing ?? [])
                for entry in listing ?? [] where listed[directory + "/" + entry.path] == nil { listed[directory + "/" + entry.path] = entry }
                for (i, file) in files.enumerated() where file.directory == directory {
                    checks[i] = RemoteCheck.of(file, listing: listing ?? [], method: method ?? .remoteMD5, sha256s: sha256s[file.relativePath])
                }
            } catch {
                failure = error
            }
        }
        return (checks, failure, listed)
    }

    /// Keeps the call for the receipts, credentials masked; a failed one (or one whose output could not be used:
    /// `answered` false) is logged and thrown, classified.
    private func record(_ raw: RcloneCall, _ what: String, answered: Bool = true) throws(Failure) {
        var call = raw
        call.argv = call.argv.map(redaction.scrub)
        call.stderr = redaction.scrub(call.stderr)
        call.spawnError = call.spawnError.map(redaction.scrub)
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
