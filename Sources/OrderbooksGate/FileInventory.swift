import Glibc
import OrderbooksCore

/// The sha256 of every file of the archive (`spool/`, `sealed/`, `receipts/`, `quarantine/`):
/// taken before a disruption (and saved with the report, for `--after-reboot`) and compared after.
struct FileInventory: Sendable {
    struct Entry: Sendable, Equatable {
        var bytes: Int64
        var sha256: String
    }

    /// Path relative to the data directory → size and sha256.
    var files: [String: Entry] = [:]
    /// Files that could not be read.
    var unreadable: [String] = []

    static let folders = ["spool", "sealed", "receipts", "quarantine"]

    static func take(_ root: String) -> FileInventory {
        var inventory = FileInventory()
        func walk(_ relative: String) {
            guard let names = DataDirectory.names(in: root + "/" + relative) else { return }
            for name in names {
                let path = relative + "/" + name
                var info = stat()
                guard lstat(root + "/" + path, &info) == 0 else { continue }
                switch info.st_mode & S_IFMT {
                case S_IFDIR: walk(path)
                case S_IFREG:
                    if let digest = try? FileDigests.of(root + "/" + path, md5: false) {
                        inventory.files[path] = Entry(bytes: digest.bytes, sha256: digest.sha256)
                    } else {
                        inventory.unreadable.append(path)
                    }
                default: continue
                }
            }
        }
        for folder in folders { walk(folder) }
        return inventory
    }

    /// What happened to each earlier file: unchanged, or gone where the pipeline takes it (a
    /// spool file into a sealed segment with its sha256, or into a part pruned since with its
    /// record; a part pruned with its record); a
    /// receipt may be rewritten (each ship attempt replaces it). Anything else is a loss or a change.
    func compare(to after: FileInventory, root: String) -> (unchanged: Int, moved: Int, problems: [String]) {
        var unchanged = 0, moved = 0
        var problems: [String] = []
        var sealedSources: [String: String]?
        let pruned = PrunedParts.list(DataDirectory(root: root))
        for (path, entry) in files.sorted(by: { $0.key < $1.key }) {
            if let now = after.files[path] {
                if now == entry { unchanged += 1 } else if path.hasPrefix("receipts/") { moved += 1 } else {
                    problems.append("\(path) changed: sha256 \(entry.sha256) → \(now.sha256)")
                }
                continue
            }
            if path.hasPrefix("spool/") {
                let sources = sealedSources ?? Self.sealedSources(root)
                sealedSources = sources
                let name = String(path.dropFirst("spool/".count))
                // Sealed into a segment with the same sha256; or into a part since pruned after
                // verification (its manifest gone with it: the remote holds the part).
                if sources[name] == entry.sha256 || SnapshotName(name).map({ PrunedParts.covers(pruned, $0.startedAt, collector: $0.collector) }) == true {
                    moved += 1
                } else {
                    problems.append("\(path) is gone and in no sealed segment")
                }
            } else if path.hasPrefix("sealed/"), let part = SealWindow.parse(partFileName: String(path.split(separator: "/").last ?? "")) {
                let record = "receipts/" + path.dropFirst("sealed/".count).split(separator: "/").dropLast().joined(separator: "/")
                    + "/" + part.window.partName(part.part) + DataDirectory.prunedSuffix
                if after.files[record] != nil { moved += 1 } else { problems.append("\(path) is gone without a prune record") }
            } else {
                problems.append("\(path) is gone")
            }
        }
        return (unchanged, moved, problems)
    }

    /// Every sealed source: snapshot name → sha256, from the manifests.
    static func sealedSources(_ root: String) -> [String: String] {
        var sources: [String: String] = [:]
        let directory = DataDirectory(root: root)
        for part in (try? directory.sealedParts()) ?? [] {
            guard let bytes = try? DurableFile.read(directory.sealed + "/" + part.day + "/" + part.name + SealWindow.manifestSuffix),
                  let manifest = try? Manifest(decoding: bytes) else { continue }
            for source in manifest.sources { sources[source.name] = source.sha256 }
        }
        return sources
    }

    var json: [UInt8] {
        var root = JSONObjectWriter(multiline: true)
        root.field("kind", "inventory")
        root.field("schema", 1)
        root.field("files", each: files.sorted { $0.key < $1.key }) { item, o in
            o.field("path", item.key)
            o.field("bytes", item.value.bytes)
            o.field("sha256", item.value.sha256)
        }
        root.field("unreadable", strings: unreadable)
        return root.finished + [0x0A]
    }

    static func decode(_ bytes: [UInt8]) -> FileInventory? {
        guard let value = try? JSON.parse(bytes), value["kind"]?.string == "inventory", let list = value["files"]?.array else { return nil }
        var inventory = FileInventory()
        for item in list {
            guard let path = item["path"]?.string, let sha = item["sha256"]?.string,
                  case .number(let n)? = item["bytes"], let bytes = Int64(n) else { return nil }
            inventory.files[path] = Entry(bytes: bytes, sha256: sha)
        }
        return inventory
    }
}
