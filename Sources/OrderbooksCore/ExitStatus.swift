/// Exit statuses of the tools (docs/OPERATIONS.md lists them).
public enum ExitStatus: Int32, Sendable {
    /// snap: every book of every open window was captured. seal: every closed window sealed and
    /// checked, or nothing to do. seal verify: everything matches.
    case complete = 0
    /// seal verify: a mismatch or a damaged file. ship: a remote copy is missing, of the wrong
    /// size or hash, or has differing duplicates, even after a repair, or the remote holds
    /// another part under its name; ship prune: a remote
    /// listing no longer matches a receipt.
    case mismatch = 1
    /// snap: some books or markets are missing; what was captured is written. seal: sealed, but
    /// a damaged spool file went to quarantine.
    case partial = 3
    /// No book was captured; the failure rows are written.
    case failed = 4
    /// Skipped: the CLOB throttled us and its Retry-After has not passed.
    case backoff = 5
    /// A bad flag or argument.
    case usage = 64
    /// ship: a sealed file no longer matches its manifest; it is refused, never uploaded.
    case localMismatch = 65
    /// ship: the remote is unreachable or a transfer failed (refused or dropped connection,
    /// timeout, server error); the next run tries again.
    case remoteUnavailable = 69
    /// The snapshot or segment could not be written (unwritable data directory, full disk).
    case cannotWrite = 73
    /// seal: a file could not be read, or a segment just written did not read back as written;
    /// its spool files are kept.
    case checkFailed = 74
    /// ship: the remote's quota or rate limit (storage full, Drive's daily upload limit, 429, 507).
    case remoteQuota = 75
    /// ship: the remote refused our credentials or permissions (401/403, bad password or token,
    /// "permission denied" on the target).
    case remoteRefused = 77
    /// A bad environment variable or an unusable CA file; ship: no remote, rclone missing or
    /// not runnable, a remote rclone does not know.
    case configuration = 78
}
