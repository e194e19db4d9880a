import Glibc
import Testing
@testable import OrderbooksCore

/// Issue acceptance (docs/READING.md): every recipe of the reading guide runs as written against
/// segments the real snap and seal produce, and gives what the rows themselves give.
///
/// Two collectors (`a`, `b`) snap the same fake every second, each into its own data directory, their snapshots sealed together; `a` misses
/// some slots (no run at all, and one run failed by the CLOB) that `b` covers, so the merge
/// recipe has gaps to fill and books to deduplicate. seal --flush runs midway and at the end with
/// 1-minute segments, so windows have several parts. The runs straddle a 5-minute boundary, so
/// the market that ends there has books from its last seconds and, a minute later, its
/// resolution (recorded by both collectors: readers keep one). `scripts/reading-recipes` then runs every
/// recipe over the sealed tree, over a copy fetched with the doc's `rclone copy`, and through its
/// `rclone mount` (where FUSE is available; said so otherwise), comparing each result with an
/// independent computation from the rows; any mismatch, or a recipe without a check, fails.
@Suite(.serialized) struct ReadingTests {
    @Test func everyRecipeOfTheReadingGuideMatchesTheRows() async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("reading")
            defer { data.remove() }
            // `b` is another machine: a data directory (and a discovery cache) of its own, its
            // snapshots brought into `a`'s spool as they are written, so one seal seals both.
            let other = DataDir("reading-b")
            defer { other.remove() }
            let sealArgs = ["--data-dir", data.root, "--segment-minutes", "1", "--grace-seconds", "10", "--flush"]
            var (aRuns, aSkipped, aFailed, bRuns) = (0, 0, 0, 0)
            // Start 15 s before a 5m window ends; the fake resolves it 5 s after its end, and snap
            // looks it up a minute after the end.
            while (Timestamp.now().seconds + 15) % 300 > 3 { try await Task.sleep(for: .milliseconds(500)) }
            let ending = (Timestamp.now().seconds + 15) / 300 * 300
            _ = try fake.call("/_control/resolution", body: #"{"slug":"btc-updown-5m-\#(ending - 300)","mode":"normal","after":5}"#)
            while Timestamp.now().seconds < ending + 63 {
                let slot = aRuns + aSkipped + aFailed
                // On the whole second, like the timer: both collectors' runs start in one slot.
                let now = Timestamp.now()
                try await Task.sleep(for: .microseconds(1_000_000 - now.microseconds % 1_000_000 + 20_000))
                if slot % 5 == 3 {
                    aSkipped += 1  // `a` does not run: a gap of `no run` in its manifest
                } else {
                    let failing = slot == 7  // the CLOB fails `a`'s run once: a gap with a reason
                    if failing { try fake.fault("clob", "status", #""status":500,"count":1"#) }
                    let outcome = try await runSnap(fake.arguments(dataDirectory: data.root, tls: false) + ["--collector-id", "a"])
                    #expect(outcome.exitCode == (failing ? 4 : 0), "\(outcome)")
                    if failing { aFailed += 1 } else { aRuns += 1 }
                }
                let outcome = try await runSnap(fake.arguments(dataDirectory: other.root, tls: false) + ["--collector-id", "b"])
                #expect(outcome.exitCode == 0, "\(outcome)")
                for name in other.files("spool") {
                    #expect(rename(other.root + "/spool/" + name, data.root + "/spool/" + name) == 0, "\(name)")
                }
                bRuns += 1
                if slot == 11 {
                    let seal = try await runSeal(sealArgs)
                    #expect(seal.exitCode == 0, "\(seal)")
                }
            }
            let seal = try await runSeal(sealArgs)
            #expect(seal.exitCode == 0 && data.files("spool").isEmpty, "\(seal)")
            // The segments are whole and agree with their manifests before anything reads them.
            let verify = try await runSeal(["verify", "--data-dir", data.root])
            #expect(verify.exitCode == 0, "\(verify.stdout)\(verify.stderr)")

            let runner = Paths.packageRoot + "/scripts/reading-recipes"
            let result = try await run("/usr/bin/env", ["python3", runner, data.root + "/sealed", "--primary", "a", "--secondary", "b",
                                                         "--via", "direct", "--via", "rclone-copy", "--via", "rclone-mount"],
                                       env: ProcessEnvironment.current["XDG_CACHE_HOME"].map { ["XDG_CACHE_HOME": $0] } ?? [:])
            print(result.stdout)
            #expect(result.exitCode == 0, "reading-recipes failed:\n\(result.stdout)\n\(result.stderr)")

            // What the runs reached, from the runner's own counts: the conditions the recipes
            // are meant for happened, over the tree and over the rclone copy.
            let summaries = try result.stdout.split(separator: "\n").filter { $0.hasPrefix("READING-SUMMARY ") }
                .map { try JSON.parse(String($0.dropFirst("READING-SUMMARY ".count))) }
            let checked = summaries.filter { $0["skipped"] == nil }
            let vias = Set(checked.compactMap { $0["via"]?.string })
            let bothWays = vias.contains("direct") && vias.contains("rclone-copy")
            #expect(bothWays, "\(result.stdout)")
            for summary in checked {
                let via = summary["via"]?.string ?? "?"
                #expect(summary["failures"]?.intValue == 0, "\(via)")
                // Several parts (the midway flush), secondary books filling the primary's gaps,
                // books recorded by both and kept once, a market with books and its resolution.
                #expect((summary["parts"]?.intValue ?? 0) >= 4, "\(via): \(summary)")
                #expect((summary["merge_merged_from_secondary"]?.intValue ?? 0) > 0, "\(via): no book came from the secondary: \(summary)")
                #expect((summary["merge_duplicates_dropped"]?.intValue ?? 0) > 0, "\(via): nothing was deduplicated: \(summary)")
                #expect((summary["resolution_rows"]?.intValue ?? 0) >= 2 && (summary["resolved_markets"]?.intValue ?? 0) >= 1
                        && (summary["resolution_join_rows"]?.intValue ?? 0) >= 2,
                        "\(via): no market resolved: \(summary)")
            }
            let skipped = summaries.compactMap { $0["skipped"]?.string }
            print("reading: a \(aRuns) runs (\(aSkipped) slots skipped, \(aFailed) failed), b \(bRuns) runs; recipes checked via "
                  + checked.compactMap { $0["via"]?.string }.joined(separator: ", ")
                  + (skipped.isEmpty ? "" : "; rclone mount NOT executed: \(skipped.joined())"))
        }
    }
}
