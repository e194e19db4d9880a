import Glibc
import Testing
@testable import OrderbooksCore

/// A standard folder of the data directory that is a symbolic link (sealed/ on another disk,
/// say) is refused by every tool alike, before anything is read, written or deleted; the data
/// directory itself may be a link. Before, seal wrote parts through a sealed/ link and deleted
/// the spool files while ship, listing without following links, said "nothing to ship" forever.
@Suite struct SealedFolderLinkTests {
    /// A data directory with one sound snapshot of an hour ago's window, and `folder` a link to
    /// an empty directory outside it.
    private func dataWithLinked(_ folder: String) throws -> (DataDir, outside: String, snapshot: String) {
        let data = DataDir("link-" + folder)
        try DurableFile.makeDirectories(data.root + "/spool")
        let startedAt = Timestamp(seconds: (Timestamp.now().seconds - 7200) / 3600 * 3600 + 5)
        let name = snapshotName(startedAt, collector: "c", runId: "0123456789abcdef")
        createFile(data.root + "/spool", Array(name.utf8),
                   try Gzip.compress(Array((syntheticRows(tag: "l", startedAt: startedAt, count: 2).joined(separator: "\n") + "\n").utf8)))
        let outside = data.parent + "/elsewhere"
        try DurableFile.makeDirectories(outside)
        #expect(symlink(outside, data.root + "/" + folder) == 0)
        return (data, outside, name)
    }

    /// Every tool refuses, and nothing moves: the spool files stay, nothing lands outside.
    private func expectRefusedByEveryTool(_ data: DataDir, _ folder: String, outside: String, spool: [String]) async throws {
        let said = "\(data.root)/\(folder) is a symbolic link, not a directory"
        let seal = try await runBounded(Paths.seal, ["--data-dir", data.root, "--flush"], seconds: 30)
        #expect(seal.exitCode == 73 && seal.outcome.stderr.contains(said), "\(seal)")
        let verify = try await runBounded(Paths.seal, ["verify", "--data-dir", data.root], seconds: 30)
        #expect(verify.exitCode == 1 && verify.outcome.stdout.contains("BAD  " + said), "\(verify)")
        for command in [["--dry-run"], [], ["prune", "--dry-run"], ["prune"]] {
            let arguments = (command.first == "prune" ? ["prune"] : []) + ["--data-dir", data.root, "--remote", data.parent + "/remote"]
                + command.filter { $0 != "prune" }
            let ship = try await runBounded(Paths.ship, arguments, seconds: 60)
            #expect(ship.exitCode == 78 && ship.outcome.stderr.contains(said) && !ship.outcome.stderr.contains("nothing to ship"), "ship \(command): \(ship)")
        }
        #expect(data.files("spool") == spool.sorted())
        #expect(data.files("sealed").isEmpty && data.files("quarantine").isEmpty)
        #expect(DataDir(path: outside).files("").isEmpty)
        // Capture goes on (a snapshot not taken is lost for good): snap writes only spool/.
        let dead = "http://127.0.0.1:1"
        let snap = try await runBounded(Paths.snap, ["--data-dir", data.root, "--gamma-url", dead, "--clob-url", dead], seconds: 30)
        #expect(snap.exitCode == 4 && data.files("spool").count == spool.count + 1, "\(snap)")
        #expect(DataDir(path: outside).files("").isEmpty)
    }

    @Test func aSealedLinkIsRefusedAndARealFolderThenShips() async throws {
        let (data, outside, snapshot) = try dataWithLinked("sealed")
        defer { data.remove() }
        try await expectRefusedByEveryTool(data, "sealed", outside: outside, spool: [snapshot])
        // The operator's fix: a real directory. Sealed, then shipped to a local folder.
        #expect(unlink(data.root + "/sealed") == 0)
        #expect(try await runBounded(Paths.seal, ["--data-dir", data.root, "--flush"], seconds: 30).exitCode == 0)
        let ship = try await runBounded(Paths.ship, ["--data-dir", data.root, "--remote", data.parent + "/remote"], seconds: 120)
        #expect(ship.exitCode == 0 && ship.outcome.stderr.contains("failed=0 refused=0") && !ship.outcome.stderr.contains("verified=0"), "\(ship)")
    }

    @Test func aQuarantineLinkIsRefusedBeforeAnythingMoves() async throws {
        let (data, outside, snapshot) = try dataWithLinked("quarantine")
        defer { data.remove() }
        // A damaged file that would go to quarantine: it stays in the spool.
        let damaged = snapshotName(Timestamp(seconds: (Timestamp.now().seconds - 7200) / 3600 * 3600 + 6), collector: "c", runId: "fedcba9876543210")
        createFile(data.root + "/spool", Array(damaged.utf8), Array("not gzip".utf8))
        try await expectRefusedByEveryTool(data, "quarantine", outside: outside, spool: [snapshot, damaged])
    }
}
