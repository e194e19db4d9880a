import OrderbooksCore

/// Why a part did not ship, as its receipt (`error_class`) and ship's exit status say it.
public enum ShipFailure: String, Sendable, CaseIterable {
    /// The remote copy is missing, of the wrong size or hash, or has differing duplicates.
    case verification
    /// The remote already holds another part under this part's name: not overwritten.
    case conflict
    /// A sealed file no longer matches its manifest: refused, never uploaded.
    case localIntegrity = "local_integrity"
    /// The remote could not be reached, or a transfer failed (refused, dropped, timed out, 5xx).
    case unavailable
    /// Storage full, Drive's upload limit, rate limits.
    case quota
    /// Credentials or permissions refused.
    case auth
    /// rclone missing or not runnable, an unknown remote name, a flag rclone refuses.
    case configuration
    /// A sealed file could not be read.
    case unreadable
    /// A receipt could not be written.
    case cannotWrite = "cannot_write"

    public var status: ExitStatus {
        switch self {
        case .verification, .conflict: .mismatch
        case .localIntegrity: .localMismatch
        case .unavailable: .remoteUnavailable
        case .quota: .remoteQuota
        case .auth: .remoteRefused
        case .configuration: .configuration
        case .unreadable: .checkFailed
        case .cannotWrite: .cannotWrite
        }
    }

    /// Which failure decides the exit status when parts fail for different reasons: the one that
    /// needs a person first (a broken install, a full local disk, changed data, credentials).
    public var rank: Int {
        switch self {
        case .configuration: 7
        case .cannotWrite: 6
        case .localIntegrity: 5
        case .auth: 4
        case .quota: 3
        case .unavailable: 2
        case .verification, .conflict: 1
        case .unreadable: 0
        }
    }

    /// Classifies a failed rclone call from its log. rclone 1.60's exit status says little
    /// (nearly every failure is 1), so the text decides; quota comes before auth because Drive
    /// reports rate limits as 403.
    public static func classify(_ call: RcloneCall) -> ShipFailure {
        if call.spawnError != nil { return .configuration }
        // Only what rclone reports as a problem: its DEBUG and INFO lines ("pacer: Rate limited"
        // while retrying a refused connection) say nothing about why the call failed.
        let text = call.problemLines.joined(separator: "\n").lowercased()
        let has = { (needles: [String]) in needles.contains { text.contains($0) } }
        // `--immutable` refused to replace a file ship's listing did not show: someone else's.
        if has(["immutable file modified"]) { return .conflict }
        if has(["quota", "ratelimitexceeded", "rate limit", "upload limit", "uploadlimit", "too many requests",
                "insufficient storage", "no space left", "storage full", "disk space", "file too big", "disk full"]) { return .quota }
        if has(["didn't find section in config file", "unknown flag", "unknown command", "unknown shorthand flag",
                "config file not found", "syntax or usage error"]) { return .configuration }
        if has(["unauthorized", "forbidden", "invalid_grant", "couldn't fetch token", "unable to authenticate",
                "authentication", "permission denied", "access denied", "insufficientpermissions", "sufficient permissions", "read-only", "token expired"]) { return .auth }
        return .unavailable
    }
}

extension Optional where Wrapped == ShipFailure {
    /// Keeps whichever failure decides the exit status.
    mutating func worsen(_ failure: ShipFailure) {
        if map({ failure.rank > $0.rank }) ?? true { self = failure }
    }
}
