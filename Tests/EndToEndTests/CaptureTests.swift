import Glibc
import Testing
@testable import OrderbooksCore

/// `snap` against the fake over loopback: what it writes must be what the server sent, for every
/// active market of the five series.
@Suite struct CaptureTests {
    @Test func capturesEveryOpenMarketOverHTTPSExactlyAsSent() async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("capture")
            defer { data.remove() }
            let result = try await runSnap(fake.arguments(dataDirectory: data.root), env: ["ORDERBOOKS_COLLECTOR_ID": "test-1"])
            #expect(result.exitCode == 0, "\(result)")
            #expect(result.stderr.contains("outcome=complete") && result.stderr.contains("sha256="))
            let rows = try data.onlySnapshot()
            let run = rows.last!
            #expect(run["outcome"]?.string == "complete" && run["collector"]?.string == "test-1")
            #expect(data.files("tmp").isEmpty)

            // Expectation from the fake's own model, at the start and the end of the run.
            let started = Timestamp.parse(run["started_at"]!.string!)!, finished = Timestamp.parse(run["finished_at"]!.string!)!
            let before = try fake.markets(at: started), after = try fake.markets(at: finished)
            func current(_ markets: [JSONValue]) -> Set<String> {
                Set(markets.filter { $0["role"]?.string == "current" && $0["book_live"]?.bool == true }
                    .flatMap { ($0["tokens"]?.array ?? []).compactMap { $0["token_id"]?.string } })
            }
            let required = current(before).intersection(current(after))
            #expect(required.count >= 8, "the fake should have books for the open windows of all five series")
            let books = rows.rows("book")
            let captured = Set(books.compactMap { $0["token_id"]?.string })
            #expect(required.isSubset(of: captured), "missing: \(required.subtracting(captured))")

            // Value for value: every stored book is byte-identical to one the fake sent.
            let served = Set(try fake.servedBooks().map(\.text))
            for book in books {
                #expect(served.contains(book.storedBook ?? ""), "not as sent: \(book.storedBook ?? "nil")")
            }

            // Labels come from Gamma: slug, condition id, outcome and window match the fake's model.
            let model = Dictionary((before + after).flatMap { market in
                (market["tokens"]?.array ?? []).map { ($0["token_id"]!.string!, (market, $0["outcome"]!.string!)) }
            }, uniquingKeysWith: { a, _ in a })
            for book in books {
                guard let (market, outcome) = model[book["token_id"]!.string!] else { Issue.record("unknown token"); continue }
                #expect(book["slug"] == market["slug"] && book["condition_id"] == market["condition_id"])
                #expect(book["outcome"]?.string == outcome)
                #expect(book["window_start"]?.string.flatMap(Timestamp.parse)?.seconds == market["window_start"]?.intValue.map(Int64.init))
                #expect(book["window_end"]?.string.flatMap(Timestamp.parse)?.seconds == market["window_end"]?.intValue.map(Int64.init))
                let window = Window(start: Int64(market["window_start"]!.intValue!), end: Int64(market["window_end"]!.intValue!))
                let requestedAt = Timestamp.parse(book["request_started_at"]!.string!)!.seconds
                #expect(book["phase"]?.string == Phase(window: window, at: requestedAt, grace: Series.closingGrace).rawValue)
            }

            // Market rows for the current and next window of every series, with the raw event.
            let marketSlugs = Set(rows.rows("market").compactMap { $0["slug"]?.string })
            for market in before where market["role"]?.string != "previous" {
                #expect(marketSlugs.contains(market["slug"]!.string!) || after.contains(where: { $0["slug"] == market["slug"] && $0["role"]?.string == "previous" }),
                        "no market row for \(market["slug"]!)")
            }
            for row in rows.rows("market") {
                #expect(row["event"]?["slug"] == row["slug"])
                #expect((row["tokens"]?.array ?? []).count == 2)
            }
            // Upcoming windows without a live book are recorded as absent, not as failures.
            #expect(rows.rows("failure").isEmpty)
            for absent in rows.rows("absent") { #expect(absent["expected"] == .bool(false)) }
        }
    }

    @Test func laterRunsServeDiscoveryFromTheCache() async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("cache")
            defer { data.remove() }
            let args = fake.arguments(dataDirectory: data.root, tls: false)
            #expect(try await runSnap(args).exitCode == 0)
            try fake.resetLogs()
            let second = try await runSnap(args)
            #expect(second.exitCode == 0, "\(second)")
            let paths = try fake.requests().map(\.path)
            #expect(paths == ["/books"], "a cached run asks only for books: \(paths)")

            // Deleting the cache changes what is asked, not what is captured.
            #expect(unlink(data.root + "/cache/discovery.json") == 0)
            try fake.resetLogs()
            let third = try await runSnap(args)
            #expect(third.exitCode == 0)
            #expect(try fake.requests().filter { $0.path.hasPrefix("/events/slug/") }.count >= 10)
            let spool = try data.validatedSpool().sorted { $0.key < $1.key }.map(\.value)
            #expect(spool.count == 3)
            // With or without the cache, a run requests the books of exactly its target windows.
            for rows in spool[1...] {
                let run = rows.last!
                let started = Timestamp.parse(run["started_at"]!.string!)!.seconds
                let notListed = Set((run["not_listed"]?.array ?? []).compactMap(\.string))
                let targets = Set(Series.allCases.flatMap { $0.targets(at: started) }.map(\.slug)).subtracting(notListed)
                let requested = Set((rows.rows("book") + rows.rows("absent")).compactMap { $0["slug"]?.string })
                #expect(requested == targets)
            }
            #expect(spool[1].rows("market").isEmpty && !spool[2].rows("market").isEmpty)
        }
    }

    @Test func stdoutPrintsRowsAndTouchesNoFile() async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("stdout")
            defer { data.remove() }
            let result = try await runSnap(fake.arguments(dataDirectory: data.root) + ["--stdout", "--series", "5m"])
            #expect(result.exitCode == 0, "\(result)")
            let lines = result.stdout.split(separator: "\n")
            #expect(lines.count >= 4)
            #expect(try lines.map { try JSON.parse(String($0)) }.last?["kind"]?.string == "run")
            #expect(access(data.root, F_OK) != 0, "--stdout must not create the data directory")
            #expect(result.stderr.contains("file=-"))
        }
    }

    @Test func prettyPrintedAnswersAreStoredCompactAndUnchanged() async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("pretty")
            defer { data.remove() }
            try fake.fault("any", "pretty")
            let result = try await runSnap(fake.arguments(dataDirectory: data.root) + ["--series", "5m,15m"])
            #expect(result.exitCode == 0, "\(result)")
            let rows = try data.onlySnapshot()
            let served = Set(try fake.servedBooks().map(\.text))
            #expect(!rows.rows("book").isEmpty)
            for book in rows.rows("book") { #expect(served.contains(book.storedBook ?? "")) }
            for market in rows.rows("market") { #expect(!market.line.contains(0x0A)) }
        }
    }

    /// Windows are what Gamma reports, not what the slug implies: with Gamma's windows skewed
    /// off the slug grid, every market and book row carries the skewed window.
    @Test func windowsComeFromGammaNotFromTheSlug() async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("skew")
            defer { data.remove() }
            let skew: Int64 = 7
            _ = try fake.call("/_control/skew", body: "\(skew)")
            let result = try await runSnap(fake.arguments(dataDirectory: data.root, tls: false))
            #expect(result.exitCode == 0, "\(result)")
            let rows = try data.onlySnapshot()
            let started = Timestamp.parse(rows.last!["started_at"]!.string!)!
            var grid: [String: (start: Int64, end: Int64)] = [:]
            for entry in try fake.markets(at: started) {
                grid[entry["slug"]!.string!] = (Int64(entry["window_start"]!.intValue!), Int64(entry["window_end"]!.intValue!))
            }
            // What Gamma said, from the raw events kept in the market rows (the fake leaves a
            // field out for some slugs; with none, the slug's window stands).
            var said: [String: (start: Int64, end: Int64)] = [:]
            for market in rows.rows("market") {
                guard let slug = market["slug"]?.string, let event = market["event"], let window = grid[slug] else { continue }
                let inner = event["markets"]?.array?.first
                let start = (inner?["eventStartTime"]?.string ?? event["startTime"]?.string).flatMap(Timestamp.parse)?.seconds
                let end = (inner?["endDate"]?.string ?? event["endDate"]?.string).flatMap(Timestamp.parse)?.seconds
                said[slug] = (start ?? window.start, end ?? window.end)
            }
            #expect(said.values.filter { $0.start % 60 == skew && $0.end % 60 == skew }.count >= 5, "too few skewed windows to tell: \(said)")
            #expect(!rows.rows("book").isEmpty)
            for row in rows.rows("market") + rows.rows("book") {
                guard let slug = row["slug"]?.string, let window = said[slug] else {
                    Issue.record("a row for a market Gamma did not describe: \(row.value)")
                    continue
                }
                #expect(row["window_start"]?.string == Timestamp(seconds: window.start).iso8601, "\(slug)")
                #expect(row["window_end"]?.string == Timestamp(seconds: window.end).iso8601, "\(slug)")
            }
        }
    }

    /// Without `--ca-file`, snap trusts the system store: a CA added to the store (here in a mount
    /// namespace of its own, as `update-ca-certificates` adds it: a file, its hash link and a line
    /// in the bundle) is trusted, and a CA that is not in the store is refused.
    @Test func worksWithTheSystemStoreAndRefusesAnUnknownCA() async throws {
        try await withFakePolymarket { fake in
            let trusted = DataDir("tls-store")
            defer { trusted.remove() }
            let script = #"""
                set -eu
                cp -a /etc/ssl/certs "$STORE"
                cp "$CA" "$STORE/orderbooks-test-ca.pem"
                cat /etc/ssl/certs/ca-certificates.crt "$CA" > "$STORE/ca-certificates.crt"
                openssl rehash "$STORE"
                mount --bind "$STORE" /etc/ssl/certs
                exec "$SNAP" "$@"
                """#
            let https = ["--clob-url", fake.https, "--gamma-url", fake.https, "--series", "5m"]
            let stored = try await run("/usr/bin/unshare", ["--mount", "--map-root-user", "--propagation", "private", "/bin/sh", "-c", script, "sh",
                                                            "--data-dir", trusted.root] + https,
                                       env: ["CA": fake.caFile, "STORE": trusted.parent + "/certs", "SNAP": Paths.snap])
            #expect(stored.exitCode == 0, "\(stored)")
            #expect(try trusted.onlySnapshot().rows("failure").isEmpty && !trusted.onlySnapshot().rows("book").isEmpty)

            let data = DataDir("tls")
            defer { data.remove() }
            let result = try await runSnap(["--data-dir", data.root] + https)
            #expect(result.exitCode == 4, "\(result)")
            let failures = try data.onlySnapshot().rows("failure")
            #expect(!failures.isEmpty && failures.allSatisfy { $0["error_kind"]?.string == "tls" && $0["stage"]?.string == "discovery" })
        }
    }
}
