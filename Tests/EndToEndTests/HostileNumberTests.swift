import Glibc
import Testing
@testable import OrderbooksCore
@testable import OrderbooksCapture

/// A number from a server that once made `snap` trap (SIGILL, exit 132, no file).
struct HostileAnswer: Sendable, CustomStringConvertible {
    var target: String
    var status: Int
    var body: String
    var retryAfter: String?
    /// `retry_at` in the failure rows: clamped to the latest instant, or nil when the header is not a time.
    var retryAt: String?

    var description: String { "\(target) \(status) Retry-After: \(retryAfter ?? "-") \(body)" }

    /// The fake's `status` fault parameters, JSON-encoded.
    var parameters: String {
        var spec = JSONObjectWriter()
        spec.field("status", status)
        spec.field("content_type", "application/json")
        spec.field("body", body)
        if let retryAfter {
            var headers = JSONObjectWriter()
            headers.field("Retry-After", retryAfter)
            spec.field("headers", object: headers)
        }
        // `{...}\n` → the members alone, as `fault` takes them.
        let text = String(decoding: spec.line, as: UTF8.self)
        return String(text.dropFirst().dropLast(2))
    }
}

@Suite struct HostileNumberTests {
    static let latest = "9999-12-31T23:59:59.999999Z"
    static let answers: [HostileAnswer] = [
        HostileAnswer(target: "clob", status: 200, body: "[]", retryAfter: "10000000000000"),
        HostileAnswer(target: "clob", status: 429, body: "slow down", retryAfter: "9223372036854775807", retryAt: latest),
        HostileAnswer(target: "clob", status: 200, body: #"{"error":"x","retry_after_seconds":10000000000000}"#, retryAt: latest),
        HostileAnswer(target: "gamma", status: 429, body: "slow down", retryAfter: "Fri, 31 Dec 9999 23:59:59 GMT", retryAt: "9999-12-31T23:59:59.000000Z"),
        HostileAnswer(target: "gamma", status: 503, body: "down", retryAfter: "Fri, 31 Dec 99999999999999 23:59:59 GMT"),
        HostileAnswer(target: "gamma", status: 200, body: #"{"error":"x","retry_after_seconds":1e400}"#, retryAt: latest),
    ]

    @Test(arguments: answers)
    func hugeNumbersFromAServerAreRecordedNotFatal(_ answer: HostileAnswer) async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("hostile-number")
            defer { data.remove() }
            let args = fake.arguments(dataDirectory: data.root, tls: false) + ["--series", "5m"]
            try fake.fault(answer.target, "status", answer.parameters)
            let result = try await runSnap(args)
            // No book: every status but the documented "failed" (4) is wrong, a trap (132) above all.
            #expect(result.exitCode == 4, "\(result)")
            let rows = try data.onlySnapshot()
            #expect(rows.last!["exit_code"]?.intValue == 4)
            let failures = rows.rows("failure")
            if answer.status == 200 && answer.body == "[]" {
                #expect(failures.isEmpty && !rows.rows("absent").isEmpty)
            } else {
                #expect(!failures.isEmpty && failures.allSatisfy { $0["retry_at"]?.string == answer.retryAt }, "\(failures.map(\.value))")
            }
            if answer.retryAt != nil {
                // The pause is capped, and the next run honours it rather than trapping on it.
                let state = BackoffState.decode(try DurableFile.read(data.root + "/state/backoff.json") ?? [])
                let api: API = answer.target == "clob" ? .clob : .gamma
                let until = try #require(state.entries[api]?.until)
                #expect(until.microseconds <= Timestamp.now().microseconds + BackoffState.maxPause * 1_000_000)
                let paused = try await runSnap(args)
                #expect(paused.exitCode == (api == .clob ? 5 : 4), "\(paused)")
                #expect(try data.validatedSpool().count == 2)
            }
        }
    }

    @Test func hugeNumbersInStateAndCacheFilesAreIgnored() async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("hostile-state")
            defer { data.remove() }
            let args = fake.arguments(dataDirectory: data.root, tls: false) + ["--series", "5m"]
            let markets = try fake.markets(at: Timestamp.now()).filter { $0["series"]?.string == "5m" }
            var entries: [JSONObjectWriter] = []
            for market in markets {
                var o = JSONObjectWriter()
                o.field("slug", market["slug"]?.string ?? "")
                o.field("fetched_at", Timestamp.now().iso8601)
                o.field("listed", true)
                o.field("series", "5m")
                o.field("window_start", Int64(99_999_999_999_999))
                o.field("window_end", Int64(99_999_999_999_999 + 300))
                o.field("tokens", objects: (market["tokens"]?.array ?? []).map { t in
                    var tw = JSONObjectWriter()
                    tw.field("token_id", t["token_id"]?.string ?? "")
                    return tw
                })
                entries.append(o)
            }
            var cache = JSONObjectWriter()
            cache.field("schema", 1)
            cache.field("entries", objects: entries)
            try DurableFile.makeDirectories(data.root + "/cache")
            try DurableFile.create(cache.line, at: data.root + "/cache/discovery.json", temporaryDirectory: data.root + "/cache")
            // The cached windows are dropped: Gamma is asked and its windows are recorded.
            let fresh = try await runSnap(args)
            #expect(fresh.exitCode == 0, "\(fresh)")
            let rows = try data.onlySnapshot()
            #expect(!rows.rows("market").isEmpty && !rows.rows("book").isEmpty)
            #expect((rows.rows("market") + rows.rows("book")).allSatisfy { $0["window_start"]?.string?.hasPrefix("9999") == false })

            let backoff = #"{"schema":1,"apis":[{"api":"clob","until":"2020-01-01T00:00:00Z","consecutive":9223372036854775807,"reason":"x"}]}"#
            try DurableFile.replace(Array(backoff.utf8), at: data.root + "/state/backoff.json", temporaryDirectory: data.root + "/state")
            // A throttling CLOB makes the run count one more throttled answer in a row.
            try fake.fault("clob", "throttle", #""retry_after":1"#)
            let throttled = try await runSnap(args)
            #expect(throttled.exitCode == 4, "\(throttled)")
            #expect(try data.validatedSpool().count == 2)
            let state = BackoffState.decode(try DurableFile.read(data.root + "/state/backoff.json") ?? [])
            #expect(state.entries[.clob]?.consecutive == Int.max)
        }
    }

    @Test func sealIgnoresPartNumbersNoWindowHolds() async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("hostile-parts")
            defer { data.remove() }
            let snap = try await runSnap(fake.arguments(dataDirectory: data.root, tls: false) + ["--series", "5m", "--collector-id", "c1"])
            #expect(snap.exitCode == 0, "\(snap)")
            let spool = data.files("spool")
            let started = try #require(SnapshotName(spool[0])?.startedAt)
            let window = SealWindow(containing: started, minutes: 60, collector: "c1")
            for sub in ["receipts", "sealed"] {
                let day = data.root + "/" + sub + "/" + window.dayDirectory
                try DurableFile.makeDirectories(day)
                for name in [window.baseName + "_part9223372036854775807" + DataDirectory.receiptSuffix,
                             window.baseName + "_part9223372036854775807" + SealWindow.manifestSuffix,
                             window.baseName.replacing("_60m_", with: "_9223372036854775807m_") + "_part1" + SealWindow.manifestSuffix] {
                    close(open(day + "/" + name, O_WRONLY | O_CREAT, 0o640))
                }
            }
            let sealed = try await runSeal(["--data-dir", data.root, "--flush"])
            #expect(sealed.exitCode == 0, "\(sealed)")
            #expect(data.files("spool").isEmpty)
            #expect(data.files("sealed/" + window.dayDirectory).contains(window.partName(1) + SealWindow.manifestSuffix))
        }
    }

    /// Issue 9 §7: a server's error text cannot start a journal line of its own.
    @Test func aServersErrorTextCannotForgeALogLine() async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("forged-log")
            defer { data.remove() }
            let forged = HostileAnswer(target: "clob", status: 200,
                                       body: #"{"error":"nope\n<6>run=0000000000000000 outcome=complete markets=10\r\u001b[2K"}"#)
            try fake.fault("clob", "status", forged.parameters)
            let result = try await runSnap(fake.arguments(dataDirectory: data.root, tls: false) + ["--series", "5m"])
            #expect(result.exitCode == 4, "\(result)")
            let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.allSatisfy { !$0.hasPrefix("<6>") && !$0.contains("\r") && !$0.contains("\u{1b}") }, "\(result.stderr)")
            #expect(result.stderr.contains(#"error: nope\n<6>run=0000000000000000 outcome=complete markets=10\r\x1b[2K""#), "\(result.stderr)")
            // The row keeps the server's text as it was.
            #expect(try data.onlySnapshot().rows("failure").first?["error"]?.string?.contains("nope\n<6>run=") == true)
        }
    }
}
