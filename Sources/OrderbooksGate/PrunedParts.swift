import Glibc
import OrderbooksCore

/// Parts `ship prune` deleted here after verifying them on the remote: only their prune record
/// (and receipt) is left. Their snapshots are on the remote, not here, so the checks that read
/// local files account for them instead of counting them missing.
enum PrunedParts {
    /// Every pruned part whose manifest is gone, with its window.
    static func list(_ d: DataDirectory) -> [(window: SealWindow, name: String)] {
        ((try? d.receiptFiles()) ?? []).compactMap { day, name in
            guard name.hasSuffix(DataDirectory.prunedSuffix), case let part = String(name.dropLast(DataDirectory.prunedSuffix.count)),
                  let parsed = SealWindow.parse(partFileName: part + SealWindow.manifestSuffix),
                  access(d.sealed + "/" + day + "/" + part + SealWindow.manifestSuffix, F_OK) != 0 else { return nil }
            return (parsed.window, parsed.window.partName(parsed.part))
        }
    }

    /// Whether a snapshot of `collector` started at `instant` lies in one of these windows.
    static func covers(_ pruned: [(window: SealWindow, name: String)], _ instant: Timestamp, collector: String) -> Bool {
        pruned.contains { $0.window.collector == collector && $0.window.start <= instant && instant < $0.window.end }
    }
}
