import ArgumentParser
import OrderbooksCore
import OrderbooksShipping

@main
struct Ship: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ship",
        abstract: "Upload sealed segments and their manifests with rclone, prove each arrived intact, and record the proof; prune what is proven; audit the remote.",
        discussion: """
            Exit status: 0 every part verified on the remote (or nothing to do, or another ship is running); 1 a remote copy \
            is missing, of the wrong size or hash, or has differing duplicates, even after a repair, or the remote holds another \
            part under its name (not overwritten); 65 a sealed file no longer \
            matches its manifest: refused, not uploaded; 69 remote unreachable or a transfer failed: the next run retries; \
            75 quota or rate limit; 77 credentials or permissions refused; 73 a receipt could not be written; 74 a sealed \
            file or directory could not be read; 64 bad flag; 78 no remote, rclone missing, a bad setting, or a folder of \
            the data directory that is a symbolic link. With several, the first of \
            78, 73, 65, 77, 75, 69, 1, 74. Receipts: <data-dir>/receipts/ (docs/FORMAT.md). rclone reads its own RCLONE_* \
            variables. `ship --dry-run` runs the default command; its options: ship run --help. `ship check --help`: the audit.
            """,
        version: OrderbooksVersion.current,
        subcommands: [Run.self, Prune.self, Check.self],
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

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Audit the remote: every verified or pruned part must still be there, once, as recorded. Never deletes.",
            discussion: """
                One listing per day directory (a download and sha256 per file where the remote has no md5, or with --read-data). \
                Reported: missing, changed, duplicated (copies that differ; identical copies are a warning) and unchecked files of \
                parts whose receipt says verified or that prune deleted here; unknown remote files (left alone). A part that does not \
                match is demoted (its receipt says failed again, so the next ship re-sends it) while its local files are whole, and \
                reported as lost, with what it held, when they are not. Shares the lock of ship and prune. Exit status: 0 every \
                checked part intact (warnings aside), or another ship, prune or check is running; 1 a part is missing, changed, \
                duplicated or lost; 69 remote unreachable; 75 quota; 77 credentials refused; 73 a receipt or the lock could not be \
                written; 74 receipts/ or sealed/ could not be read; 64 bad flag; 78 no remote, rclone missing, a bad setting, or a \
                folder of the data directory that is a symbolic link. With several, the first of 78, 73, 77, 75, 69, 1, 74.
                """)

        @OptionGroup var options: CheckOptions

        func run() async throws {
            let environment = ProcessEnvironment.current
            let log = Log(environment: environment)
            let configuration = try settle(log) { try options.ship.configuration(environment: environment, command: CommandLine.arguments) }
            throw ExitCode(await ShipCheck(configuration: configuration, readData: options.readData, json: options.json, log: log).run().rawValue)
        }
    }
}
