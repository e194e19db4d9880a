import ArgumentParser
import OrderbooksCore
import OrderbooksCapture

@main
struct Snap: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snap",
        abstract: "Take one snapshot of the order books of every active Polymarket BTC up/down market.",
        discussion: """
            Finds the markets of the 5m, 15m, hourly, 4h and daily series whose window is open, the next \
            window and the previous one (until 2 minutes after its end) on the Gamma API, fetches all their \
            books in one POST /books, and writes one gzip JSONL file to <data-dir>/spool/. Markets whose \
            window has ended are looked up on Gamma, beside the books, until their resolution is final \
            (a resolution row), or --resolution-deadline has passed (a failure row). Failures are \
            written as rows too. Rows are described in docs/FORMAT.md.

            Exit status: 0 every book of every open window captured; 3 partial (some books or markets \
            missing); 4 failed (no book captured); 5 skipped while the CLOB's Retry-After runs; 64 bad \
            flag; 73 snapshot not written (unwritable data directory, full disk, spool/, tmp/, state/ or \
            cache/ a symbolic link); 78 bad environment \
            variable or unreadable CA file. With --check-sandbox: 0 everything denied that must be, 1 not.
            """,
        version: OrderbooksVersion.current)

    @OptionGroup var options: SnapOptions

    func run() throws {
        let environment = ProcessEnvironment.current
        let log = Log(environment: environment)
        let configuration = try settle(log) { try options.configuration(environment: environment) }
        if options.checkSandbox { throw ExitCode(SandboxCheck(configuration: configuration, readProbes: options.probeRead).run()) }
        throw ExitCode(SnapRun(configuration: configuration, log: log).run().rawValue)
    }
}
