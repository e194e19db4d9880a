import Testing
@testable import OrderbooksCore

private let target = WindowTarget(series: .fiveMinute, window: Window(start: 1_778_584_200, end: 1_778_584_500),
                                  slug: "btc-updown-5m-1778584200")

@Suite struct GammaEventTests {
    @Test func readsTheCapturedEvent() throws {
        let (market, details) = try GammaEvent.market(from: JSON.parse(Fixtures.event5m), target: target)
        #expect(market.conditionId == "0xa5c6d0c4cef71fe53c0235790b5568574343551fe67c62db39e9ebf3387b415a")
        #expect(market.tokens == [MarketToken(tokenId: Fixtures.upToken, outcome: "Up"), MarketToken(tokenId: Fixtures.downToken, outcome: "Down")])
        // The window is eventStartTime–endDate, not startDate (listed a day earlier).
        #expect(market.window == Window(start: 1_778_584_200, end: 1_778_584_500))
        #expect(details.question == "Bitcoin Up or Down - May 12, 7:10AM-7:15AM ET")
        #expect(details.resolutionSource == "https://data.chain.link/streams/btc-usd")
        #expect(details.closed == false)
        #expect(details.version == nil)
    }

    @Test func fallsBackThroughTheWindowFields() throws {
        let noMarketStart = Fixtures.event5m.replacingFirst(#""eventStartTime": "2026-05-12T11:10:00Z","#, with: "")
        #expect(try GammaEvent.market(from: JSON.parse(noMarketStart), target: target).0.window.start == 1_778_584_200)
        let noStarts = noMarketStart.replacingFirst(#""startTime": "2026-05-12T11:10:00Z""#, with: #""startTime": null"#)
            .replacingFirst(#""endDate": "2026-05-12T11:15:00Z","#, with: "")
            .replacingFirst(#""endDate": "2026-05-12T11:15:00Z","#, with: "")
        let shifted = WindowTarget(series: .fiveMinute, window: Window(start: 1_778_584_200, end: 1_778_584_500), slug: target.slug)
        #expect(try GammaEvent.market(from: JSON.parse(noStarts), target: shifted).0.window == shifted.window)
    }

    @Test func readsV2PositionIdsAndRealArrays() throws {
        let v2 = #"{"slug":"btc-updown-5m-1778584200","markets":[{"slug":"btc-updown-5m-1778584200","version":"v2","clobTokenIds":null,"positionIds":["111","222"],"outcomes":["Up","Down"],"conditionId":"0x1"}]}"#
        let (market, details) = try GammaEvent.market(from: JSON.parse(v2), target: target)
        #expect(market.tokens.map(\.tokenId) == ["111", "222"])
        #expect(market.tokens.map(\.outcome) == ["Up", "Down"])
        #expect(details.version == "v2")
        // A v1 market with the ids as a real array and no outcome labels.
        let plain = #"{"markets":[{"clobTokenIds":["1","2"],"closed":true,"extra":{"nested":[1,2.5]}}]}"#
        let m = try GammaEvent.market(from: JSON.parse(plain), target: target).0
        #expect(m.tokens == [MarketToken(tokenId: "1", outcome: nil), MarketToken(tokenId: "2", outcome: nil)])
        #expect(m.conditionId == nil)
    }

    @Test func picksTheMarketBySlug() throws {
        let two = #"{"markets":[{"slug":"other","clobTokenIds":"[\"9\"]"},{"slug":"btc-updown-5m-1778584200","clobTokenIds":"[\"1\",\"2\"]"}]}"#
        #expect(try GammaEvent.market(from: JSON.parse(two), target: target).0.tokens.map(\.tokenId) == ["1", "2"])
    }

    @Test(arguments: [#"[]"#, #"{"markets":[]}"#, #"{"markets":[{"clobTokenIds":"[]"}]}"#, #"{"markets":[{"clobTokenIds":"[\"\"]"}]}"#,
                      #"{"markets":[{"slug":"a"},{"slug":"b"}]}"#,
                      #"{"slug":"btc-updown-5m-1","markets":[{"clobTokenIds":"[\"1\",\"2\"]"}]}"#,
                      #"{"markets":[{"slug":"btc-updown-15m-1778584200","clobTokenIds":"[\"1\",\"2\"]"}]}"#])
    func rejectsEventsWithoutTokens(text: String) throws {
        #expect(throws: Problem.self) { try GammaEvent.market(from: JSON.parse(text), target: target) }
    }
}


extension String {
    func replacingFirst(_ old: String, with new: String) -> String {
        replacing(old, with: new, maxReplacements: 1)
    }
}
