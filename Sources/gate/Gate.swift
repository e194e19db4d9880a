import ArgumentParser
import OrderbooksCore
import OrderbooksGate

@main
struct Gate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gate",
        abstract: "Check a live orderbooks install: liveness for monitors (gate health).",
        discussion: "docs/OPERATIONS.md, \"Watching it\", describes every check and threshold.",
        version: OrderbooksVersion.current,
        subcommands: [Health.self])

    struct Health: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say whether capture, sealing and shipping are alive, from the data directory and systemd; read-only, safe every minute.",
            discussion: """
                The first line is the summary (ORDERBOOKS OK|WARNING|CRITICAL|UNKNOWN: …), then one line per check: capture, \
                sealing, shipping, quarantine, throttling, disk, timers. Exit status, as monitoring plugins: 0 OK, 1 WARNING, \
                2 CRITICAL (also: no snapshot at all), 3 UNKNOWN (the data directory or systemd could not be read, or the \
                textfile not written); 64 bad flag, 78 bad environment variable.
                """)

        @OptionGroup var options: HealthOptions

        func run() async throws {
            let environment = ProcessEnvironment.current
            let log = Log(environment: environment)
            let configuration = try settle(log) { try options.configuration(environment: environment) }
            throw ExitCode(await OrderbooksGate.Health(configuration: configuration, log: log).run().rawValue)
        }
    }
}
