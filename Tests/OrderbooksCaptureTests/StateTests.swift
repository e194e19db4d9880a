import ArgumentParser
import Testing
@testable import OrderbooksCore
@testable import OrderbooksCapture

@Suite struct BackoffTests {
    let now = Timestamp(seconds: 10_000)

    @Test func waitsForRetryAfterThenDoublesWithoutIt() {
        var state = BackoffState()
        state.recordThrottle(.clob, Problem(kind: "throttled", message: "429", retryAt: Timestamp(seconds: 10_030)), at: now)
        #expect(state.pause(for: .clob, at: Timestamp(seconds: 10_029))?.until == Timestamp(seconds: 10_030))
        #expect(state.pause(for: .clob, at: Timestamp(seconds: 10_030)) == nil)
        #expect(state.pause(for: .gamma, at: now) == nil)
        state.recordThrottle(.clob, Problem(kind: "throttled", message: "429"), at: now)
        #expect(state.pause(for: .clob, at: now)?.until == Timestamp(seconds: 10_000 + 2 * BackoffState.basePause))
        state.recordSuccess(.clob)
        #expect(state.entries.isEmpty)
    }

    @Test func capsAbsurdRequests() {
        var state = BackoffState()
        state.recordThrottle(.gamma, Problem(kind: "throttled", message: "x", retryAt: Timestamp(seconds: 99_999_999)), at: now)
        #expect(state.pause(for: .gamma, at: now)?.until == Timestamp(seconds: 10_000 + BackoffState.maxPause))
    }

    @Test func ignoresAPauseLeftFarAheadByAClockStep() {
        var state = BackoffState()
        state.recordThrottle(.clob, Problem(kind: "throttled", message: "429", retryAt: Timestamp(seconds: 10_060)), at: now)
        #expect(state.pause(for: .clob, at: Timestamp(seconds: 10_000 - 86_400)) == nil)
        #expect(state.pause(for: .clob, at: now) != nil)
    }

    @Test func survivesARoundTripAndGarbage() {
        var state = BackoffState()
        state.recordThrottle(.clob, Problem(kind: "throttled", message: "HTTP 429 \"quoted\""), at: now)
        #expect(BackoffState.decode(state.encoded()) == state)
        #expect(BackoffState.decode(Array("{not json".utf8)) == BackoffState())
        #expect(BackoffState.decode([]) == BackoffState())
    }
}

@Suite struct DiscoveryCacheTests {
    @Test func survivesARoundTripAndGarbage() {
        var cache = DiscoveryCache()
        let market = Market(series: .hourly, slug: "bitcoin-up-or-down-october-2-2026-1am-et", conditionId: nil,
                            window: Window(start: 1, end: 3601), tokens: [MarketToken(tokenId: "1", outcome: "Up"), MarketToken(tokenId: "2", outcome: nil)])
        cache.entries[market.slug] = .init(fetchedAt: Timestamp(microseconds: 123_456_789), answer: .market(market))
        cache.entries["next"] = .init(fetchedAt: Timestamp(seconds: 5), answer: .notListed)
        #expect(DiscoveryCache.decode(cache.encoded()) == cache)
        #expect(DiscoveryCache.decode(Array(#"{"schema":2,"entries":[]}"#.utf8)) == DiscoveryCache())
        #expect(DiscoveryCache.decode(Array("\0\0\0".utf8)) == DiscoveryCache())
    }

    /// Issue 9 §5: what the cache names is requested, so an edited file may name no more than
    /// Gamma could: two tokens of at most 128 characters, short labels and condition ids.
    @Test func anEntryGammaCouldNotHaveGivenIsDropped() {
        func entry(tokens: [(String, String?)], conditionId: String? = "0xabc") -> [UInt8] {
            var cache = DiscoveryCache()
            let market = Market(series: .fiveMinute, slug: "s", conditionId: conditionId, window: Window(start: 0, end: 300),
                                tokens: tokens.map { MarketToken(tokenId: $0.0, outcome: $0.1) })
            cache.entries["s"] = .init(fetchedAt: Timestamp(seconds: 1), answer: .market(market))
            return cache.encoded()
        }
        #expect(DiscoveryCache.decode(entry(tokens: [("1", "Up"), ("2", "Down")])).entries.count == 1)
        #expect(DiscoveryCache.decode(entry(tokens: [(String(repeating: "9", count: 128), "Up")])).entries.count == 1)
        #expect(DiscoveryCache.decode(entry(tokens: [("1", "Up"), ("2", "Down"), ("3", nil)])).entries.isEmpty)
        #expect(DiscoveryCache.decode(entry(tokens: (0..<3300).map { (String($0), nil) })).entries.isEmpty)
        #expect(DiscoveryCache.decode(entry(tokens: [(String(repeating: "9", count: 129), "Up")])).entries.isEmpty)
        #expect(DiscoveryCache.decode(entry(tokens: [("", "Up")])).entries.isEmpty)
        #expect(DiscoveryCache.decode(entry(tokens: [("1", "Up")], conditionId: String(repeating: "a", count: 65_536))).entries.isEmpty)
        // A label too long to be one is dropped, the token kept.
        let long = DiscoveryCache.decode(entry(tokens: [("1", String(repeating: "U", count: 4000))]))
        guard case .market(let market)? = long.entries["s"]?.answer else { Issue.record("dropped"); return }
        #expect(market.tokens == [MarketToken(tokenId: "1", outcome: nil)])
    }
}

@Suite struct ConfigurationTests {
    private func configure(_ args: [String], _ env: [String: String] = [:]) throws -> SnapConfiguration {
        try SnapOptions.parse(args).configuration(environment: env)
    }

    @Test func defaults() throws {
        let c = try configure([])
        #expect(c.dataDirectory == "/var/lib/orderbooks")
        #expect(c.clobURL == "https://clob.polymarket.com" && c.gammaURL == "https://gamma-api.polymarket.com")
        #expect(c.series == Series.allCases)
        #expect(c.http.caFile == nil && c.http.connectTimeoutMilliseconds == 5000 && c.http.timeoutMilliseconds == 10_000)
        #expect(c.discoveryTTL == 60 && !c.toStdout)
        #expect(!c.collector.isEmpty && !c.collector.contains("_"))
        #expect(try configure([], ["STATE_DIRECTORY": "/var/lib/orderbooks2:/other"]).dataDirectory == "/var/lib/orderbooks2")
    }

    @Test func flagsBeatEnvironmentWhichBeatsDefaults() throws {
        let env = ["ORDERBOOKS_DATA_DIR": "/env", "ORDERBOOKS_SERIES": "5m, btc-up-or-down-daily,5m", "ORDERBOOKS_TIMEOUT": "2.5",
                   "ORDERBOOKS_CLOB_URL": "http://127.0.0.1:9/", "STATE_DIRECTORY": "/state", "ORDERBOOKS_COLLECTOR_ID": "vps-1"]
        let fromEnv = try configure([], env)
        #expect(fromEnv.dataDirectory == "/env" && fromEnv.series == [.fiveMinute, .daily] && fromEnv.http.timeoutMilliseconds == 2500)
        #expect(fromEnv.clobURL == "http://127.0.0.1:9" && fromEnv.collector == "vps-1")
        let fromFlags = try configure(["--data-dir", "/flag", "--series", "hourly", "--timeout", "1", "--collector-id", "b.2"], env)
        #expect(fromFlags.dataDirectory == "/flag" && fromFlags.series == [.hourly] && fromFlags.http.timeoutMilliseconds == 1000)
        #expect(fromFlags.collector == "b.2")
        #expect(try configure([], ["ORDERBOOKS_SERIES": ""]).series == Series.allCases)
    }

    @Test(arguments: [["--series", "weekly"], ["--timeout", "0"], ["--clob-url", "ftp://x"], ["--collector-id", "a_b"],
                      ["--max-body-bytes", "10"], ["--discovery-ttl=-1"], ["--user-agent", ""]])
    func badFlagsAreUsageErrors(args: [String]) {
        #expect(throws: ValidationError.self) { try configure(args) }
    }

    @Test func badEnvironmentAndFilesAreConfigurationErrors() {
        #expect(throws: ConfigurationError.self) { try configure([], ["ORDERBOOKS_TIMEOUT": "soon"]) }
        #expect(throws: ConfigurationError.self) { try configure([], ["ORDERBOOKS_GAMMA_URL": "gamma"]) }
        #expect(throws: ConfigurationError.self) { try configure(["--ca-file", "/nonexistent/ca.pem"]) }
    }

    @Test func hostNamesBecomeSafeCollectorIds() {
        #expect(SnapOptions.sanitized("vps_1.example") == "vps-1.example")
    }
}
