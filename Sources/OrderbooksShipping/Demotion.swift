import OrderbooksCore

/// Turning a verified receipt back to `failed` when the remote no longer holds the part as the
/// receipt says: the next ship then takes the part as not shipped and sends it again. `ship
/// prune` and `ship check` demote alike, and only while the local files are there to send.
enum Demotion {
    /// What the listing showed for each file that did not verify: `x.jsonl.gz: missing; …`.
    static func problems(_ files: [ShippedFile], _ checks: [RemoteCheck]) -> String {
        zip(files, checks).filter { !$0.1.verified }.map { "\($0.0.name): \(ShipRun.describe($0.1, $0.0))" }.joined(separator: "; ")
    }

    /// Replaces the part's receipt (durably, through `tmp/`) with one that says `failed`
    /// (`verification`, `message`), with what the listing showed and every rclone call of the run.
    static func write(part: String, files: [ShippedFile], localPaths: [String], checks: [RemoteCheck], message: String,
                      session: RemoteSession, startedAt: Timestamp, command: [String], in directory: DataDirectory) throws(FileError) {
        let receipt = Receipt(
            part: part, status: .failed, failure: .verification, error: message, remoteDirectory: session.shown(files[0].directory),
            method: session.method, files: Receipt.entries(files, localPaths: localPaths, checks: checks, session: session),
            rcloneVersion: session.version, commands: session.calls, startedAt: startedAt, finishedAt: Timestamp.now(), command: command)
        try ShipRun.write(receipt, in: directory)
    }
}
