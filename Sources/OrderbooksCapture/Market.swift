import OrderbooksCore

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
///
/// The event is validated whole but never built: only the fields read here are decoded, each
/// within a size bound, so what a server sends costs its bytes and no more. An up/down event
/// has one market with two tokens; one listing more is not one, and is refused.
public enum GammaEvent {
    /// Markets an event may list: ours has one, the rest of the bound is slack for Gamma's oddities.
    static let maxMarkets = 8
    /// Up and Down.
    static let maxTokens = 2
    /// A token id is a uint256 in decimal: 78 digits at most.
    static let maxTokenIdLength = 128
    /// A condition id is 32 bytes in hex (66 characters with `0x`), an outcome label a word
    /// (`Up`): longer ones are left out of the market (and the cache), kept in the raw event, so
    /// that fifteen cached markets stay a few KB.
    static let maxConditionIdLength = 128
    static let maxOutcomeLength = 64
    /// A field read out for the `market` row (`description` is the longest, about 1 KB); a longer
    /// one is left `null` there and stays whole in the raw `event`.
    static let maxTextBytes = 64 << 10
    /// `clobTokenIds`, `positionIds` and `outcomes` as sent: two entries take under 200 bytes.
    static let maxListBytes = 4 << 10

    public enum Reading: Sendable {
        /// A JSON object carrying `error` (its `error` and `retry_after_seconds`, bounded).
        case errorObject(JSONValue)
        case market(Market, MarketDetails)
        /// Valid JSON, but not an up/down event (an `unexpected_shape` problem).
        case unexpected(Problem)
    }

    static let eventKeys: Set<String> = ["markets", "slug", "startTime", "endDate", "title", "description", "resolutionSource",
                                         "error", "retry_after_seconds"]
    static let marketKeys: Set<String> = ["slug", "clobTokenIds", "positionIds", "version", "outcomes", "eventStartTime", "endDate",
                                          "question", "description", "resolutionSource", "active", "closed", "acceptingOrders",
                                          "umaResolutionStatus", "conditionId"]

    /// Reads `body`; a JSON error means the body is not valid JSON.
    public static func read(_ body: [UInt8], target: WindowTarget) throws(JSONError) -> Reading {
        var scanner = JSONScanner(body)
        guard try scanner.peek() == UInt8(ascii: "{") else {
            try JSON.validate(body)
            return .unexpected(shape("the event is not a JSON object"))
        }
        // The market row holds the event one level down: one level less here keeps that row readable.
        let event = Fields(body: body, ranges: try JSON.objectMemberRanges(body, body.indices, eventKeys, maxDepth: JSON.maxDepth - 1))
        if event.ranges["error"] != nil {
            return .errorObject(JSON.boundedObject(body, event.ranges, ["error", "retry_after_seconds"], maxBytes: ResponseCheck.excerptLength))
        }

        var markets: [Fields] = []
        var listed = 0
        if let range = event.ranges["markets"], body[range.lowerBound] == UInt8(ascii: "[") {
            try JSON.forEachElement(body, range) { element throws(JSONError) in
                listed += 1
                guard listed <= maxMarkets else { return false }
                let ranges = body[element.lowerBound] == UInt8(ascii: "{") ? try JSON.objectMemberRanges(body, element, marketKeys) : [:]
                markets.append(Fields(body: body, ranges: ranges))
                return true
            }
        }
        guard listed <= maxMarkets else {
            return .unexpected(shape("the event lists more than \(maxMarkets) markets; an up/down event has one"))
        }
        do throws(Problem) {
            return try market(event, markets, target)
        } catch {
            return .unexpected(error)
        }
    }

    private static func market(_ event: Fields, _ markets: [Fields], _ target: WindowTarget) throws(Problem) -> Reading {
        let market: Fields
        if let match = markets.first(where: { $0.string("slug") == target.slug }) {
            market = match
        } else if markets.count == 1, (markets[0].string("slug") ?? event.string("slug") ?? target.slug) == target.slug {
            market = markets[0]
        } else {
            throw shape("the event has \(markets.count) markets and none with slug \(target.slug)")
        }

        let ids = try tokenIds(of: market)
        guard !ids.isEmpty else { throw shape("the market lists no token ids (clobTokenIds/positionIds)") }
        if let long = ids.first(where: { $0.utf8.count > maxTokenIdLength }) {
            throw shape("a token id of \(long.utf8.count) characters; a token id is a number of at most 78 digits")
        }
        let labels = (try? list(market, "outcomes", limit: .max)) ?? []
        let tokens = ids.enumerated().map {
            MarketToken(tokenId: $0.element, outcome: $0.offset < labels.count && labels[$0.offset].utf8.count <= maxOutcomeLength ? labels[$0.offset] : nil)
        }

        let start = time(market, "eventStartTime") ?? time(event, "startTime") ?? target.window.start
        let end = time(market, "endDate") ?? time(event, "endDate") ?? target.window.end
        let window = start < end ? Window(start: start, end: end) : target.window

        let details = MarketDetails(
            question: market.string("question") ?? event.string("title"),
            description: market.string("description") ?? event.string("description"),
            resolutionSource: market.string("resolutionSource") ?? event.string("resolutionSource"),
            version: market.string("version"),
            active: market.bool("active"),
            closed: market.bool("closed"),
            acceptingOrders: market.bool("acceptingOrders"),
            umaResolutionStatus: market.string("umaResolutionStatus"))
        let result = Market(series: target.series, slug: target.slug, conditionId: market.string("conditionId", maxBytes: maxConditionIdLength),
                            window: window, tokens: tokens)
        return .market(result, details)
    }

    /// V2 markets list ids in `positionIds` (a real array); V1 in `clobTokenIds` (an encoded
    /// string). The field the version names is tried first, the other one second.
    static func tokenIds(of market: Fields) throws(Problem) -> [String] {
        let fields = market.string("version") == "v2" ? ["positionIds", "clobTokenIds"] : ["clobTokenIds", "positionIds"]
        for field in fields {
            let ids = try list(market, field, limit: maxTokens).filter { !$0.isEmpty }
            if !ids.isEmpty { return ids }
        }
        return []
    }

    /// A list of strings sent as a JSON array, or as a string holding one. Numbers keep their text.
    /// More than `limit` entries, or a field too long to hold so few, is a shape problem.
    static func list(_ fields: Fields, _ key: String, limit: Int) throws(Problem) -> [String] {
        guard let range = fields.ranges[key] else { return [] }
        guard range.count <= maxListBytes else { throw shape("the market's \(key) is \(range.count) bytes, far more than \(limit) entries take") }
        var value = try? JSON.parse(fields.body, range)
        if let text = value?.string { value = try? JSON.parse(text) }
        let entries: [String] = (value?.array ?? []).compactMap {
            switch $0 {
            case .string(let s): s
            case .number(let n): n
            default: nil
            }
        }
        guard entries.count <= limit else { throw shape("the market's \(key) lists \(entries.count) entries; an up/down market has \(limit)") }
        return entries
    }

    static func time(_ fields: Fields, _ key: String) -> Int64? {
        fields.string(key, maxBytes: 64).flatMap(Timestamp.parse)?.seconds
    }

    private static func shape(_ message: String) -> Problem {
        Problem(kind: "unexpected_shape", message: message)
    }

    /// Some members of one object of the body, by where their values lie.
    struct Fields {
        let body: [UInt8]
        let ranges: [String: Range<Int>]

        func string(_ key: String, maxBytes: Int = GammaEvent.maxTextBytes) -> String? {
            ranges[key].flatMap { JSON.string(body, $0, maxBytes: maxBytes) }
        }

        func bool(_ key: String) -> Bool? {
            guard let range = ranges[key] else { return nil }
            if body[range].elementsEqual("true".utf8) { return true }
            if body[range].elementsEqual("false".utf8) { return false }
            return nil
        }
    }
}
