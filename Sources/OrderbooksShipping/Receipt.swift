import OrderbooksCore

/// What ship did with one sealed part and what it proved: the index of what is shipped. Written
/// atomically to `receipts/YYYY/MM/DD/<part>.receipt.json`; each attempt replaces the last until
/// one says `verified`, which ship never rewrites (docs/FORMAT.md).
public struct Receipt: Sendable {
    public static let schemaVersion = 1

    public enum Status: String, Sendable {
        /// The segment and its manifest are on the remote, each once, with the right size and hash.
        case verified
        /// Not (yet) on the remote as it must be: the next run tries again.
        case failed
        /// A local file no longer matches its manifest: not uploaded.
        case refused
    }

    /// One file of the part: what it must hold, where it is, and what the remote showed.
    public struct Entry: Sendable {
        public var file: ShippedFile
        public var localPath: String
        public var remotePath: String
        public var check: RemoteCheck
    }

    /// A part's files with where they are and what a check found.
    static func entries(_ files: [ShippedFile], localPaths: [String], checks: [RemoteCheck], session: RemoteSession) -> [Entry] {
        files.indices.map { i in
            Entry(file: files[i], localPath: localPaths[i], remotePath: session.shown(files[i].relativePath), check: checks[i])
        }
    }

    public var part: String
    public var status: Status
    public var failure: ShipFailure?
    public var error: String?
    public var remoteDirectory: String
    public var method: RemoteCheck.Method?
    public var files: [Entry]
    public var warnings: [String] = []
    public var rcloneVersion: String?
    public var commands: [RcloneCall] = []
    public var startedAt: Timestamp
    public var finishedAt: Timestamp
    public var command: [String]

    public func encoded() -> [UInt8] {
        var r = JSONObjectWriter(multiline: true)
        r.field("kind", "receipt")
        r.field("schema", Self.schemaVersion)
        r.field("part", part)
        r.field("status", status.rawValue)
        r.field("error_class", failure?.rawValue)
        r.field("error", error)
        r.field("remote", remoteDirectory)
        r.field("method", method?.rawValue)
        r.field("files", each: files) { entry, f in
            f.field("role", entry.file.role.rawValue)
            f.field("name", entry.file.name)
            f.field("local_path", entry.localPath)
            f.field("remote_path", entry.remotePath)
            f.fields(of: entry.file)
            f.field("status", entry.check.status.rawValue)
            f.fields(of: entry.check)
        }
        r.field("warnings", strings: warnings)
        r.field("rclone_version", rcloneVersion)
        r.field("commands", each: commands) { call, c in
            c.field("argv", strings: call.argv)
            c.field("files_from", strings: call.filesFrom)
            c.field("exit_code", call.exitCode.map(Int64.init))
            c.field("started_at", call.startedAt.iso8601)
            c.field("milliseconds", milliseconds: call.microseconds)
            c.field("stderr_tail", strings: call.stderrTail)
        }
        r.field("started_at", startedAt.iso8601)
        r.field("finished_at", finishedAt.iso8601)
        r.field("ship_version", OrderbooksVersion.current)
        r.field("command", strings: command)
        return r.finishedLine()
    }

    /// What ship and prune read back: the status and the files with their recorded hashes.
    public struct Summary: Sendable {
        public var status: Status
        public var files: [ShippedFile]
    }

    /// `receipts/YYYY/MM/DD/<part>.receipt.json`.
    public static func path(in directory: DataDirectory, day: String, part: String) -> String {
        directory.receipts + "/" + day + "/" + part + DataDirectory.receiptSuffix
    }

    /// The receipt of a part, or nil when there is none (or it does not parse).
    public static func summary(in directory: DataDirectory, day: String, part: String) -> Summary? {
        guard let bytes = try? DurableFile.read(path(in: directory, day: day, part: part)) else { return nil }
        return try? decode(bytes, directory: day)
    }

    /// Reads a receipt back; `directory` is where it lies (`YYYY/MM/DD`), as are its files.
    public static func decode(_ bytes: [UInt8], directory: String) throws -> Summary {
        let root = try JSON.objectMembers(bytes, ["kind", "status", "files"])
        func fail(_ what: String) -> Manifest.DecodingError { Manifest.DecodingError(description: "receipt: \(what) missing or invalid") }
        guard root["kind"]?.string == "receipt" else { throw fail("kind") }
        guard let status = root["status"]?.string.flatMap(Status.init(rawValue:)) else { throw fail("status") }
        let files = try (root["files"]?.array ?? []).map { f in
            guard f["role"] != nil, let file = ShippedFile(recorded: f, directory: directory) else { throw fail("files") }
            return file
        }
        return Summary(status: status, files: files)
    }
}
