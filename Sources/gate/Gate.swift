import ArgumentParser
import OrderbooksCore
import OrderbooksGate

@main
struct Gate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gate",
        abstract: "Check a live orderbooks install: liveness for monitors (gate health), the production gate and its report (gate run).",
        discussion: "docs/OPERATIONS.md (\"Watching it\", \"The production gate\") describes every check; docs/CUTOVER.md the way to a verdict.",
        version: OrderbooksVersion.current,
        subcommands: [Health.self, Run.self])

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

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the production gate on this host (as root) and write its report.",
            discussion: """
                Checks, in order: install, capture, [after the reboot], forced restart, network failure, upload, integrity, \
                resources; then the remaining risks. The forced restart SIGKILLs a running snap and the network failure cuts \
                snap's network for a few seconds: those runs are recorded as failed runs naming the gate. The report goes to \
                <reports-dir>/<UTC time>/ (gate.md, gate.json, inventory.json, SHA256SUMS). Verdict: PRODUCTION_READY only when \
                every check passes on a real host against Polymarket's endpoints, shipping to Google Drive, with two full hours \
                sealed and verified; BLOCKED_NEEDS_VPS_ACCESS when every check passes on stand-ins; NOT_READY otherwise. \
                Exit status: 0 PRODUCTION_READY, 1 NOT_READY, 2 BLOCKED_NEEDS_VPS_ACCESS, 69 --ship could not upload the report, \
                73 the report could not be written, 77 not root, 64 bad flag, 78 unreadable env file.
                """)

        @OptionGroup var options: GateRunOptions

        func run() async throws {
            let environment = ProcessEnvironment.current
            let log = Log(environment: environment)
            let configuration = try settle(log) { try options.configuration(command: CommandLine.arguments) }
            throw ExitCode(await GateRun(configuration: configuration, log: log).run())
        }
    }
}
