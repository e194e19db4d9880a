import Glibc
import OrderbooksCore

/// What the two disruptive checks share: the notice the runs they disturb read, and waiting
/// for capture to come back.
struct Disrupting {
    var configuration: GateRunConfiguration
    var gateRun: String

    var directory: DataDirectory { DataDirectory(root: configuration.dataDirectory) }

    /// Declares the disruption before it starts (snap reads it at each start; readable by the
    /// service user whatever the gate's umask).
    func declare(_ action: String, seconds: Int64, _ check: inout CheckBuilder) -> Disruption? {
        let now = Timestamp.now()
        let notice = Disruption(gateRun: gateRun, action: action, from: now, until: now.adding(seconds: seconds))
        do {
            try DurableFile.replace(notice.encoded(), at: directory.disruptionFile, temporaryDirectory: directory.state, readableByAll: true)
            check.add(.info("declared in \(directory.disruptionFile): \(notice.text), \(notice.from.iso8601) to \(notice.until.iso8601)"))
            return notice
        } catch {
            check.add(.fail("cannot declare the disruption in \(directory.disruptionFile): \(error); not disrupting undeclared"))
            return nil
        }
    }

    /// Ends the notice (its `until` would end it anyway).
    func end(_ check: inout CheckBuilder) {
        if unlink(directory.disruptionFile) != 0 && errno != ENOENT {
            check.add(.warn("cannot remove \(directory.disruptionFile): \(String(cString: strerror(errno))); it expires by itself"))
        }
    }

    /// The snapshot files of runs started after `instant`, read (spool only: seconds old).
    func snapshots(after instant: Timestamp) -> [SnapshotRead] {
        CaptureCheck.snapshots(directory, from: instant, to: Timestamp.now().adding(seconds: 3600)).filter { $0.startedAt > instant }
    }

    /// Waits up to `seconds` for a complete snapshot of a run started after `instant`.
    func waitForComplete(after instant: Timestamp, seconds: Int) async -> SnapshotRead? {
        for _ in 0..<(seconds * 4) {
            if let done = snapshots(after: instant).first(where: { $0.outcome == "complete" && $0.problem == nil }) { return done }
            try? await Task.sleep(for: .milliseconds(250))
        }
        return nil
    }
}
