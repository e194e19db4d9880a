import ArgumentParser
import OrderbooksCore
import OrderbooksSealing

@main
struct Seal: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seal",
        abstract: "Merge the snapshot files of each closed time window into one segment with a manifest, or check segments.",
        discussion: """
            Exit status: 0 done (or another seal is running, or nothing to seal); 3 sealed, but a damaged spool file \
            went to quarantine; 73 a segment could not be written (full disk, unwritable directory, a folder of the data \
            directory that is a symbolic link): its spool files are kept; 74 a file could not be read, or a part did not read back as written: its spool files are kept; \
            64 bad flag; 78 bad environment variable. seal verify: 0 all good, 1 a mismatch. Formats: docs/FORMAT.md. \
            `seal --flush` runs the default command; its options: seal run --help.
            """,
        version: OrderbooksVersion.current,
        subcommands: [Run.self, Verify.self],
        defaultSubcommand: Run.self)

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Seal every closed window (the default command).",
            discussion: """
                Each window's spool files become <data-dir>/sealed/YYYY/MM/DD/<window>_<minutes>m_<collector>_part<N>.jsonl.gz \
                and a .manifest.json beside it. Spool files are deleted only once both are durable and re-read; damaged \
                ones go to <data-dir>/quarantine/ with a reason, their readable rows salvaged. Safe to kill and to re-run.
                """)

        @OptionGroup var options: SealOptions

        func run() throws {
            let environment = ProcessEnvironment.current
            let log = Log(environment: environment)
            let configuration = try settle(log) { try options.configuration(environment: environment, command: CommandLine.arguments) }
            throw ExitCode(SealRun(configuration: configuration, log: log).run().rawValue)
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-read sealed segments and check them against their manifests.",
            discussion: "Checks gzip integrity, that every line is a JSON row, and bytes, sha256, md5, rows and rows by kind.")

        @OptionGroup var common: CommonOptions

        @Argument(help: ArgumentHelp("Segments, manifests or directories to check. [default: everything under <data-dir>/sealed]", valueName: "path"))
        var paths: [String] = []

        func run() throws {
            let environment = ProcessEnvironment.current
            let log = Log(environment: environment)
            let root = try settle(log) { try common.dataDirectory(environment) }
            let verify = paths.isEmpty ? SealVerify(dataDirectory: DataDirectory(root: root), log: log) : SealVerify(paths: paths, log: log)
            throw ExitCode(verify.run().rawValue)
        }
    }
}
