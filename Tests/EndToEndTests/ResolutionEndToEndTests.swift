import Glibc
import Testing
@testable import OrderbooksCore

/// Seconds the snap timer runs at least: 0 in CI (until every named case is in), 1200 and more
/// from scripts/soak, so that windows end and resolve while it runs.
private let minimumSeconds = ProcessEnvironment.current["ORDERBOOKS_RESOLUTION_SECONDS"].flatMap(Int64.init) ?? 0

private func number(_ value: JSONValue?) -> Double? {
    if case .number(let text)? = value { Double(text) } else { nil }
}

/// Issue 10 acceptance: a snap timer records one resolution per ended market (a late one and a
/// disputed one among them, each seen unresolved first), a failure row for one that never
/// resolves, each outcome as the fake decided it and never before it did; the manifests list
/// them; and a lost cache records a resolution twice at worst.
@Suite(.serialized) struct ResolutionEndToEndTests {
    @Test func aSnapTimerRecordsEachEndedMarketsResolutionOnce() async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("resolutions")
            defer { data.remove() }
            // Not right after a 5m window's end: the late market below must be looked up
            // unresolved before it resolves.
            while Timestamp.now().seconds % 300 < 40 { try await Task.sleep(for: .seconds(1)) }
            let t0 = Timestamp.now().seconds
            let lastEnd = t0 / 300 * 300
            // The oldest market queued never resolves; the deadline runs out 45 s into the test.
            let never = "btc-updown-5m-\(lastEnd - 1500)"
            let deadline = t0 - (lastEnd - 1200) + 45
            let late = "btc-updown-5m-\(lastEnd - 300)"
            // Ended 5 minutes ago or more: disputed from its first lookup on, its standing proposal
            // the wrong outcome in final-looking prices (the fake's README).
            let disputed = "btc-updown-5m-\(lastEnd - 600)"
            _ = try fake.call("/_control/resolution", body: #"{"slug":"\#(never)","mode":"never"}"#)
            // The two 5m windows between them resolve on time, so that several are surely there.
            for start in [lastEnd - 1200, lastEnd - 900] {
                _ = try fake.call("/_control/resolution", body: #"{"slug":"btc-updown-5m-\#(start)","mode":"normal","after":60}"#)
            }
            _ = try fake.call("/_control/resolution", body: #"{"slug":"\#(late)","mode":"late","after":\#(t0 - lastEnd + 50)}"#)
            _ = try fake.call("/_control/resolution", body: #"{"slug":"\#(disputed)","mode":"disputed","after":\#(t0 - lastEnd + 300 + 30)}"#)
            let args = fake.arguments(dataDirectory: data.root, tls: false)
                + ["--collector-id", "res", "--resolution-deadline", String(deadline)]

            // A first run on an empty directory starts the queue at its own time: nothing ended
            // before the install is looked up. Then the cache is lost: the windows of the last
            // `deadline` seconds are queued again.
            let first = try await runSnap(args)
            #expect(first.exitCode == 0, "\(first)")
            #expect(try data.validatedSpool().values.flatMap { $0.rows("resolution") }.isEmpty, "a fresh install looked up the past")
            #expect(unlink(data.root + "/cache/discovery.json") == 0)
            let lostAt = Timestamp.now().seconds

            // The timer, every second, until the named cases are in.
            var runs = 0
            var done = false
            var read = Set<String>(), resolved = Set<String>(), gaveUp = Set<String>()
            while !done && Timestamp.now().seconds < t0 + max(300, minimumSeconds) || Timestamp.now().seconds < t0 + minimumSeconds {
                let now = Timestamp.now()
                try await Task.sleep(for: .microseconds(1_000_000 - now.microseconds % 1_000_000))
                let outcome = try await runSnap(args)
                #expect(outcome.exitCode == 0 || outcome.exitCode == 3, "\(outcome)")
                runs += 1
                // Each new file once: the soak version makes thousands.
                for name in data.files("spool") where !read.contains(name) {
                    read.insert(name)
                    let text = String(decoding: try Gzip.decompress(try DurableFile.read(data.root + "/spool/" + name) ?? []), as: UTF8.self)
                    for line in text.split(separator: "\n") where line.contains(#""kind":"resolution""#) || line.contains(#""error_kind":"unresolved""#) {
                        let row = try JSON.parse(String(line))
                        guard let slug = row["slug"]?.string else { continue }
                        if row["kind"]?.string == "resolution" { resolved.insert(slug) } else { gaveUp.insert(slug) }
                    }
                }
                done = resolved.contains(late) && resolved.contains(disputed) && gaveUp.contains(never)
            }
            let lastRun = Timestamp.now().seconds
            let spool = try data.validatedSpool()
            let rows = spool.values.flatMap { $0 }
            let resolutions = rows.rows("resolution")
            let bySlug = Dictionary(grouping: resolutions) { $0["slug"]?.string ?? "" }

            // The fake's own view of every window that ended from the lost cache's lookback on.
            var markets: [String: JSONValue] = [:]
            for at in stride(from: lostAt - deadline, through: lastRun + 300, by: 300) {
                for market in try fake.markets(at: Timestamp(seconds: at)) where market["role"]?.string != "next" {
                    if let slug = market["slug"]?.string { markets[slug] = market }
                }
            }

            // Each resolution: once, the fake's winner and ids, and never before the fake resolved it.
            for (slug, found) in bySlug {
                #expect(found.count == 1, "\(slug) recorded \(found.count) times")
                guard let row = found.first, let market = markets[slug] else { Issue.record("\(slug): not a market that ended"); continue }
                let winner = market["winner"]?.string
                let token = market["tokens"]?.array?.first { $0["outcome"]?.string == winner }?["token_id"]?.string
                #expect(row["winning_outcome"]?.string == winner && row["winning_token_id"]?.string == token, "\(slug): \(row.value)")
                #expect(row["condition_id"]?.string == market["condition_id"]?.string && row["market"]?["slug"]?.string == slug)
                let received = Timestamp.parse(row["received_at"]?.string ?? "")!
                let resolvesAt = number(market["resolves_at"]) ?? .infinity
                #expect(Double(received.microseconds) / 1e6 >= resolvesAt, "\(slug) recorded before the fake resolved it")
                #expect(row["uma_resolution_status"]?.string == "resolved" && row["outcome_prices"]?.string?.contains("\"1\"") == true)
            }
            // The late and the disputed market were seen unresolved before their outcome.
            for slug in [late, disputed] {
                #expect(bySlug[slug]?.count == 1 && (bySlug[slug]?.first?["checks"]?.intValue ?? 0) >= 2, "\(slug): \(bySlug[slug]?.map(\.value) ?? [])")
            }
            // The one that never resolves: a failure row saying so, after the deadline, no resolution.
            let unresolved = rows.rows("failure").filter { $0["stage"]?.string == "resolution" && $0["error_kind"]?.string == "unresolved" }
            #expect(unresolved.map { $0["slug"]?.string } == [never] && bySlug[never] == nil, "\(unresolved.map(\.value))")
            if let failure = unresolved.first {
                #expect(Timestamp.parse(failure["received_at"]?.string ?? "")!.seconds >= lastEnd - 1200 + deadline)
                #expect(failure["error"]?.string?.contains("uma_resolution_status=proposed") == true, "\(failure.value)")
            }
            // Every market that ended in the lookback and resolved in time to be looked up after
            // (a lookup waits at most as long again as the market took) has its row.
            var expected = 0
            for (slug, market) in markets where slug != never {
                guard let end = market["window_end"]?.intValue, let resolvesAt = number(market["resolves_at"]),
                      Int64(end) >= lastEnd - 1200, Int64(end) <= lastRun,
                      resolvesAt + (resolvesAt - Double(end)) + 5 <= Double(lastRun) else { continue }
                expected += 1
                #expect(bySlug[slug] != nil, "\(slug) resolved at \(resolvesAt) and was never recorded")
            }
            #expect(expected >= 2, "too few ended markets to prove anything: \(expected)")

            // Within the budget: at most 4 lookups a run, and each market's lookups spaced out
            // (30 s, then doubling), never one a second.
            let lookups = try fake.requests().filter { $0.path.hasPrefix("/markets/slug/") }
            let perMarket = Dictionary(grouping: lookups) { $0.path }.mapValues(\.count)
            #expect(lookups.count <= 4 * (runs + 1) && perMarket.values.allSatisfy { $0 <= 8 }, "\(perMarket)")
            #expect(perMarket["/markets/slug/\(late)"].map { $0 >= 2 } == true)

            // A lost cache again: what is re-queued is recorded a second time at worst.
            #expect(unlink(data.root + "/cache/discovery.json") == 0)
            for _ in 0..<4 {
                let outcome = try await runSnap(args)
                #expect(outcome.exitCode == 0 || outcome.exitCode == 3, "\(outcome)")
            }
            let again = try data.validatedSpool().values.flatMap { $0 }
            let counts = Dictionary(grouping: again.rows("resolution")) { $0["condition_id"]?.string ?? "" }.mapValues(\.count)
            #expect(counts.values.contains(2) && counts.values.allSatisfy { $0 <= 2 }, "\(counts)")

            // The manifests list each part's resolutions and markets given up on, as the rows say.
            let seal = try await runSeal(["--data-dir", data.root, "--segment-minutes", "1", "--grace-seconds", "0", "--flush"])
            #expect(seal.exitCode == 0, "\(seal)")
            let find = try await run("/usr/bin/find", [data.root + "/sealed", "-name", "*.manifest.json"])
            var listed: [String] = []
            var listedUnresolved: [String] = []
            for path in find.stdout.split(separator: "\n") {
                let manifest = try JSON.parse(try DurableFile.read(String(path)) ?? [])
                listed += (manifest["resolutions"]?.array ?? []).compactMap { entry in
                    entry["slug"]?.string.map { "\($0) \(entry["winning_outcome"]?.string ?? "-") \(entry["condition_id"]?.string ?? "-")" }
                }
                listedUnresolved += (manifest["unresolved"]?.array ?? []).compactMap { $0["slug"]?.string }
                #expect(manifest["rows_by_kind"]?["resolution"]?.intValue == manifest["resolutions"]?.array?.count)
            }
            let fromRows = again.rows("resolution").map {
                "\($0["slug"]?.string ?? "") \($0["winning_outcome"]?.string ?? "-") \($0["condition_id"]?.string ?? "-")"
            }
            #expect(listed.sorted() == fromRows.sorted())
            #expect(Set(listedUnresolved) == [never] && listedUnresolved.count <= 2, "\(listedUnresolved)")
            print("resolutions: \(lastRun - t0) s, \(runs) snap runs, \(resolutions.count) resolutions recorded "
                  + "(\(expected) required; late and disputed seen unresolved first), 1 market given up after \(deadline) s; "
                  + "after a lost cache \(counts.values.filter { $0 == 2 }.count) recorded twice, none more")
        }
    }
}
