import Glibc
import OrderbooksCore

/// `seal verify`: re-reads sealed parts and prints one line per part, `ok` or `BAD` with what
/// differs. A segment with no manifest is reported too: `seal` makes one only when killed
/// between the two files, and removes it on its next run (its rows are still in the spool).
public struct SealVerify {
    let paths: [String]
    let log: Log
    /// When no path is given: the data directory, whose `sealed/` may not exist yet.
    let directory: DataDirectory?

    public init(paths: [String], log: Log) {
        (self.paths, self.log, directory) = (paths, log, nil)
    }

    /// Everything under `directory`'s `sealed/`.
    public init(dataDirectory directory: DataDirectory, log: Log) {
        (paths, self.log, self.directory) = ([directory.sealed], log, directory)
    }

    public func run() -> ExitStatus {
        SealRun.returnLargeBuffers()
        if let problem = directory?.layoutProblem() {
            print("BAD  \(problem)")
            log(.error, "seal verify: \(problem)")
            return .mismatch
        }
        if let sealedDirectory = directory?.sealed, access(sealedDirectory, F_OK) != 0, errno == ENOENT {
            // Before the first seal: nothing is wrong, there is nothing to check.
            let summary = "seal verify: nothing sealed yet (\(sealedDirectory) does not exist); 0 checked"
            print(summary)
            log(.info, summary)
            return .complete
        }
        var manifests: [String] = []
        var segments: [String] = []
        var bad = 0
        for path in paths {
            var info = stat()
            guard stat(path, &info) == 0 else {
                print("BAD  \(path): \(String(cString: strerror(errno)))")
                bad += 1
                continue
            }
            if !sort(path, info, &manifests, &segments, &bad) {
                print("BAD  \(path): neither a segment (\(SealWindow.segmentSuffix)) nor a manifest (\(SealWindow.manifestSuffix))")
                bad += 1
            }
        }
        // A segment named on its own is checked through the manifest beside it.
        var checked = Set(manifests)
        var unfinished = 0
        for segment in segments {
            let manifest = String(segment.dropLast(SealWindow.segmentSuffix.count)) + SealWindow.manifestSuffix
            if access(manifest, F_OK) == 0 {
                if checked.insert(manifest).inserted { manifests.append(manifest) }
            } else if !checked.contains(manifest) {
                print("WARN \(segment): no manifest (an interrupted seal; the next seal removes it and seals its spool files again)")
                unfinished += 1
            }
        }
        var good = 0
        for manifestPath in manifests.sorted() {
            let segmentPath = String(manifestPath.dropLast(SealWindow.manifestSuffix.count)) + SealWindow.segmentSuffix
            var problems: [String]
            var detail = ""
            do {
                let manifest = try Manifest(decoding: try DurableFile.read(manifestPath) ?? [], lists: false)
                let expectedName = segmentPath.split(separator: "/").last.map(String.init) ?? ""
                problems = manifest.files.first?.name == expectedName ? [] : ["the manifest names \(manifest.files.first?.name ?? "nothing"), not \(expectedName)"]
                problems += SegmentCheck.problems(segmentPath: segmentPath, manifest: manifest)
                let f = manifest.files[0]
                detail = "\(f.rows) rows, \(f.bytes) bytes, sha256 \(f.sha256)"
            } catch {
                problems = ["\(error)"]
            }
            if problems.isEmpty {
                good += 1
                print("ok   \(segmentPath): \(detail)")
            } else {
                bad += 1
                print("BAD  \(segmentPath): \(problems.joined(separator: "; "))")
            }
        }
        let summary = "seal verify: \(good + bad) checked, \(good) ok, \(bad) bad, \(unfinished) without manifest"
        print(summary)
        log(bad == 0 ? .info : .error, summary)
        return bad == 0 ? .complete : .mismatch
    }

    /// Files a directory holds, at any depth, go where `sort` puts them; other files are skipped.
    /// Links are not followed (`lstat`, and listings refuse them): a link named like a manifest
    /// is listed and then fails its read, never leads out of the tree. False when the directory
    /// cannot be listed.
    private func collect(_ directory: String, _ manifests: inout [String], _ segments: inout [String], _ bad: inout Int) -> Bool {
        guard let names = DataDirectory.names(in: directory) else { return false }
        for name in names {
            var info = stat()
            if lstat(directory + "/" + name, &info) == 0 { _ = sort(directory + "/" + name, info, &manifests, &segments, &bad) }
        }
        return true
    }

    /// A directory is searched, a manifest or a segment listed; false for anything else.
    private func sort(_ path: String, _ info: stat, _ manifests: inout [String], _ segments: inout [String], _ bad: inout Int) -> Bool {
        if info.st_mode & S_IFMT == S_IFDIR {
            if !collect(path, &manifests, &segments, &bad) {
                print("BAD  \(path): cannot list: \(String(cString: strerror(errno)))")
                bad += 1
            }
        } else if path.hasSuffix(SealWindow.manifestSuffix) {
            manifests.append(path)
        } else if path.hasSuffix(SealWindow.segmentSuffix) {
            segments.append(path)
        } else {
            return false
        }
        return true
    }
}
