import ArgumentParser
import OrderbooksCore
import OrderbooksShipping

@main
struct Ship: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ship",
        abstract: "Upload sealed segments and their manifests with rclone, prove each arrived intact, and record the proof; or prune what is proven.",
        discussion: """
            Exit status: 0 every part verified on the remote (or nothing to do, or another ship is running); 1 a remote copy \
            is missing, of the wrong size or hash, or has differing duplicates, even after a repair, or the remote holds another \
            part under its name (not overwritten); 65 a sealed file no longer \
            matches its manifest: refused, not uploaded; 69 remote unreachable or a transfer failed: the next run retries; \
            75 quota or rate limit; 77 credentials or permissions refused; 73 a receipt could not be written; 74 a sealed \
            file or directory could not be read; 64 bad flag; 78 no remote, rclone missing, a bad setting, or a folder of \
            the data directory that is a symbolic link. With several, the first of \
            78, 73, 65, 77, 75, 69, 1, 74. Receipts: <data-dir>/receipts/ (docs/FORMAT.md). rclone reads its own RCLONE_* \
            variables. `ship --dry-run` runs the default command; its options: ship run --help.
            """,
        version: OrderbooksVersion.current,
        subcommands: [Run.self, Prune.self],
        defaultSubcommand: Run.self)

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ship every sealed part without a verified receipt (the default command).",
            discussion: """
                Each part's segment, then its manifest, goes to <remote>/YYYY/MM/DD/ with rclone copy, and is checked in a \
                fresh listing: present (once, or in identical copies), same size, md5 equal to the manifest's (or sha256 of a download when the remote \
                has no md5). A receipt per part records the proof. Nothing local is deleted. Safe to kill and to re-run.
                """)

        @OptionGroup var options: ShipOptions

        func run() async throws {
            let environment = ProcessEnvironment.current
            let log = Log(environment: environment)
            let configuration = try settle(log) { try options.configuration(environment: environment, command: CommandLine.arguments) }
            throw ExitCode(await ShipRun(configuration: configuration, log: log).run().rawValue)
        }
    }

    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete local parts that are verified on the remote and older than --keep-days.",
            discussion: """
                A part goes only when its receipt says verified, its window ended --keep-days ago, its local files still match \
                the receipt, and a fresh remote listing still matches. A listing that no longer matches turns the receipt back \
                to failed (exit 1): the next ship sends the part again. Each deletion is recorded in <part>.pruned.json.
                """)

        @OptionGroup var options: PruneOptions

        func run() async throws {
            let environment = ProcessEnvironment.current
            let log = Log(environment: environment)
            let configuration = try settle(log) { try options.configuration(environment: environment, command: CommandLine.arguments) }
            throw ExitCode(await ShipPrune(configuration: configuration, log: log).run().rawValue)
        }
    }
}
