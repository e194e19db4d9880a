import Testing
@testable import OrderbooksCore
@testable import OrderbooksCapture

private let window = Window(start: 1_795_290_300, end: 1_795_290_600)
private let awaited = AwaitedResolution(series: .fiveMinute, slug: "btc-updown-5m-1795290300", window: window,
                                        nextCheck: window.end + 60, checks: 2, lastState: nil)

/// A Gamma market object (`/markets/slug/…`) as the reference shows it: lists held in strings.
private func market(closed: String = "true", status: String? = "\"resolved\"", prices: String = #""[\"1\", \"0\"]""#,
                    slug: String = "btc-updown-5m-1795290300", extra: String = "") -> [UInt8] {
    var fields = [#""id":"2229686""#, #""slug":"\#(slug)""#, #""conditionId":"0xabc""#, #""clobTokenIds":"[\"111\", \"222\"]""#,
                  #""outcomes":"[\"Up\", \"Down\"]""#, #""outcomePrices":\#(prices)"#, #""closed":\#(closed)"#,
                  #""closedTime":"2026-11-21 09:01:15+00""#, #""endDate":"2026-11-21T19:51:00Z""#]
    if let status { fields.append(#""umaResolutionStatus":\#(status)"#) }
    if !extra.isEmpty { fields.append(extra) }
    return Array(("{" + fields.joined(separator: ",") + "}").utf8)
}

private func read(_ body: [UInt8]) throws -> GammaResolution.Reading {
    try GammaResolution.read(body, awaited: awaited)
}

@Suite struct GammaResolutionTests {
    @Test func aResolvedMarketNamesItsWinner() throws {
        guard case .resolved(let up) = try read(market()) else { Issue.record("not resolved"); return }
        #expect(up.winner == 0 && up.tokens[0] == MarketToken(tokenId: "111", outcome: "Up") && up.conditionId == "0xabc")
        guard case .resolved(let down) = try read(market(prices: #""[\"0\", \"1\"]""#)) else { Issue.record("not resolved"); return }
        #expect(down.winner == 1 && down.status == "resolved")
        // Prices as a real array and as numbers, `1.0`: the same outcome.
        guard case .resolved(let array) = try read(market(prices: #"["0.0", 1]"#)) else { Issue.record("not resolved"); return }
        #expect(array.winner == 1)
    }

    /// The reference: `proposed` and `disputed` are not final, `closed` means settled, and
    /// prices near 1 are still trading.
    @Test func onlyAFinalAnswerCounts() throws {
        for body in [market(status: "\"proposed\""), market(status: "\"disputed\""), market(closed: "false"),
                     market(status: "null", prices: #""[\"0.9995\", \"0.0005\"]""#), market(prices: #""[\"1\", \"1\"]""#),
                     market(prices: #""[\"1\"]""#), market(prices: #""[\"x\", \"0\"]""#), market(prices: "null")] {
            guard case .pending(let state) = try read(body) else {
                Issue.record("\(String(decoding: body, as: UTF8.self)) read as final")
                continue
            }
            #expect(state.hasPrefix("closed="))
        }
    }

    @Test func olderMarketsWithoutAStatusAndSplitsResolve() throws {
        guard case .resolved(let plain) = try read(market(status: nil)) else { Issue.record("not resolved"); return }
        #expect(plain.winner == 0 && plain.status == nil)
        guard case .resolved(let split) = try read(market(prices: #""[\"0.5\", \"0.5\"]""#)) else { Issue.record("not resolved"); return }
        #expect(split.winner == nil)
    }

    @Test func anotherMarketOrAnErrorIsNotAResolution() throws {
        guard case .unexpected(let problem) = try read(market(slug: "btc-updown-5m-1")) else { Issue.record("accepted"); return }
        #expect(problem.kind == "unexpected_shape")
        guard case .errorObject = try read(Array(#"{"error":"record not found"}"#.utf8)) else { Issue.record("not an error"); return }
        guard case .unexpected = try read(Array("[]".utf8)) else { Issue.record("accepted an array"); return }
        #expect(throws: JSONError.self) { try read(Array("{\"slug\":".utf8)) }
    }

    /// Raw means raw: the prices, outcomes and closed time exactly as Gamma sent them, and the
    /// whole market object.
    @Test func theRowKeepsWhatGammaSent() throws {
        let body = market(extra: #""unknownField":{"deep":[1,2.50]}"#)
        guard case .resolved(let resolved) = try read(body) else { Issue.record("not resolved"); return }
        let exchange = HTTPExchange(request: HTTPRequest(url: "https://u:p@gamma/markets/slug/x"), startedAt: Timestamp(seconds: 1000),
                                    finishedAt: Timestamp(seconds: 1001), elapsedMicroseconds: 1_000_000,
                                    result: .success(HTTPResponse(status: 200, contentType: nil, retryAfter: nil, body: body)))
        let line = Rows.resolution(awaited, resolved, exchange: exchange, RowContext(runId: "r", collector: "c"))
        let text = String(decoding: line, as: UTF8.self)
        #expect(text.contains(#""outcome_prices":"[\"1\", \"0\"]""#) && text.contains(#""closed_time":"2026-11-21 09:01:15+00""#))
        #expect(text.contains(#""market":{"id":"2229686""#) && text.contains(#""unknownField":{"deep":[1,2.50]}"#))
        let row = try JSON.parse(line)
        #expect(row["kind"]?.string == "resolution" && row["winning_outcome"]?.string == "Up" && row["winning_token_id"]?.string == "111")
        #expect(row["checks"] == .number("3") && row["window_end"]?.string == "2026-11-21T19:51:00.000000Z")
        #expect(row["url"]?.string?.contains("u:p") == false)
    }
}

@Suite struct ResolutionQueueTests {
    let now: Int64 = 1_795_291_000  // 5m windows end at …600, …900; the next at …1200

    @Test func queuesEveryWindowThatEndedSinceTheMark() {
        var queue = ResolutionQueue()
        queue.enqueue([.fiveMinute], now: now, lookback: 0, deadline: 86_400)
        #expect(queue.awaited.isEmpty && queue.queuedUntil[.fiveMinute] == now)
        queue.enqueue([.fiveMinute], now: now + 300, lookback: 0, deadline: 86_400)
        #expect(queue.awaited.keys.sorted() == ["btc-updown-5m-1795290900"])
        #expect(queue.awaited["btc-updown-5m-1795290900"]?.nextCheck == 1_795_291_200 + ResolutionQueue.firstCheckDelay)
        // The mark is the end of the last window queued: runs in which none ended change nothing
        // (the cache is not rewritten), nor does a clock stepped back.
        #expect(queue.queuedUntil[.fiveMinute] == 1_795_291_200)
        let queued = queue
        queue.enqueue([.fiveMinute], now: now + 400, lookback: 0, deadline: 86_400)
        queue.enqueue([.fiveMinute], now: now + 100, lookback: 0, deadline: 86_400)
        #expect(queue == queued)
    }

    /// A lost cache on a directory with data: the windows of the last `lookback` are queued
    /// again, never more than the deadline.
    @Test func aSeriesWithoutAMarkLooksBack() {
        var queue = ResolutionQueue()
        queue.enqueue([.fiveMinute, .hourly], now: now, lookback: 3600, deadline: 1800)
        #expect(queue.awaited.values.filter { $0.series == .fiveMinute }.count == 6)
        #expect(queue.awaited.values.allSatisfy { $0.window.end > now - 1800 && $0.window.end <= now })
    }

    @Test func looksUpTheLongestDueFirstAndBacksOff() {
        var queue = ResolutionQueue()
        queue.enqueue([.fiveMinute], now: now, lookback: 3600, deadline: 86_400)
        let due = queue.due(at: now)
        #expect(due.count == ResolutionQueue.maxLookupsPerRun && due.map(\.nextCheck) == due.map(\.nextCheck).sorted())
        #expect(due.first?.window.end == now - 3400)
        queue.checked(due[0].slug, at: now, state: "proposed")
        #expect(queue.awaited[due[0].slug]?.nextCheck == now + 30)
        queue.checked(due[0].slug, at: now + 30, state: "proposed")
        #expect(queue.awaited[due[0].slug]?.nextCheck == now + 90 && queue.awaited[due[0].slug]?.checks == 2)
        for _ in 0..<30 { queue.checked(due[0].slug, at: now, state: "disputed") }
        #expect(queue.awaited[due[0].slug]?.nextCheck == now + ResolutionQueue.maxRetryDelay)
        queue.resolved(due[1].slug)
        #expect(queue.awaited[due[1].slug] == nil)
    }

    @Test func givesUpAtTheDeadlineWithAFailureRow() {
        var queue = ResolutionQueue()
        queue.enqueue([.fiveMinute], now: now, lookback: 1000, deadline: 86_400)
        queue.checked("btc-updown-5m-1795290000", at: now, state: "closed=true uma_resolution_status=proposed")
        #expect(queue.giveUp(at: Timestamp(seconds: 1_795_290_300 + 499), deadline: 500, gammaURL: "http://g").isEmpty)
        let failures = queue.giveUp(at: Timestamp(seconds: 1_795_290_300 + 500), deadline: 500, gammaURL: "http://g")
        #expect(failures.map(\.slug) == ["btc-updown-5m-1795290000"] && failures[0].stage == .resolution)
        #expect(failures[0].problem.kind == "unresolved" && failures[0].problem.message.contains("uma_resolution_status=proposed"))
        #expect(failures[0].url == "http://g/markets/slug/btc-updown-5m-1795290000")
        #expect(queue.awaited["btc-updown-5m-1795290000"] == nil && queue.awaited.count == 2)
    }

    @Test func theQueueSurvivesTheCacheFileAndEditsAreDropped() {
        var cache = DiscoveryCache()
        cache.resolutions.enqueue([.fiveMinute, .daily], now: now, lookback: 3 * 86_400, deadline: 3 * 86_400)
        cache.resolutions.checked("btc-updown-5m-1795290300", at: now, state: "closed=true \"quoted\"")
        let decoded = DiscoveryCache.decode(cache.encoded())
        #expect(decoded == cache && decoded.resolutions.awaited.count == 3 * 288 + 3)
        // A slug off its series' grid, or another series' name: what is queued is asked for by
        // name, so such an entry is dropped.
        for (slug, start) in [("btc-updown-5m-1795290301", "1795290301"), ("../../x", "1795290300"), ("btc-updown-15m-1795290300", "1795290300")] {
            let text = #"{"schema":1,"entries":[],"resolutions":{"queued_until":{"5m":1},"awaited":[{"slug":"\#(slug)","series":"5m","window_start":\#(start),"next_check":0,"checks":0}]}}"#
            let edited = DiscoveryCache.decode(Array(text.utf8))
            #expect(edited.resolutions.awaited.isEmpty && edited.resolutions.queuedUntil[.fiveMinute] == 1)
        }
    }
}
