import Glibc
import OrderbooksCore
import Subprocess
import SystemPackage

/// One rclone process, as a receipt records it.
public struct RcloneCall: Sendable {
    public var argv: [String]
    /// The names given on stdin (`--files-from-raw -`), part of the exact command.
    public var filesFrom: [String] = []
    /// nil when rclone was killed by a signal or could not be started.
    public var exitCode: Int32?
    public var startedAt: Timestamp
    public var microseconds: Int64
    public var stdout: [UInt8] = []
    public var stderr: String = ""
    /// Why rclone could not be run at all (not found, not executable).
    public var spawnError: String?

    public var succeeded: Bool { exitCode == 0 }

    /// rclone's status 3 for a remote directory that does not exist (yet): nothing there.
    public var missingDirectory: Bool { exitCode == 3 && stderr.contains("directory not found") }

    /// The last lines rclone logged: enough to see why it failed, never a whole transfer log
    /// (nor the INFO lines of the files a copy sent).
    public var stderrTail: [String] {
        let lines = problemLines.map { String($0).trimmingWhitespace }.filter { !$0.isEmpty }
        return lines.suffix(8).map { $0.count > 400 ? String($0.prefix(400)) + "…" : $0 }
    }

    /// rclone's log without its DEBUG and INFO lines: what it reports as a problem.
    public var problemLines: [Substring] {
        stderr.split(separator: "\n").filter { !$0.contains(" DEBUG : ") && !$0.contains(Self.infoTag) }
    }

    static let infoTag = " INFO  : "

    /// The files a `copy -v` says it wrote (`INFO  : <path>: Copied (new)`, `… (replaced
    /// existing)`, `Multi-thread Copied …`), by path below the roots.
    public var copied: Set<String> {
        var paths: Set<String> = []
        for line in stderr.split(separator: "\n") {
            guard let info = line.firstRange(of: Self.infoTag) else { continue }
            let rest = line[info.upperBound...]
            guard let mark = rest.firstRange(of: ": Copied (") ?? rest.firstRange(of: ": Multi-thread Copied (") else { continue }
            paths.insert(String(rest[..<mark.lowerBound]))
        }
        return paths
    }

    /// The line that says what went wrong: rclone's last ERROR or "Failed to" line.
    public var errorLine: String {
        if let spawnError { return spawnError }
        let tail = stderrTail
        return tail.last { $0.contains("ERROR") || $0.contains("Failed to") || $0.contains("CRITICAL") }
            ?? tail.last ?? "rclone exited with \(exitCode.map(String.init) ?? "a signal")"
    }
}

/// A file in an `rclone lsjson` listing.
public struct RemoteEntry: Sendable, Equatable {
    public var path: String
    public var bytes: Int64
    public var md5: String?

    public init(path: String, bytes: Int64, md5: String?) {
        (self.path, self.bytes, self.md5) = (path, bytes, md5)
    }
}

/// The rclone commands ship runs. Every call inherits ship's environment, so remotes defined with
/// `RCLONE_CONFIG_<NAME>_*` and settings such as `RCLONE_RETRIES` reach rclone unchanged, except
/// the variables that change what rclone lists, sends or logs (`ignoredVariables`).
public struct Rclone: Sendable {
    public var program: String
    public var configFile: String?
    /// Where the running rclone is noted, so the next run can end it if ship is killed alone.
    public var record: RcloneRecord?

    public init(program: String, configFile: String?, record: RcloneRecord? = nil) {
        (self.program, self.configFile, self.record) = (program, configFile, record)
    }

    /// `rclone version`'s first line, e.g. `v1.60.1-DEV`.
    public func version() async -> (RcloneCall, String?) {
        let call = await run(["version"])
        let first = String(decoding: call.stdout.prefix { $0 != 0x0A }, as: UTF8.self)
        return (call, call.succeeded && first.hasPrefix("rclone ") ? String(first.dropFirst("rclone ".count)) : nil)
    }

    /// The hash types the remote can report without downloading (`backend features`).
    public func hashTypes(_ remote: String) async -> (RcloneCall, [String]?) {
        let call = await run(["backend", "features", remote])
        guard call.succeeded, let features = try? JSON.parse(call.stdout), let hashes = features["Hashes"]?.array else { return (call, nil) }
        return (call, hashes.compactMap(\.string))
    }

    /// Copies `names` (paths relative to both roots) with `copy --files-from-raw`: never `sync` or
    /// `move`, never `--no-check-dest` (it makes duplicates on Drive). `--checksum` re-sends a
    /// same-size file whose hash differs; `force` (`--ignore-times`) re-sends whatever is named,
    /// for backends that compare sizes only; `immutable` never replaces a file that is there.
    public func copy(from source: String, to destination: String, names: [String], force: Bool, immutable: Bool = false) async -> RcloneCall {
        // `-v` (without periodic stats) names each file written: what this run wrote itself.
        await run(["copy", source, destination, "--files-from-raw", "-", "--checksum", "--drive-stop-on-upload-limit", "-v", "--stats", "0"]
                  + (force ? ["--ignore-times"] : []) + (immutable ? ["--immutable"] : []), input: names)
    }

    /// Environment variables rclone would take as flags that hide files from listings (filters,
    /// ages, sizes: a hidden probe or manifest defeats the self-remote and conflict checks), make
    /// copies skip or pretend (`DRY_RUN`, `IGNORE_*`, `SIZE_ONLY`…), or move or reshape the log ship
    /// classifies failures from. They are dropped from rclone's environment, with a warning.
    public static func ignoredVariables(_ environment: [String: String]) -> [String] {
        let prefixes = ["RCLONE_EXCLUDE", "RCLONE_INCLUDE", "RCLONE_FILTER", "RCLONE_FILES_FROM", "RCLONE_MIN_", "RCLONE_MAX_",
                        "RCLONE_METADATA_", "RCLONE_IGNORE_", "RCLONE_LOG_", "RCLONE_STATS", "RCLONE_HASH_FILTER"]
        let names: Set<String> = ["RCLONE_DRY_RUN", "RCLONE_INTERACTIVE", "RCLONE_SIZE_ONLY", "RCLONE_UPDATE", "RCLONE_IMMUTABLE",
                                  "RCLONE_NO_CHECK_DEST", "RCLONE_CUTOFF_MODE", "RCLONE_COMPARE_DEST", "RCLONE_COPY_DEST", "RCLONE_BACKUP_DIR",
                                  "RCLONE_SUFFIX", "RCLONE_DELETE_EXCLUDED", "RCLONE_VERBOSE", "RCLONE_QUIET", "RCLONE_USE_JSON_LOG",
                                  "RCLONE_SYSLOG", "RCLONE_PROGRESS", "RCLONE_TRACK_RENAMES"]
        return environment.keys.filter { key in names.contains(key) || prefixes.contains { key.hasPrefix($0) } }.sorted()
    }

    /// `ignoredVariables` of this process's environment, read once.
    static let ignoredHere = ignoredVariables(ProcessEnvironment.current)

    /// Lists the files of one remote directory, with their md5 when `md5`; nil when rclone
    /// failed or answered nonsense. A directory that does not exist is an empty listing.
    public func list(_ directory: String, md5: Bool) async -> (RcloneCall, [RemoteEntry]?) {
        await listing(directory, ["--files-only"], md5 ? ["--hash-type", "md5"] : [])
    }

    /// The directories below `root` down to `depth` levels (paths below `root`); nil when rclone
    /// failed or answered nonsense. A root that does not exist has none.
    public func directories(_ root: String, depth: Int) async -> (RcloneCall, [RemoteEntry]?) {
        await listing(root, ["--dirs-only"], ["--recursive", "--max-depth", String(depth)], directories: true)
    }

    private func listing(_ path: String, _ kind: [String], _ options: [String], directories: Bool = false) async -> (RcloneCall, [RemoteEntry]?) {
        let call = await run(["lsjson"] + kind + ["--no-mimetype", "--no-modtime"] + options + [path])
        if call.missingDirectory { return (call, []) }
        return (call, call.succeeded ? try? Self.parseListing(call.stdout, directories: directories) : nil)
    }

    /// The sha256 of each named file, computed by downloading it (for remotes with no hash of
    /// their own); a name listed twice gets two values. nil when rclone failed.
    public func downloadedSHA256(_ root: String, names: [String]) async -> (RcloneCall, [String: [String]]?) {
        let call = await run(["hashsum", "sha256", "--download", "--files-from-raw", "-", root], input: names)
        guard call.succeeded || call.missingDirectory else { return (call, nil) }
        var sums: [String: [String]] = [:]
        for line in String(decoding: call.stdout, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 1)
            guard fields.count == 2, fields[0].count == 64 else { continue }
            sums[String(fields[1].drop { $0 == " " }), default: []].append(String(fields[0]).lowercased())
        }
        return (call, sums)
    }

    /// One remote file's bytes (`rclone cat`), at most 64 MiB.
    public func cat(_ path: String) async -> RcloneCall {
        await run(["cat", path])
    }

    /// Writes `content` (and a newline) to one remote file.
    public func rcat(_ path: String, content: String) async -> RcloneCall {
        await run(["rcat", path], input: [content])
    }

    /// Deletes exactly one remote file: never `delete`, whose filters could reach more.
    public func deleteFile(_ path: String) async -> RcloneCall {
        await run(["deletefile", path])
    }

    /// `rclone lsjson` output: `[{"Path":..., "Size":..., "Hashes":{"md5":...}}, ...]`; entries
    /// are kept as listed, duplicates included (Drive allows two files of one name). A file entry
    /// without a name or a whole size makes the listing unreadable: skipping it could hide a file
    /// (and a manifest that is hidden is one that gets overwritten). With `directories`, the
    /// directories instead of the files.
    static func parseListing(_ bytes: [UInt8], directories: Bool = false) throws(JSONError) -> [RemoteEntry] {
        func bad(_ reason: String) -> JSONError { JSONError(kind: .invalid, offset: 0, reason: reason) }
        guard let entries = try JSON.parse(bytes).array else { throw bad("not a JSON array") }
        var listing: [RemoteEntry] = []
        for entry in entries {
            if (entry["IsDir"]?.bool == true) != directories { continue }
            guard let path = entry["Path"]?.string, case .number(let size)? = entry["Size"], let bytes = Int64(size) else {
                throw bad("a listing entry without a path or a whole size")
            }
            listing.append(RemoteEntry(path: path, bytes: bytes, md5: entry["Hashes"]?["md5"]?.string.flatMap { $0.isEmpty ? nil : $0.lowercased() }))
        }
        return listing
    }

    private func run(_ arguments: [String], input names: [String] = []) async -> RcloneCall {
        let argv = (configFile.map { ["--config", $0] } ?? []) + arguments
        let executable: Executable = program.contains("/") ? .path(FilePath(program)) : .name(program)
        let start = Timestamp.now()
        let clock = monotonicNanoseconds()
        var call = RcloneCall(argv: [program] + argv, filesFrom: names, exitCode: nil, startedAt: start, microseconds: 0)
        do {
            let input = names.map { $0 + "\n" }.joined()
            let dropped = Dictionary(uniqueKeysWithValues: Self.ignoredHere.map { (Environment.Key(stringLiteral: $0), String?.none) })
            let result = try await Subprocess.run(executable, arguments: Arguments(argv), environment: .inherit.updating(dropped),
                                                  input: .string(input), output: .bytes(limit: 64 << 20), error: .string(limit: 16 << 20)) { [record] execution in
                record?.note(execution.processIdentifier.value)
            }
            record?.clear()
            if case .exited(let code) = result.terminationStatus { call.exitCode = code }
            call.stdout = result.standardOutput
            call.stderr = result.standardError
        } catch let error as SubprocessError where error.code == .executableNotFound || error.code == .spawnFailed {
            call.spawnError = "cannot run \(program): \(error)"
        } catch {
            call.stderr = "ERROR : ship: rclone's output could not be read: \(error)"
        }
        call.microseconds = (monotonicNanoseconds() - clock) / 1000
        return call
    }
}
