import ArgumentParser
import Glibc

/// A bad environment variable or an unusable file: exit status 78 (a bad flag is a
/// `ValidationError`, exit status 64).
public struct ConfigurationError: Error, CustomStringConvertible {
    public var description: String

    public init(description: String) {
        self.description = description
    }
}

/// Settles a tool's configuration; a `ConfigurationError` is logged and ends the process with
/// status 78 (a `ValidationError` from a flag is left to ArgumentParser: status 64).
public func settle<T>(_ log: Log, _ configure: () throws -> T) throws -> T {
    do {
        return try configure()
    } catch let error as ConfigurationError {
        log(.error, "configuration error: \(error)")
        throw ExitCode(ExitStatus.configuration.rawValue)
    }
}

/// Options every tool shares: where the data lives.
public struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: ArgumentHelp(
        "Data directory. [env: ORDERBOOKS_DATA_DIR] [default: $STATE_DIRECTORY when set (systemd's StateDirectory=), else /var/lib/orderbooks]",
        valueName: "path"))
    var dataDirectory: String?

    public init() {}

    public func dataDirectory(_ env: [String: String]) throws -> String {
        let stateDirectory = env["STATE_DIRECTORY"].flatMap { $0.split(separator: ":").first.map(String.init) }
        return try Setting.resolve(dataDirectory, "ORDERBOOKS_DATA_DIR", env, default: stateDirectory ?? "/var/lib/orderbooks",
                                   expected: "a directory path") { $0.isEmpty ? nil : $0 }
    }
}

package enum Setting {
    /// `flag` if given, else the environment variable if set and non-empty, else `fallback`.
    package static func resolve<T>(_ flag: String?, _ variable: String, _ env: [String: String], default fallback: T,
                           expected: String, parse: (String) -> T?) throws -> T {
        if let flag {
            guard let value = parse(flag) else { throw ValidationError("\(flagName(variable)): '\(flag)' is not \(expected)") }
            return value
        }
        if let text = env[variable], !text.isEmpty {
            guard let value = parse(text) else { throw ConfigurationError(description: "\(variable)='\(text)' is not \(expected)") }
            return value
        }
        return fallback
    }

    /// `ORDERBOOKS_DATA_DIR` → `--data-dir`: each flag is named after its variable.
    package static func flagName(_ variable: String) -> String {
        "--" + String(variable.dropFirst("ORDERBOOKS_".count).lowercased().map { $0 == "_" ? "-" : $0 })
    }

    package static func baseURL(_ text: String) -> String? {
        guard text.hasPrefix("http://") || text.hasPrefix("https://"), !text.contains(where: \.isWhitespace) else { return nil }
        var url = Substring(text)
        while url.hasSuffix("/") { url.removeLast() }
        return url.count > "https://".count - 1 ? String(url) : nil
    }
}
