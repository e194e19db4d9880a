import ArgumentParser
import Glibc
import Testing
@testable import OrderbooksCore
@testable import OrderbooksCapture

/// Issue 9 §1: no number from a server, a state file, the cache or a file name may trap; out of
/// range is clamped or ignored.
@Suite struct HostileNumbersTests {
    let now = Timestamp(seconds: 1_800_000_000)

    private func exchange(status: Int, body: String, retryAfter: String?) -> HTTPExchange {
        HTTPExchange(request: HTTPRequest(url: "http://x/books"), startedAt: now, finishedAt: now, elapsedMicroseconds: 1,
                     result: .success(HTTPResponse(status: status, contentType: "application/json", retryAfter: retryAfter, body: Array(body.utf8))))
    }

    @Test(arguments: ["10000000000000", "9223372036854775807", "9223372036854775808", "99999999999999999999999999", "1e400"])
    func anyDelayEndsAtTheLatestInstantAtMost(header: String) {
        #expect(ResponseCheck.retryTime(header, now: now) == Timestamp.latest)
    }

    @Test func ordinaryRetryAfterIsUnchanged() {
        #expect(ResponseCheck.retryTime("120", now: now) == now.adding(seconds: 120))
        #expect(ResponseCheck.retryTime(" 0 ", now: now) == now)
        #expect(ResponseCheck.retryTime("Wed, 21 Oct 2026 07:28:00 GMT", now: now) == Timestamp.parse("2026-10-21T07:28:00Z"))
        #expect(ResponseCheck.retryTime("Fri, 31 Dec 9999 23:59:59 GMT", now: now) == Timestamp.parse("9999-12-31T23:59:59Z"))
    }

    @Test(arguments: ["Fri, 31 Dec 99999999999999 23:59:59 GMT", "Fri, 31 Dec 292277026596 23:59:59 GMT",
                      "Wed, 9999999999999999999 Oct 2026 07:28:00 GMT", "Wed, 21 Oct 2026 99999999999999:00:00 GMT",
                      "Wed, 21 Oct 2026 07:28:9999999999999999999 GMT", "Wed, 21 Oct 2026 25:00:00 GMT", "Wed, 00 Oct 2026 07:28:00 GMT",
                      "-5", "1x", "nan", "inf", "0x10"])
    func anUnreadableRetryAfterIsIgnored(header: String) {
        #expect(ResponseCheck.retryTime(header, now: now) == nil)
    }

    @Test func hugeRetryAfterOnAnyAnswerNeverTraps() {
        guard case .success = ResponseCheck.body(of: exchange(status: 200, body: "[]", retryAfter: "10000000000000")) else {
            Issue.record("a 200 with [] was refused")
            return
        }
        guard case .failure(let p) = ResponseCheck.body(of: exchange(status: 429, body: "slow", retryAfter: "9223372036854775807")) else {
            Issue.record("a 429 was accepted")
            return
        }
        #expect(p.kind == "throttled" && p.retryAt == Timestamp.latest)
        #expect(Rows.failure(FailureRecord(stage: .books, problem: p, at: now), RowContext(runId: "r", collector: "c"))
            .starts(with: Array(#"{"kind":"failure""#.utf8)))
    }

    @Test(arguments: [("10000000000000", Optional(Timestamp.latest)), ("1e400", Timestamp.latest), ("9223372036854775807", Timestamp.latest),
                      ("1.5", Timestamp(seconds: 1_800_000_002)), ("30", Timestamp(seconds: 1_800_000_030)), ("-5", nil), ("-1e400", nil)])
    func retryAfterSecondsInABodyIsClamped(seconds: String, retryAt: Timestamp?) throws {
        let body = try JSON.parse(#"{"error":"x","retry_after_seconds":\#(seconds)}"#)
        let problem = ResponseCheck.problem(errorObject: body, in: HTTPResponse(status: 200, contentType: nil, retryAfter: nil, body: []), now: now)
        #expect(problem?.retryAt == retryAt)
        #expect(problem?.kind == (retryAt == nil ? "error_body" : "throttled"))
    }

    @Test func aHugeThrottleCountInTheStateFileSaturates() {
        let file = #"{"schema":1,"apis":[{"api":"clob","until":"2020-01-01T00:00:00Z","consecutive":9223372036854775807,"reason":"x"}]}"#
        var state = BackoffState.decode(Array(file.utf8))
        #expect(state.entries[.clob]?.consecutive == Int.max)
        state.recordThrottle(.clob, Problem(kind: "throttled", message: "429"), at: now)
        #expect(state.entries[.clob]?.consecutive == Int.max)
        #expect(state.pause(for: .clob, at: now)?.until == now.adding(seconds: BackoffState.maxPause))
        // Counts no integer holds, and negative ones, are no pause at all.
        for count in ["99999999999999999999", "-3", "1e3"] {
            let other = file.replacing("9223372036854775807", with: count)
            #expect(BackoffState.decode(Array(other.utf8)).entries.isEmpty, "\(count)")
        }
    }

    @Test func aPauseAtTheEdgeOfTimeNeverTraps() {
        var state = BackoffState()
        state.recordThrottle(.gamma, Problem(kind: "throttled", message: "x", retryAt: Timestamp.latest), at: Timestamp.latest)
        #expect(state.pause(for: .gamma, at: Timestamp.latest) == nil)
        state.recordThrottle(.gamma, Problem(kind: "throttled", message: "x"), at: Timestamp(microseconds: .max))
        state.recordThrottle(.gamma, Problem(kind: "throttled", message: "x"), at: Timestamp(microseconds: .min))
        #expect(!state.encoded().isEmpty)
    }

    @Test(arguments: [("99999999999999", "99999999999999"), ("1795290300", "99999999999999"), ("-99999999999999", "1795290600"),
                      ("1795290600", "1795290300"), ("9223372036854775807", "9223372036854775807"), ("1e10", "1795290600")])
    func aCachedWindowNoClockCanHoldIsDropped(start: String, end: String) {
        let entry = #"{"slug":"s","fetched_at":"2026-11-21T19:00:00Z","listed":true,"series":"5m","window_start":\#(start),"window_end":\#(end),"tokens":[{"token_id":"1"}]}"#
        let cache = DiscoveryCache.decode(Array(#"{"schema":1,"entries":[\#(entry)]}"#.utf8))
        #expect(cache.entries.isEmpty)
        let fine = entry.replacing(#""window_start":\#(start),"window_end":\#(end)"#, with: #""window_start":1795290300,"window_end":1795290600"#)
        #expect(DiscoveryCache.decode(Array(#"{"schema":1,"entries":[\#(fine)]}"#.utf8)).entries["s"] != nil)
    }

    @Test func timestampsSaturateInsteadOfTrapping() {
        #expect(Timestamp(seconds: .max) == Timestamp(seconds: Timestamp.latest.seconds))
        #expect(Timestamp(seconds: .min) == Timestamp.earliest)
        #expect(Timestamp(seconds: 99_999_999_999_999).iso8601 == "9999-12-31T23:59:59.000000Z")
        #expect(Timestamp.earliest.iso8601 == "0000-01-01T00:00:00.000000Z" && Timestamp.latest.iso8601 == "9999-12-31T23:59:59.999999Z")
        #expect(Timestamp(microseconds: .min).seconds == Int64.min / 1_000_000 - 1)
        #expect(Timestamp(microseconds: -1).seconds == -1 && Timestamp(microseconds: -1_000_000).seconds == -1)
        #expect(now.adding(seconds: .max) == Timestamp.latest && now.adding(seconds: .min) == Timestamp.earliest)
        #expect(Timestamp(microseconds: .max).adding(seconds: 1) == Timestamp.latest)
        #expect(Timestamp(civil: CivilTime(year: 10_000, month: 1, day: 1)) == nil)
        #expect(Timestamp(civil: CivilTime(year: 2026, month: 1, day: .max)) == nil)
        #expect(Timestamp(civil: CivilTime(year: .max, month: 1, day: 1)) == nil)
        #expect(Timestamp(compact: "99991231T235959.999Z") == Timestamp(microseconds: 253_402_300_799_999_000))
        #expect(Timestamp.parse("9999-12-31T23:59:59.999999-23:59") == Timestamp.latest)
        #expect(Timestamp(microseconds: .max).iso8601.hasSuffix("Z") && Timestamp(microseconds: .min).compact.hasSuffix("Z"))
        #expect(Window(start: .max, end: .max).description.contains("9999-12-31"))
    }

    @Test func phasesNeverOverflow() {
        #expect(Phase(window: Window(start: 0, end: .max - 10), at: .max, grace: 120) == .closing)
        #expect(Phase(window: Window(start: .min, end: .min + 1), at: .max, grace: 120) == .ended)
    }

    @Test func partNamesWithNumbersNoWindowHoldsAreNotParts() {
        let window = SealWindow(start: Timestamp.parse("2026-11-21T19:00:00Z")!, minutes: 60, collector: "vps-1")
        #expect(SealWindow.parse(partFileName: "20261121T1900Z_60m_vps-1_part9223372036854775807.manifest.json") == nil)
        #expect(SealWindow.parse(partFileName: "20261121T1900Z_60m_vps-1_part99999999999999999999.manifest.json") == nil)
        #expect(SealWindow.parse(partFileName: "20261121T1900Z_9223372036854775807m_vps-1_part1.manifest.json") == nil)
        #expect(SealWindow.parse(partFileName: "20261121T1900Z_2880m_vps-1_part1.jsonl.gz") == nil)
        let last = window.partName(SealWindow.maxPart) + SealWindow.manifestSuffix
        #expect(SealWindow.parse(partFileName: last)?.part == SealWindow.maxPart)
    }

}

/// Issue 9 §7: a number flag that rounds to nothing is refused, not taken as "no limit".
@Suite struct NumericSettingTests {
    private func configure(_ args: [String], _ env: [String: String] = [:]) throws -> SnapConfiguration {
        try SnapOptions.parse(args).configuration(environment: env)
    }

    @Test(arguments: [["--timeout", "0.0004"], ["--connect-timeout", "1e-9"], ["--timeout", "nan"], ["--timeout", "inf"],
                      ["--connect-timeout=-0"], ["--timeout", "3600.001"], ["--max-body-bytes", "1073741825"],
                      ["--max-body-bytes", "99999999999999999999"], ["--discovery-ttl", "99999999999999999999"]])
    func flagsThatRoundToNothingAreUsageErrors(args: [String]) {
        #expect(throws: ValidationError.self) { try configure(args) }
    }

    @Test(arguments: ["ORDERBOOKS_TIMEOUT", "ORDERBOOKS_CONNECT_TIMEOUT"])
    func variablesThatRoundToNothingAreConfigurationErrors(variable: String) {
        for value in ["0.0004", "1e-9", "nan", "-inf"] {
            #expect(throws: ConfigurationError.self) { try configure([], [variable: value]) }
        }
    }

    @Test func theSmallestTimeoutsAreOneMillisecond() throws {
        let c = try configure(["--timeout", "0.001", "--connect-timeout", "0.0006", "--max-body-bytes", "1073741824"])
        #expect(c.http.timeoutMilliseconds == 1 && c.http.connectTimeoutMilliseconds == 1 && c.http.maxBodyBytes == 1 << 30)
    }

    /// A FIFO would block libcurl's open forever, where no timeout reaches.
    @Test func aCAFileThatIsNotARegularFileIsAConfigurationError() throws {
        let dir = "/tmp/orderbooks-cafifo-\(getpid())"
        mkdir(dir, 0o700)
        defer { unlink(dir + "/fifo"); rmdir(dir) }
        #expect(mkfifo(dir + "/fifo", 0o600) == 0)
        for args in [["--ca-file", dir + "/fifo"], ["--ca-file", dir], ["--ca-file", "/dev/zero"]] {
            #expect(throws: ConfigurationError.self) { try configure(args) }
        }
        #expect(throws: ConfigurationError.self) { try configure([], ["ORDERBOOKS_CA_FILE": dir + "/fifo"]) }
        // A link to a regular file, as CA bundles often are, is fine.
        #expect(try configure(["--ca-file", "/etc/ssl/certs/ca-certificates.crt"]).http.caFile != nil)
    }

    /// A refused URL's query or fragment may be a token: it is never quoted.
    @Test func aRefusedURLNeverShowsItsQuery() {
        for (args, env) in [(["--clob-url", "https://host/?token=QSECRET"], [:]), ([], ["ORDERBOOKS_GAMMA_URL": "https://host/#QSECRET"]),
                            (["--gamma-url", "https://u:PW@host/x?QSECRET"], [:])] {
            do {
                _ = try configure(args, env)
                Issue.record("accepted \(args) \(env)")
            } catch {
                #expect(!"\(error)".contains("QSECRET") && !"\(error)".contains("PW") && "\(error)".contains("not shown"), "\(error)")
            }
        }
    }

}
