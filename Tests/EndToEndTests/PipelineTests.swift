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

            let tmp = data.root + "/tmp"

            // Snap: one run in ten SIGKILLed at a random moment; and a kill timed from the run's
            // own progress (mid-write: its temporary file is there) every tenth run until one
            // has landed, so that one surely happens.
            async let snaps: (runs: Int, killed: Int, midWrite: Int, failed: Int, finished: [String]) = {
                var (runs, killed, midWrite, failed) = (0, 0, 0, 0)
                var finished: [String] = []
                var linked = Set<String>()
                while Timestamp.now().seconds < deadline {
                    // On the whole second, like the timer.
                    let now = Timestamp.now()
                    try await Task.sleep(for: .microseconds(1_000_000 - now.microseconds % 1_000_000))
                    let args = fake.arguments(dataDirectory: data.root, tls: false) + ["--collector-id", "soak"]
                    if midWrite == 0 && runs % 10 == 5 {
                        let (outcome, landed) = try await runAndKillMidWrite(Paths.snap, args, temporaryDirectory: tmp)
                        if outcome.exitCode == nil { killed += 1 }
                        if landed { midWrite += 1 }
                    } else if Int.random(in: 0..<10) == 0 {
                        let outcome = try await runAndKill(Paths.snap, args, after: .milliseconds(Int.random(in: 0...40)))
                        if outcome.exitCode == nil { killed += 1 }
                    } else {
                        // Every 15th run the CLOB fails once: a failed run is a gap in the coverage, not a slot covered.
                        let failing = runs % 15 == 9
                        if failing { try fake.fault("clob", "status", #""status":500,"count":1"#) }
                        let outcome = try await runSnap(args)
                        #expect(outcome.exitCode == (failing ? 4 : 0), "\(outcome)")
                        if failing { failed += 1 }
                        // The file this run says it wrote: the coverage check below is against these.
                        if let file = outcome.stderr.split(separator: " ").first(where: { $0.hasPrefix("file=") }) {
                            finished.append(String(file.split(separator: "/").last ?? ""))
                        }
                    }
                    runs += 1
                    for name in data.files("spool") where !linked.contains(name) && name.hasSuffix(".jsonl.gz") {
                        #expect(link(data.root + "/spool/" + name, shadow + "/" + name) == 0, "spool/\(name) vanished before it was copied")
                        linked.insert(name)
                    }
                }
                return (runs, killed, midWrite, failed, finished)
            }()
            // Seal: every minute; killed mid-write until a kill has landed while it wrote a
            // segment and one while it wrote a manifest (its segment already under its final
            // name, left for the next run to remove), then half of the runs at a random moment.
            async let seals: (runs: Int, killed: Int, midWrite: Int) = {
                var (runs, killed, midWrite) = (0, 0, 0)
                while Timestamp.now().seconds < deadline {
                    // Every minute, a few seconds past the grace of the window that just closed.
                    let now = Timestamp.now()
                    let next = (72 - now.seconds % 60) % 60 * 1_000_000 + 500_000
                    try await Task.sleep(for: .microseconds(min(next, max(0, deadline * 1_000_000 - now.microseconds))))
                    guard Timestamp.now().seconds < deadline else { break }
                    let outcome: ProcessOutcome
                    if midWrite < 2 {
                        let killedRun = try await runAndKillMidWrite(Paths.seal, sealArgs, temporaryDirectory: tmp, nth: midWrite + 1)
                        outcome = killedRun.outcome
                        if killedRun.midWrite { midWrite += 1 }
                    } else if Bool.random() {
                        outcome = try await runAndKill(Paths.seal, sealArgs, after: .milliseconds(Int.random(in: 0...50)))
                    } else {
                        outcome = try await runSeal(sealArgs)
                    }
                    if outcome.exitCode == nil { killed += 1 }
                    #expect(outcome.exitCode == nil || outcome.exitCode == 0, "\(outcome)")
                    runs += 1
                }
                return (runs, killed, midWrite)
            }()
            var (snapRuns, sealRuns) = try await (snaps, seals)
            // No snap kill landed mid-write in the soak (its temporary file lives a few milliseconds,
            // and under load the kill can come after the rename): more attempts until one does.
            for _ in 0..<100 where snapRuns.midWrite == 0 {
                let args = fake.arguments(dataDirectory: data.root, tls: false) + ["--collector-id", "soak"]
                let (outcome, landed) = try await runAndKillMidWrite(Paths.snap, args, temporaryDirectory: tmp)
                snapRuns.runs += 1
                if outcome.exitCode == nil { snapRuns.killed += 1 }
                if landed { snapRuns.midWrite += 1 }
                for name in data.files("spool") where name.hasSuffix(".jsonl.gz") && access(shadow + "/" + name, F_OK) != 0 {
                    #expect(link(data.root + "/spool/" + name, shadow + "/" + name) == 0)
                }
            }
            // Too few seal runs had a closed window to write (the soak is short): kill the flush,
            // each time over a fresh spool file so that it surely has a segment and a manifest to write.
            for _ in 0..<20 where sealRuns.midWrite < 2 {
                let snap = try await runSnap(fake.arguments(dataDirectory: data.root, tls: false) + ["--collector-id", "soak"])
                #expect(snap.exitCode == 0, "\(snap)")
                for name in data.files("spool") where name.hasSuffix(".jsonl.gz") && access(shadow + "/" + name, F_OK) != 0 {
                    #expect(link(data.root + "/spool/" + name, shadow + "/" + name) == 0)
                }
                let (outcome, landed) = try await runAndKillMidWrite(Paths.seal, sealArgs + ["--flush"], temporaryDirectory: tmp, nth: sealRuns.midWrite + 1)
                #expect(outcome.exitCode == nil || outcome.exitCode == 0, "\(outcome)")
                sealRuns.runs += 1
                if outcome.exitCode == nil { sealRuns.killed += 1 }
                if landed { sealRuns.midWrite += 1 }
            }
            #expect(snapRuns.killed > 0 && snapRuns.midWrite > 0 && snapRuns.failed > 0,
                    "snap: \(snapRuns.killed) killed, \(snapRuns.midWrite) mid-write, \(snapRuns.failed) failed")
            #expect(sealRuns.killed > 0 && sealRuns.midWrite >= 2, "seal: \(sealRuns.killed) killed, \(sealRuns.midWrite) mid-write")
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

            // Every run that finished left its file, and those files are all the runs made.
            #expect(Set(snapRuns.finished).isSubset(of: Set(expected.keys)), "a finished run's file is missing")

            // Coverage and gaps: recomputed here from the runs made (the spool files kept aside),
            // by time; and every run is a source of exactly one manifest. Each part covers the
            // runs of its own sources only (a window sealed by a flush and then again has two
            // parts, each with its own gaps: FORMAT.md), so the runs counted are those of the
            // files the part names, dated by their own run rows.
            let find = try await run("/usr/bin/find", [data.root + "/sealed", "-name", "*.manifest.json"])
            var manifests = 0
            var sources: [String] = []
            for path in find.stdout.split(separator: "\n") {
                let manifest = try JSON.parse(try DurableFile.read(String(path)) ?? [])
                let start = Timestamp.parse(manifest["window_start"]?.string ?? "")!
                let end = Timestamp.parse(manifest["window_end"]?.string ?? "")!
                let until = Timestamp.parse(manifest["coverage_until"]?.string ?? "")!
                let created = Timestamp.parse(manifest["created_at"]?.string ?? "")!
                // Coverage runs to the window's end, or, for a window sealed while still open
                // (--flush), to when seal ran: never past either.
                #expect(start.microseconds <= until.microseconds && until.microseconds <= min(end.microseconds, created.microseconds),
                        "\(path): coverage until \(until.iso8601), created \(created.iso8601)")
                if end.microseconds + 60_000_000 <= created.microseconds { #expect(until == end, "\(path): a closed window's coverage ends with it") }
                let own = (manifest["sources"]?.array ?? []).compactMap { $0["name"]?.string }
                sources += own
                let slots = Int((until.microseconds - start.microseconds + 999_999) / 1_000_000)
                var covered = Set<Int>()
                for run in own.compactMap({ runs[$0] })
                    where run.startedAt.microseconds >= start.microseconds && run.startedAt.microseconds < until.microseconds {
                    if run.outcome == "complete" || run.outcome == "partial" {
                        covered.insert(Int((run.startedAt.microseconds - start.microseconds) / 1_000_000))
                    }
                }
                var gaps: [(Int, Int)] = []
                for slot in 0..<max(0, slots) where !covered.contains(slot) {
                    if let last = gaps.last, last.1 == slot { gaps[gaps.count - 1].1 = slot + 1 } else { gaps.append((slot, slot + 1)) }
                }
                #expect(manifest["slots_expected"]?.intValue == slots && manifest["slots_covered"]?.intValue == covered.count, "\(path)")
                // Adjacent gaps with different reasons count as one here.
                var listed: [(Int, Int)] = []
                for gap in manifest["gaps"]?.array ?? [] {
                    let gapStart = Timestamp.parse(gap["start"]?.string ?? "")!.microseconds
                    let gapEnd = Timestamp.parse(gap["end"]?.string ?? "")!.microseconds
                    #expect(start.microseconds <= gapStart && gapStart < gapEnd && gapEnd <= until.microseconds, "\(path): a gap outside the coverage: \(gap)")
                    let from = Int((gapStart - start.microseconds) / 1_000_000)
                    let to = Int((gapEnd - start.microseconds + 999_999) / 1_000_000)
                    if let last = listed.last, last.1 == from { listed[listed.count - 1].1 = to } else { listed.append((from, to)) }
                }
                #expect(listed.map(\.0) == gaps.map(\.0) && listed.map(\.1) == gaps.map(\.1), "\(path): gaps \(listed) against \(gaps)")
                manifests += 1
            }
            #expect(sources.sorted() == expected.keys.sorted(), "the manifests' sources are not the runs made")
            print("pipeline soak: \(soakSeconds) s, snap runs \(snapRuns.runs) (\(snapRuns.killed) SIGKILLed, \(snapRuns.midWrite) mid-write, "
                  + "\(snapRuns.failed) failed by the CLOB), "
                  + "seal runs \(sealRuns.runs) (\(sealRuns.killed) SIGKILLed, \(sealRuns.midWrite) mid-write), \(manifests) parts, \(all.count) rows from "
                  + "\(expected.count) spool files: every row sealed exactly once, coverage and gaps match in every manifest")
        }
    }
}
