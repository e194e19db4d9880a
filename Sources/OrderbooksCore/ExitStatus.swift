/// Exit statuses of the tools (docs/OPERATIONS.md lists them).
public enum ExitStatus: Int32, Sendable {
    /// snap: every book of every open window was captured. seal: every closed window sealed and
    /// checked, or nothing to do. seal verify: everything matches.
    case complete = 0
    /// seal verify: a mismatch or a damaged file.
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
    /// The snapshot or segment could not be written (unwritable data directory, full disk).
    case cannotWrite = 73
    /// seal: a file could not be read, or a segment just written did not read back as written;
    /// its spool files are kept.
    case checkFailed = 74
    /// A bad environment variable or an unusable CA file.
    case configuration = 78
}
