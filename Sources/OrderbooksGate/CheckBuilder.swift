import Glibc
import OrderbooksCore

/// Builds one check's result: runs its commands (each recorded) and collects its findings.
struct CheckBuilder {
    var result: CheckResult

    init(_ id: String, _ title: String) {
        let now = Timestamp.now()
        result = CheckResult(id: id, title: title, startedAt: now, finishedAt: now)
    }

    /// Runs `argv` and records it; `environment` adds variables (their values are never recorded).
    @discardableResult
    mutating func run(_ argv: [String], environment: [String: String] = [:]) async -> CommandRecord {
        let record = await Command.run(argv, environment: environment)
        result.commands.append(record)
        return record
    }

    mutating func add(_ finding: Finding) { result.findings.append(finding) }

    /// A pass or a fail, by `condition`.
    mutating func expect(_ condition: Bool, _ pass: @autoclosure () -> String, else fail: @autoclosure () -> String) {
        add(condition ? .pass(pass()) : .fail(fail()))
    }

    mutating func skip(_ why: String) { result.skipped = why }

    func finished() -> CheckResult {
        var result = result
        result.finishedAt = Timestamp.now()
        return result
    }
}

/// How the gate runs the tools: as the service user, with the install's settings, as its
/// units would (setpriv drops root; the settings travel in the environment, never in argv).
struct AsService {
    var configuration: GateRunConfiguration

    func argv(_ tool: [String]) -> [String] {
        guard getuid() == 0 else { return tool }
        let user = configuration.user
        return ["setpriv", "--reuid=\(user)", "--regid=\(user)", "--init-groups", "--"] + tool
    }

    /// The settings of the env file plus what the units add (rclone's config, the data directory).
    var environment: [String: String] {
        var env = configuration.settings
        env["RCLONE_CONFIG"] = configuration.rcloneConfig
        env["ORDERBOOKS_DATA_DIR"] = configuration.dataDirectory
        env["HOME"] = configuration.dataDirectory
        return env
    }
}
