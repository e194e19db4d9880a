import Testing
@testable import OrderbooksCore
@testable import OrderbooksCapture

private let target = WindowTarget(series: .fiveMinute, window: Window(start: 1_778_584_200, end: 1_778_584_500),
                                  slug: "btc-updown-5m-1778584200")

/// The event's market, or the shape problem that refused it.
private func read(_ text: String, _ target: WindowTarget = target) throws -> (Market, MarketDetails) {
    switch try GammaEvent.read(Array(text.utf8), target: target) {
    case .market(let market, let details): return (market, details)
    case .unexpected(let problem): throw problem
    case .errorObject(let value): throw Problem(kind: "error_object", message: "\(value)")
    }
}

@Suite struct GammaEventTests {
    @Test func readsTheCapturedEvent() throws {
        let (market, details) = try read(Fixtures.event5m, target)
        #expect(market.conditionId == "0xa5c6d0c4cef71fe53c0235790b5568574343551fe67c62db39e9ebf3387b415a")
        #expect(market.tokens == [MarketToken(tokenId: Fixtures.upToken, outcome: "Up"), MarketToken(tokenId: Fixtures.downToken, outcome: "Down")])
        // The window is eventStartTime–endDate, not startDate (listed a day earlier).
        #expect(market.window == Window(start: 1_778_584_200, end: 1_778_584_500))
        #expect(details.question == "Bitcoin Up or Down - May 12, 7:10AM-7:15AM ET")
        #expect(details.resolutionSource == "https://data.chain.link/streams/btc-usd")
        #expect(details.closed == false)
        #expect(details.version == nil)
    }

    /// The window is what Gamma says, field by field in order of precedence (the market's
    /// `eventStartTime`/`endDate`, then the event's `startTime`/`endDate`), and the slug's window
    /// only when Gamma says nothing. Every field here names another instant, so a reader that
    /// took one from the wrong place, or the slug's window, gets another window.
    @Test func readsTheWindowFromGammaNotFromTheSlug() throws {
        let event = Fixtures.event5m
            .replacingFirst(#""endDate": "2026-05-12T11:15:00Z","#, with: #""endDate": "2026-05-12T11:15:40Z","#)  // the event's
            .replacingFirst(#""eventStartTime": "2026-05-12T11:10:00Z","#, with: #""eventStartTime": "2026-05-12T11:10:30Z","#)
            .replacingFirst(#""startTime": "2026-05-12T11:10:00Z""#, with: #""startTime": "2026-05-12T11:10:20Z""#)
        // The slug's own window (what Series computes from it) is yet another.
        let slugWindow = WindowTarget(series: .fiveMinute, window: Window(start: 1_778_584_800, end: 1_778_585_100), slug: target.slug)
        #expect(try read(event, slugWindow).0.window == Window(start: 1_778_584_230, end: 1_778_584_500))
        let noMarketStart = event.replacingFirst(#""eventStartTime": "2026-05-12T11:10:30Z","#, with: "")
        #expect(try read(noMarketStart, slugWindow).0.window == Window(start: 1_778_584_220, end: 1_778_584_500))
        let noMarketEnd = noMarketStart.replacingFirst(#""endDate": "2026-05-12T11:15:00Z","#, with: "")
        #expect(try read(noMarketEnd, slugWindow).0.window == Window(start: 1_778_584_220, end: 1_778_584_540))
        let nothing = noMarketEnd.replacingFirst(#""startTime": "2026-05-12T11:10:20Z""#, with: #""startTime": null"#)
            .replacingFirst(#""endDate": "2026-05-12T11:15:40Z","#, with: "")
        #expect(try read(nothing, slugWindow).0.window == slugWindow.window)
        // An end before the start is not a window: the slug's stands.
        let backwards = event.replacingFirst(#""eventStartTime": "2026-05-12T11:10:30Z","#, with: #""eventStartTime": "2026-05-12T11:20:00Z","#)
        #expect(try read(backwards, slugWindow).0.window == slugWindow.window)
    }

    @Test func readsV2PositionIdsAndRealArrays() throws {
        let v2 = #"{"slug":"btc-updown-5m-1778584200","markets":[{"slug":"btc-updown-5m-1778584200","version":"v2","clobTokenIds":null,"positionIds":["111","222"],"outcomes":["Up","Down"],"conditionId":"0x1"}]}"#
        let (market, details) = try read(v2, target)
        #expect(market.tokens.map(\.tokenId) == ["111", "222"])
        #expect(market.tokens.map(\.outcome) == ["Up", "Down"])
        #expect(details.version == "v2")
        // A v1 market with the ids as a real array and no outcome labels.
        let plain = #"{"markets":[{"clobTokenIds":["1","2"],"closed":true,"extra":{"nested":[1,2.5]}}]}"#
        let m = try read(plain, target).0
        #expect(m.tokens == [MarketToken(tokenId: "1", outcome: nil), MarketToken(tokenId: "2", outcome: nil)])
        #expect(m.conditionId == nil)
    }

    @Test func picksTheMarketBySlug() throws {
        let two = #"{"markets":[{"slug":"other","clobTokenIds":"[\"9\"]"},{"slug":"btc-updown-5m-1778584200","clobTokenIds":"[\"1\",\"2\"]"}]}"#
        #expect(try read(two, target).0.tokens.map(\.tokenId) == ["1", "2"])
    }

    @Test(arguments: [#"[]"#, #"{"markets":[]}"#, #"{"markets":[{"clobTokenIds":"[]"}]}"#, #"{"markets":[{"clobTokenIds":"[\"\"]"}]}"#,
                      #"{"markets":[{"slug":"a"},{"slug":"b"}]}"#,
                      #"{"slug":"btc-updown-5m-1","markets":[{"clobTokenIds":"[\"1\",\"2\"]"}]}"#,
                      #"{"markets":[{"slug":"btc-updown-15m-1778584200","clobTokenIds":"[\"1\",\"2\"]"}]}"#])
    func rejectsEventsWithoutTokens(text: String) throws {
        #expect(throws: Problem.self) { try read(text, target) }
    }

    /// An up/down event has one market with two tokens; anything much bigger is refused with one
    /// problem, however many ids or markets it lists.
    @Test func refusesEventsListingTooMuch() throws {
        let ids = (0..<50_000).map { "\\\"\($0)\\\"" }.joined(separator: ",")
        let many = #"{"markets":[{"slug":"btc-updown-5m-1778584200","clobTokenIds":"["# + ids + #"]"}]}"#
        #expect(throws: Problem.self) { try read(many) }
        let three = #"{"markets":[{"clobTokenIds":["1","2","3"]}]}"#
        #expect(throws: Problem.self) { try read(three) }
        let markets = #"{"markets":["# + Array(repeating: #"{"slug":"x","clobTokenIds":"[\"1\"]"}"#, count: 9).joined(separator: ",") + "]}"
        #expect(throws: Problem.self) { try read(markets) }
        let longId = #"{"markets":[{"clobTokenIds":[""# + String(repeating: "1", count: 200) + #""]}]}"#
        #expect(throws: Problem.self) { try read(longId) }
    }

    /// Fields read out for the market row are bounded; the raw event keeps everything.
    @Test func leavesHugeFieldsOut() throws {
        let huge = String(repeating: "x", count: 100_000)
        let event = #"{"title":"t","markets":[{"clobTokenIds":"[\"1\",\"2\"]","description":""# + huge + #"","question":"q"}]}"#
        let (m, details) = try read(event)
        #expect(m.tokens.map(\.tokenId) == ["1", "2"])
        #expect(details.description == nil && details.question == "q")
    }

    @Test func readsAnErrorObjectWithoutBuildingIt() throws {
        let body = Array((#"{"error":""# + String(repeating: "e", count: 100_000) + #"","retry_after_seconds":5}"#).utf8)
        guard case .errorObject(let value) = try GammaEvent.read(body, target: target) else { Issue.record("not an error"); return }
        #expect(value["error"]?.string == "(100002 bytes)" && value["retry_after_seconds"] == .number("5"))
    }
}


extension String {
    func replacingFirst(_ old: String, with new: String) -> String {
        replacing(old, with: new, maxReplacements: 1)
    }
}
