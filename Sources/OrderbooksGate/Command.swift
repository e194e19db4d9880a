import Glibc
import OrderbooksCore
import Subprocess
import SystemPackage

/// One program the gate ran, as the report records it: the exact argv, when, how it ended,
/// and its output's sha256 and last lines (the output itself is kept for the check to read).
public struct CommandRecord: Sendable {
    public var argv: [String]
    public var startedAt: Timestamp
    public var finishedAt: Timestamp
    /// The exit status; nil when it was killed by a signal or never started.
    public var exitStatus: Int32?
    public var signal: Int32?
    /// Why it could not be started.
    public var startError: String?
    public var stdout: [UInt8]
    public var stderr: [UInt8]

    public var milliseconds: Double { Double(finishedAt.microseconds - startedAt.microseconds) / 1000 }
    public var succeeded: Bool { exitStatus == 0 }
    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }

    /// The last `count` lines of a stream, each cut at 400 characters.
    public static func tail(_ bytes: [UInt8], lines count: Int = 8) -> [String] {
        String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true).suffix(count).map { line in
            line.count > 400 ? String(line.prefix(400)) + "…" : String(line)
        }
    }

    /// How it ended, in words: `exit 0`, `signal 9`, `not started: …`.
    public var ending: String {
        if let exitStatus { return "exit \(exitStatus)" }
        if let signal { return "signal \(signal)" }
        return "not started: \(startError ?? "unknown")"
    }
}

public enum Command {
    /// Runs `argv` (a name is looked up in PATH) with the gate's environment plus `environment`,
    /// stdin empty, stdout and stderr captured (at most 64 MiB each).
    public static func run(_ argv: [String], environment: [String: String] = [:]) async -> CommandRecord {
        let started = Timestamp.now()
        var record = CommandRecord(argv: argv, startedAt: started, finishedAt: started, stdout: [], stderr: [])
        guard let program = argv.first else {
            record.startError = "empty command"
            return record
        }
        let executable: Executable = program.contains("/") ? .path(FilePath(program)) : .name(program)
        let updates = Dictionary(uniqueKeysWithValues: environment.map { (Environment.Key(stringLiteral: $0.key), String?.some($0.value)) })
        do {
            let result = try await Subprocess.run(executable, arguments: Arguments(Array(argv.dropFirst())), environment: .inherit.updating(updates),
                                                  input: .none, output: .bytes(limit: 64 << 20), error: .bytes(limit: 64 << 20))
            switch result.terminationStatus {
            case .exited(let code): record.exitStatus = code
            case .signaled(let signal): record.signal = signal
            }
            record.stdout = result.standardOutput
            record.stderr = result.standardError
        } catch {
            record.startError = "\(error)"
        }
        record.finishedAt = Timestamp.now()
        return record
    }
}
