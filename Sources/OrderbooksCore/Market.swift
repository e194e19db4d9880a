/// One outcome token of a market.
public struct MarketToken: Sendable, Equatable {
    public var tokenId: String
    /// The label Gamma gives the outcome (`Up`, `Down`); nil when Gamma sent no labels.
    public var outcome: String?

    public init(tokenId: String, outcome: String?) {
        self.tokenId = tokenId
        self.outcome = outcome
    }
}

/// What a run needs to know of a market: enough to request its books and label them.
public struct Market: Sendable, Equatable {
    public var series: Series
    public var slug: String
    public var conditionId: String?
    public var window: Window
    public var tokens: [MarketToken]

    public init(series: Series, slug: String, conditionId: String?, window: Window, tokens: [MarketToken]) {
        self.series = series
        self.slug = slug
        self.conditionId = conditionId
        self.window = window
        self.tokens = tokens
    }
}

/// The descriptive fields of a market, recorded in `market` rows beside the raw event.
public struct MarketDetails: Sendable, Equatable {
    public var question: String?
    public var description: String?
    public var resolutionSource: String?
    public var version: String?
    public var active: Bool?
    public var closed: Bool?
    public var acceptingOrders: Bool?
    public var umaResolutionStatus: String?
}

/// Reads a Gamma event (`GET /events/slug/{slug}`) into a `Market`.
///
/// Gamma's quirks, all tolerated: `clobTokenIds` and `outcomes` are JSON arrays encoded as
/// strings (or real arrays); Protocol V2 markets carry `positionIds` instead; the window comes
/// from `eventStartTime`/`endDate` (never `startDate`, which is the listing time a day earlier),
/// and any of those may be absent, in which case the window derived from the slug stands.
public enum GammaEvent {
    public static func market(from event: JSONValue, target: WindowTarget) throws(Problem) -> (Market, MarketDetails) {
        guard case .object = event else { throw shape("the event is not a JSON object") }
        let markets = event["markets"]?.array ?? []
        let market: JSONValue
        if let match = markets.first(where: { $0["slug"]?.string == target.slug }) {
            market = match
        } else if markets.count == 1, (markets[0]["slug"]?.string ?? event["slug"]?.string ?? target.slug) == target.slug {
            market = markets[0]
        } else {
            throw shape("the event has \(markets.count) markets and none with slug \(target.slug)")
        }

        let ids = tokenIds(of: market)
        guard !ids.isEmpty else { throw shape("the market lists no token ids (clobTokenIds/positionIds)") }
        let labels = stringList(market["outcomes"])
        let tokens = ids.enumerated().map { MarketToken(tokenId: $0.element, outcome: $0.offset < labels.count ? labels[$0.offset] : nil) }

        let start = time(market["eventStartTime"]) ?? time(event["startTime"]) ?? target.window.start
        let end = time(market["endDate"]) ?? time(event["endDate"]) ?? target.window.end
        let window = start < end ? Window(start: start, end: end) : target.window

        let details = MarketDetails(
            question: market["question"]?.string ?? event["title"]?.string,
            description: market["description"]?.string ?? event["description"]?.string,
            resolutionSource: market["resolutionSource"]?.string ?? event["resolutionSource"]?.string,
            version: market["version"]?.string,
            active: market["active"]?.bool,
            closed: market["closed"]?.bool,
            acceptingOrders: market["acceptingOrders"]?.bool,
            umaResolutionStatus: market["umaResolutionStatus"]?.string)
        let result = Market(series: target.series, slug: target.slug, conditionId: market["conditionId"]?.string,
                            window: window, tokens: tokens)
        return (result, details)
    }

    /// V2 markets list ids in `positionIds` (a real array); V1 in `clobTokenIds` (an encoded
    /// string). The field the version names is tried first, the other one second.
    static func tokenIds(of market: JSONValue) -> [String] {
        let fields = market["version"]?.string == "v2" ? ["positionIds", "clobTokenIds"] : ["clobTokenIds", "positionIds"]
        for field in fields {
            let ids = stringList(market[field]).filter { !$0.isEmpty }
            if !ids.isEmpty { return ids }
        }
        return []
    }

    /// A list of strings sent as a JSON array, or as a string holding one. Numbers keep their text.
    static func stringList(_ value: JSONValue?) -> [String] {
        var list = value
        if let text = value?.string { list = try? JSON.parse(text) }
        return (list?.array ?? []).compactMap {
            switch $0 {
            case .string(let s): s
            case .number(let n): n
            default: nil
            }
        }
    }

    static func time(_ value: JSONValue?) -> Int64? {
        value?.string.flatMap(Timestamp.parse)?.seconds
    }

    private static func shape(_ message: String) -> Problem {
        Problem(kind: "unexpected_shape", message: message)
    }
}
