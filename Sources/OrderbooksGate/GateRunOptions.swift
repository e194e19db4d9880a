import ArgumentParser
import Glibc
import OrderbooksCore

/// What one `gate run` checks and where it writes.
public struct GateRunConfiguration: Sendable {
    /// The install's settings: /etc/orderbooks/orderbooks.env, as the units read it.
    public var settings: [String: String]
    public var environmentFile: String
    public var dataDirectory: String
    public var installDirectory: String
    public var reportsDirectory: String
    /// The service user every unit runs as; the gate runs the tools as it.
    public var user: String
    public var afterReboot: Bool
    public var ship: Bool
    public var disrupt: Bool
    /// Seconds of recent capture the capture check judges.
    public var captureWindow: Int64
    public var command: [String]

    public var bin: String { installDirectory + "/bin" }
    public var remote: String? { settings["ORDERBOOKS_REMOTE"].flatMap { $0.isEmpty ? nil : $0 } }
    public var rcloneConfig: String { settings["RCLONE_CONFIG"] ?? "/etc/orderbooks/rclone/rclone.conf" }
}

/// The options of `gate run`.
public struct GateRunOptions: ParsableArguments {
    @Flag(name: .customLong("after-reboot"), help: "Compare against the state the previous gate run saved before a reboot: a new boot, every file unchanged, capture resumed.")
    var afterReboot = false

    @Flag(name: .customLong("ship"), help: "Also upload the report beside the data, to <remote>/reports/<time>/, and verify it there.")
    var ship = false

    @Flag(name: .customLong("no-disruption"), help: "Skip the forced restart and the network cut (they stop capture for a few seconds); the verdict is then NOT_READY.")
    var noDisruption = false

    @Option(name: .customLong("env-file"), help: ArgumentHelp("The install's settings, as its units read them.", valueName: "path"))
    var environmentFile = "/etc/orderbooks/orderbooks.env"

    @Option(name: .customLong("install-dir"), help: ArgumentHelp("Where the package put the binaries and BUILD.json.", valueName: "path"))
    var installDirectory = "/opt/orderbooks"

    @Option(name: .customLong("reports-dir"), help: ArgumentHelp("Where reports go, one directory per run. [default: <data-dir>/reports]", valueName: "path"))
    var reportsDirectory: String?

    @Option(name: .customLong("capture-window"), help: ArgumentHelp("Seconds of recent capture the capture check judges.", valueName: "seconds"))
    var captureWindow: Int64 = 600

    @Option(name: .customLong("user"), help: ArgumentHelp("The user the units run as.", valueName: "name"))
    var user = "orderbooks"

    public init() {}

    public func configuration(command: [String]) throws -> GateRunConfiguration {
        guard captureWindow >= 60 && captureWindow <= 86_400 else { throw ValidationError("--capture-window: between 60 and 86400 seconds") }
        let settings: [String: String]
        do { settings = try EnvironmentFile.read(environmentFile) } catch {
            throw ConfigurationError(description: "cannot read \(environmentFile): \(error)")
        }
        let data = settings["ORDERBOOKS_DATA_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/var/lib/orderbooks"
        return GateRunConfiguration(
            settings: settings, environmentFile: environmentFile, dataDirectory: data, installDirectory: installDirectory,
            reportsDirectory: reportsDirectory ?? data + "/reports", user: user, afterReboot: afterReboot, ship: ship,
            disrupt: !noDisruption, captureWindow: captureWindow, command: command)
    }
}

/// systemd's EnvironmentFile= format, as far as the package's file uses it: `NAME=value` lines,
/// `#` comments, a value in single or double quotes.
public enum EnvironmentFile {
    public static func read(_ path: String) throws(FileError) -> [String: String] {
        guard let bytes = try DurableFile.read(path, maxBytes: DurableFile.stateFileLimit) else { return [:] }
        return parse(String(decoding: bytes, as: UTF8.self))
    }

    static func parse(_ text: String) -> [String: String] {
        var values: [String: String] = [:]
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = String(raw).trimmingWhitespace
            guard !line.hasPrefix("#"), !line.hasPrefix(";"), let eq = line.firstIndex(of: "=") else { continue }
            let name = String(line[..<eq]).trimmingWhitespace
            var value = String(line[line.index(after: eq)...]).trimmingWhitespace
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            guard !name.isEmpty else { continue }
            values[name] = value
        }
        return values
    }
}
