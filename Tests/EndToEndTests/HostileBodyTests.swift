import Glibc
import Testing
@testable import OrderbooksCore

/// A body the fake generates (its `body` fault), and what `snap` must make of it.
struct HostileBody: Sendable, CustomStringConvertible {
    var name: String
    var target: String
    /// The fault's parameters: `prefix`, `unit`, `close`, `suffix`, `fill`, `bytes`.
    var parameters: String
    /// The failure row it must produce; nil when the body is acceptable.
    var kind: String?

    var description: String { "\(target): \(name)" }
}

/// Peak RSS of one run, in KiB, measured on the snap child alone by GNU time (a resource bound,
/// not a timing).
struct MeasuredRun {
    var outcome: ProcessOutcome
    var peakKiB: Int
}

func runSnapMeasured(_ arguments: [String], scratch: String) async throws -> MeasuredRun {
    let report = scratch + "/rss"
    let outcome = try await run("/usr/bin/time", ["-f", "%M", "-o", report, Paths.snap] + arguments)
    let text = String(decoding: try DurableFile.read(report) ?? [], as: UTF8.self)
    guard let kib = text.split(whereSeparator: \.isWhitespace).last.flatMap({ Int($0) }) else {
        throw TestFailure("no peak RSS from /usr/bin/time: \(text)")
    }
    return MeasuredRun(outcome: outcome, peakKiB: kib)
}

/// Issue 9 §5: no body within the caps takes snap over 64 MiB, rows stay bounded by the tokens
/// asked, and a malformed body is one failure row, whatever its shape.
@Suite struct HostileBodyTests {
    static let underCap = 1_040_000  // just under the 1 MiB floor of both caps
    static let ceiling = 16 << 20    // --max-body-bytes: cut off at the per-request cap
    static let book = #"{\"market\":\"0xabab\",\"asset_id\":\"{token}\",\"timestamp\":\"1778584369464\",\"hash\":\"00\",\"bids\":[{\"price\":\"0.01\",\"size\":\"100\"}],\"asks\":[],\"min_order_size\":\"5\",\"tick_size\":\"0.01\",\"neg_risk\":false,\"last_trade_price\":\"0.5\"},"#
    static let event = #"{\"slug\":\"{slug}\",\"markets\":[{\"slug\":\"{slug}\",\"clobTokenIds\":\"[\\\"1\\\",\\\"2\\\"]\",\"description\":\""#

    static let cases: [HostileBody] = [
        HostileBody(name: "[0,0,0,…]", target: "clob", parameters: #""prefix":"[","unit":"0,","suffix":"0]","bytes":\#(underCap)"#, kind: "unexpected_shape"),
        HostileBody(name: "16 MiB of [0,0,0,…]", target: "clob", parameters: #""prefix":"[","unit":"0,","suffix":"0]","bytes":\#(ceiling)"#, kind: "too_large"),
        HostileBody(name: "deep nesting", target: "clob", parameters: #""unit":"[","close":"]","bytes":\#(underCap)"#, kind: "invalid_json"),
        HostileBody(name: "one string of random letters", target: "clob", parameters: #""prefix":"[\"","fill":"random","suffix":"\"]","bytes":\#(underCap)"#, kind: "unexpected_shape"),
        HostileBody(name: "one object, a key repeated", target: "clob", parameters: #""prefix":"[{","unit":"\"k\":0,","suffix":"\"k\":0}]","bytes":\#(underCap)"#, kind: "unexpected_shape"),
        HostileBody(name: "many small objects", target: "clob", parameters: #""prefix":"[","unit":"{\"a\":0,\"b\":[]},","suffix":"{}]","bytes":\#(underCap)"#, kind: "unexpected_shape"),
        HostileBody(name: "one huge number", target: "clob", parameters: #""prefix":"[","unit":"9","suffix":"]","bytes":\#(underCap)"#, kind: "unexpected_shape"),
        HostileBody(name: "the asked books, repeated", target: "clob", parameters: #""prefix":"[","unit":"\#(book)","suffix":"{}]","bytes":\#(underCap)"#, kind: "unexpected_shape"),
        HostileBody(name: "a huge error text", target: "clob", parameters: #""prefix":"{\"error\":\"","unit":"x","suffix":"\"}","bytes":\#(underCap)"#, kind: "error_body"),
        HostileBody(name: "an event with a huge description", target: "gamma", parameters: #""prefix":"\#(event)","fill":"random","suffix":"\"}]}","bytes":\#(underCap)"#, kind: nil),
        HostileBody(name: "a 16 MiB event", target: "gamma", parameters: #""prefix":"\#(event)","unit":"x","suffix":"\"}]}","bytes":\#(ceiling)"#, kind: "too_large"),
        HostileBody(name: "an event listing 13,000 token ids", target: "gamma",
                    parameters: #""prefix":"{\"markets\":[{\"slug\":\"{slug}\",\"clobTokenIds\":\"[","unit":"\\\"1234567890123456789012345678901234567890123456789012345678901234567{n}\\\",","suffix":"\\\"1\\\"]\"}]}","bytes":\#(underCap)"#,
                    kind: "unexpected_shape"),
        HostileBody(name: "an event listing 50,000 token ids", target: "gamma",
                    parameters: #""prefix":"{\"markets\":[{\"slug\":\"{slug}\",\"clobTokenIds\":\"[","unit":"\\\"1234567890123456789012345678901234567890123456789012345678901234567{n}\\\",","suffix":"\\\"1\\\"]\"}]}","bytes":4200000"#,
                    kind: "too_large"),
        HostileBody(name: "an event with thousands of markets", target: "gamma",
                    parameters: #""prefix":"{\"markets\":[","unit":"{\"slug\":\"x\",\"clobTokenIds\":\"[\\\"1\\\",\\\"2\\\"]\"},","suffix":"{}]}","bytes":\#(underCap)"#,
                    kind: "unexpected_shape"),
    ]

    @Test(arguments: cases)
    func boundedRowsAndMemory(_ body: HostileBody) async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("hostile")
            defer { data.remove() }
            try fake.fault(body.target, "body", body.parameters)
            // All five series: up to fifteen events at once, the most a run asks for.
            let measured = try await runSnapMeasured(["--data-dir", data.root, "--clob-url", fake.http, "--gamma-url", fake.http],
                                                     scratch: data.parent)
            let result = measured.outcome
            #expect([0, 3, 4].contains(result.exitCode), "\(result)")
            #expect(measured.peakKiB < 64 << 10, "peak RSS \(measured.peakKiB) KiB")

            // One complete file (validatedSpool checks the run row's counts against the rows).
            let rows = try data.onlySnapshot()
            #expect(data.files("tmp").isEmpty)
            let asked = Set(rows.rows("market").flatMap { ($0["tokens"]?.array ?? []).compactMap { $0["token_id"]?.string } })
            #expect(rows.rows("book").count <= asked.count && rows.rows("absent").count <= asked.count, "\(rows.count) rows for \(asked.count) tokens")
            // Discovery fails at most once per slug (at most fifteen), the books once plus one summary.
            #expect(rows.rows("failure").count <= 17, "\(rows.rows("failure").count) failure rows")
            #expect(rows.count <= rows.rows("market").count + 2 * asked.count + 18)
            for row in rows { #expect(row.line.count < 2 << 20, "a row of \(row.line.count) bytes") }

            let failures = rows.rows("failure")
            if let kind = body.kind {
                #expect(failures.contains { $0["error_kind"]?.string == kind }, "\(failures.map { $0["error_kind"] ?? .null })")
                for row in failures { #expect((row["body_excerpt"]?.string?.utf8.count ?? 0) <= 300 * 4) }
            } else {
                #expect(!rows.rows("market").isEmpty && failures.isEmpty, "\(result)")
            }
            // However many ids an event lists, snap asks for the books of two per market.
            let booksRequests = try fake.requests().filter { $0.path == "/books" }
            #expect(booksRequests.count <= 1)
        }
    }
}
