import Glibc
import Testing
@testable import OrderbooksCore

/// Seconds the pipeline soak runs: short in CI, 30 minutes and more from scripts/soak.
private let soakSeconds = ProcessEnvironment.current["ORDERBOOKS_PIPELINE_SECONDS"].flatMap(Int.init) ?? 75

/// Issue acceptance (seal): snap every second and seal every minute with 1-minute segments,
/// both SIGKILLed at random moments. The segments must hold exactly the rows of every complete
/// spool file, `seal verify` must pass, and each manifest's coverage and gaps must match the
/// runs actually made.
@Suite(.serialized) struct PipelineTests {
    @Test func snapAndSealKilledAtRandomLoseAndRepeatNothing() async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("pipeline")
            defer { data.remove() }
            // Every complete spool file, hard-linked as soon as snap exits: seal deletes the
            // spool name later, the copy stays for the final comparison.
            let shadow = data.parent + "/shadow"
            #expect(mkdir(shadow, 0o755) == 0)
            let deadline = Timestamp.now().seconds + Int64(soakSeconds)
            let sealArgs = ["--data-dir", data.root, "--segment-minutes", "1", "--grace-seconds", "10"]

            async let snaps: (runs: Int, killed: Int) = {
                var (runs, killed) = (0, 0)
                var linked = Set<String>()
                while Timestamp.now().seconds < deadline {
                    // On the whole second, like the timer.
                    let now = Timestamp.now()
                    try await Task.sleep(for: .microseconds(1_000_000 - now.microseconds % 1_000_000))
                    let args = fake.arguments(dataDirectory: data.root, tls: false) + ["--collector-id", "soak"]
                    if Int.random(in: 0..<10) == 0 {
                        let outcome = try await runAndKill(Paths.snap, args, after: .milliseconds(Int.random(in: 0...40)))
                        if outcome.exitCode == nil { killed += 1 }
                    } else {
                        let outcome = try await runSnap(args)
                        #expect(outcome.exitCode == 0, "\(outcome)")
                    }
                    runs += 1
                    for name in data.files("spool") where !linked.contains(name) && name.hasSuffix(".jsonl.gz") {
                        #expect(link(data.root + "/spool/" + name, shadow + "/" + name) == 0, "spool/\(name) vanished before it was copied")
                        linked.insert(name)
                    }
                }
                return (runs, killed)
            }()
            async let seals: (runs: Int, killed: Int) = {
                var (runs, killed) = (0, 0)
                while Timestamp.now().seconds < deadline {
                    // Every minute, a few seconds past the grace of the window that just closed.
                    let now = Timestamp.now()
                    let next = (72 - now.seconds % 60) % 60 * 1_000_000 + 500_000
                    try await Task.sleep(for: .microseconds(min(next, max(0, deadline * 1_000_000 - now.microseconds))))
                    guard Timestamp.now().seconds < deadline else { break }
                    if Bool.random() {
                        let outcome = try await runAndKill(Paths.seal, sealArgs, after: .milliseconds(Int.random(in: 0...50)))
                        if outcome.exitCode == nil { killed += 1 }
                        #expect(outcome.exitCode == nil || outcome.exitCode == 0, "\(outcome)")
                    } else {
                        let outcome = try await runSeal(sealArgs)
                        #expect(outcome.exitCode == 0, "\(outcome)")
                    }
                    runs += 1
                }
                return (runs, killed)
            }()
            let (snapRuns, sealRuns) = try await (snaps, seals)
            let final = try await runSeal(sealArgs + ["--flush"])
            #expect(final.exitCode == 0 && data.files("spool").isEmpty, "\(final)")

            // Rows: exactly those of the complete spool files, each once.
            var expected: [String: [String]] = [:]
            var runs: [String: (startedAt: Timestamp, outcome: String)] = [:]
            for name in DataDirectory.names(in: shadow) ?? [] {
                let text = try Gzip.decompress(try DurableFile.read(shadow + "/" + name) ?? [])
                let lines = text.split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) }
                expected[name] = lines
                let run = try JSON.parse(lines.last ?? "")
                runs[name] = (Timestamp.parse(run["started_at"]?.string ?? "")!, run["outcome"]?.string ?? "")
            }
            let sealed = try await data.sealedLines()
            let all = expected.values.flatMap { $0 }
            #expect(sealed.count == all.count && Set(sealed) == Set(all), "sealed \(sealed.count) rows, spool files held \(all.count)")
            #expect(Set(sealed).count == sealed.count, "a row was sealed twice")

            // Coverage: recomputed here from the runs each manifest names.
            let find = try await run("/usr/bin/find", [data.root + "/sealed", "-name", "*.manifest.json"])
            var manifests = 0
            for path in find.stdout.split(separator: "\n") {
                let manifest = try JSON.parse(try DurableFile.read(String(path)) ?? [])
                let start = Timestamp.parse(manifest["window_start"]?.string ?? "")!
                let until = Timestamp.parse(manifest["coverage_until"]?.string ?? "")!
                let slots = Int((until.microseconds - start.microseconds + 999_999) / 1_000_000)
                var covered = Set<Int>()
                for source in manifest["sources"]?.array ?? [] {
                    let run = runs[source["name"]?.string ?? ""]!
                    if run.outcome == "complete" || run.outcome == "partial" {
                        covered.insert(Int((run.startedAt.microseconds - start.microseconds) / 1_000_000))
                    }
                }
                var gaps: [(Int, Int)] = []
                for slot in 0..<slots where !covered.contains(slot) {
                    if let last = gaps.last, last.1 == slot { gaps[gaps.count - 1].1 = slot + 1 } else { gaps.append((slot, slot + 1)) }
                }
                #expect(manifest["slots_expected"]?.intValue == slots && manifest["slots_covered"]?.intValue == covered.count, "\(path)")
                // Adjacent gaps with different reasons count as one here.
                var listed: [(Int, Int)] = []
                for gap in manifest["gaps"]?.array ?? [] {
                    let from = Int((Timestamp.parse(gap["start"]?.string ?? "")!.microseconds - start.microseconds) / 1_000_000)
                    let to = Int((Timestamp.parse(gap["end"]?.string ?? "")!.microseconds - start.microseconds + 999_999) / 1_000_000)
                    if let last = listed.last, last.1 == from { listed[listed.count - 1].1 = to } else { listed.append((from, to)) }
                }
                #expect(listed.map(\.0) == gaps.map(\.0) && listed.map(\.1) == gaps.map(\.1), "\(path): gaps \(listed) against \(gaps)")
                manifests += 1
            }
            print("pipeline soak: \(soakSeconds) s, snap runs \(snapRuns.runs) (\(snapRuns.killed) SIGKILLed), "
                  + "seal runs \(sealRuns.runs) (\(sealRuns.killed) SIGKILLed), \(manifests) parts, \(all.count) rows from "
                  + "\(expected.count) spool files: every row sealed exactly once, coverage and gaps match in every manifest")
        }
    }
}
