import OrderbooksCore

/// One thing a check established, or could not.
public struct Finding: Sendable {
    public enum Status: String, Sendable {
        /// The condition holds.
        case pass
        /// It does not: the check fails.
        case fail
        /// Worth a look, not a failure (goes to the remaining risks).
        case warn
        /// A figure or a fact, recorded.
        case info
    }

    public var status: Status
    public var text: String

    public static func pass(_ text: String) -> Finding { Finding(status: .pass, text: text) }
    public static func fail(_ text: String) -> Finding { Finding(status: .fail, text: text) }
    public static func warn(_ text: String) -> Finding { Finding(status: .warn, text: text) }
    public static func info(_ text: String) -> Finding { Finding(status: .info, text: text) }
}

/// One check of `gate run`: what it found and every command it ran to find it.
public struct CheckResult: Sendable {
    public enum Status: String, Sendable {
        case pass, fail
        /// Not run (`--no-disruption`, or a check before it made it pointless): never a pass.
        case skipped
    }

    public var id: String
    public var title: String
    public var startedAt: Timestamp
    public var finishedAt: Timestamp
    public var findings: [Finding] = []
    public var commands: [CommandRecord] = []
    /// Why it was not run.
    public var skipped: String?

    public var status: Status {
        if skipped != nil { return .skipped }
        return findings.contains { $0.status == .fail } ? .fail : .pass
    }
}

/// What the gate concludes.
public enum Verdict: String, Sendable {
    case productionReady = "PRODUCTION_READY"
    case notReady = "NOT_READY"
    case blockedNeedsVPSAccess = "BLOCKED_NEEDS_VPS_ACCESS"
}

/// What the run was done on: the conditions a PRODUCTION_READY verdict needs beyond the checks.
public struct Condition: Sendable {
    /// e.g. "host", "endpoints", "remote", "capture length".
    public var name: String
    /// Whether it is the real thing.
    public var real: Bool
    /// What was found, in words.
    public var detail: String
    /// Whether a shortfall blocks the verdict as a stand-in (host, endpoints, remote) or only
    /// makes it NOT_READY for now (a capture not yet long enough).
    public var standIn: Bool
}

/// A remaining risk: what it is and its evidence, or why it cannot be checked here.
public struct Risk: Sendable {
    public var risk: String
    public var evidence: String
}
