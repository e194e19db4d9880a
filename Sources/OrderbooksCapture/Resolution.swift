import OrderbooksCore

/// Reads a market's resolution from Gamma's market object (`GET /markets/slug/{slug}`, which
/// answers for open and closed markets alike).
///
/// A market counts as resolved only when Gamma says so three ways at once: `closed` is true,
/// `umaResolutionStatus` is `resolved` (or absent: older markets never carried it), and
/// `outcomePrices` is final: one outcome at 1 and the others at 0, or every outcome at the same
/// price summing to 1 (a 50-50 split, which has no winner). `proposed` and `disputed` are not final: a proposal can
/// be disputed and overturned, and prices near 1 (`0.9995`) are trading, not settlement.
public enum GammaResolution {
    static let keys: Set<String> = ["slug", "conditionId", "clobTokenIds", "positionIds", "version", "outcomes", "outcomePrices",
                                    "closed", "closedTime", "umaResolutionStatus", "eventStartTime", "endDate",
                                    "error", "retry_after_seconds"]

    /// A resolved market. `fields` points into the body, so what Gamma sent is recorded as sent.
    public struct Resolved: Sendable {
        public var conditionId: String?
        public var window: Window
        public var tokens: [MarketToken]
        /// The index of the winning token; nil for a split.
        public var winner: Int?
        public var status: String?
        let fields: GammaEvent.Fields
    }

    public enum Reading: Sendable {
        case resolved(Resolved)
        /// Not resolved yet; what Gamma said, for the log and the give-up row.
        case pending(String)
        /// A JSON object carrying `error` (its `error` and `retry_after_seconds`, bounded).
        case errorObject(JSONValue)
        case unexpected(Problem)
    }

    /// Reads `body`; a JSON error means the body is not valid JSON.
    public static func read(_ body: [UInt8], awaited: AwaitedResolution) throws(JSONError) -> Reading {
        var scanner = JSONScanner(body)
        guard try scanner.peek() == UInt8(ascii: "{") else {
            try JSON.validate(body)
            return .unexpected(Problem(kind: "unexpected_shape", message: "the market is not a JSON object"))
        }
        // The resolution row holds the market one level down.
        let fields = GammaEvent.Fields(body: body, ranges: try JSON.objectMemberRanges(body, body.indices, keys, maxDepth: JSON.maxDepth - 1))
        if fields.ranges["error"] != nil {
            return .errorObject(JSON.boundedObject(body, fields.ranges, ["error", "retry_after_seconds"], maxBytes: ResponseCheck.excerptLength))
        }
        do throws(Problem) {
            return try reading(fields, awaited)
        } catch {
            return .unexpected(error)
        }
    }

    private static func reading(_ fields: GammaEvent.Fields, _ awaited: AwaitedResolution) throws(Problem) -> Reading {
        if let slug = fields.string("slug", maxBytes: 256), slug != awaited.slug {
            throw Problem(kind: "unexpected_shape", message: "asked for market \(awaited.slug), Gamma answered with \(slug)")
        }
        let ids = try GammaEvent.tokenIds(of: fields)
        guard !ids.isEmpty, ids.allSatisfy({ $0.utf8.count <= GammaEvent.maxTokenIdLength }) else {
            throw Problem(kind: "unexpected_shape", message: "the market lists no usable token ids (clobTokenIds/positionIds)")
        }
        let labels = (try? GammaEvent.list(fields, "outcomes", limit: .max)) ?? []
        let tokens = ids.enumerated().map {
            MarketToken(tokenId: $0.element, outcome: $0.offset < labels.count && labels[$0.offset].utf8.count <= GammaEvent.maxOutcomeLength ? labels[$0.offset] : nil)
        }
        let closed = fields.bool("closed")
        let status = fields.string("umaResolutionStatus", maxBytes: 64)
        let prices = try GammaEvent.list(fields, "outcomePrices", limit: GammaEvent.maxTokens)
        let state = "closed=\(closed.map(String.init) ?? "null") uma_resolution_status=\(status ?? "null") outcome_prices=[\(prices.joined(separator: ","))]"

        let values = prices.compactMap { Double($0) }
        guard closed == true, status == nil || status == "resolved", values.count == tokens.count, values.count == prices.count else {
            return .pending(state)
        }
        let winner: Int?
        if values.filter({ $0 == 1 }).count == 1, values.filter({ $0 == 0 }).count == values.count - 1 {
            winner = values.firstIndex(of: 1)
        } else if Set(values).count == 1, abs(values.reduce(0, +) - 1) < 1e-9 {
            winner = nil
        } else {
            return .pending(state)
        }
        let start = GammaEvent.time(fields, "eventStartTime") ?? awaited.window.start
        let end = GammaEvent.time(fields, "endDate") ?? awaited.window.end
        return .resolved(Resolved(conditionId: fields.string("conditionId", maxBytes: GammaEvent.maxConditionIdLength),
                                  window: start < end ? Window(start: start, end: end) : awaited.window,
                                  tokens: tokens, winner: winner, status: status, fields: fields))
    }
}

extension Rows {
    /// The outcome of a market, with the market object as Gamma sent it.
    public static func resolution(_ awaited: AwaitedResolution, _ resolved: GammaResolution.Resolved, exchange: HTTPExchange,
                                  _ context: RowContext) -> [UInt8] {
        let fields = resolved.fields
        var row = context.header("resolution", receivedAt: exchange.finishedAt)
        row.field("series", awaited.series.rawValue)
        row.field("slug", awaited.slug)
        row.field("condition_id", resolved.conditionId)
        row.field("window_start", Timestamp(seconds: resolved.window.start).iso8601)
        row.field("window_end", Timestamp(seconds: resolved.window.end).iso8601)
        let winner = resolved.winner.map { resolved.tokens[$0] }
        row.field("winning_outcome", winner?.outcome)
        row.field("winning_token_id", winner?.tokenId)
        row.field("tokens", objects: resolved.tokens.map { t in
            var o = JSONObjectWriter()
            o.field("token_id", t.tokenId)
            o.field("outcome", t.outcome)
            return o
        })
        // As sent: `outcomes` and `outcomePrices` are JSON held in strings, `closedTime` is not ISO 8601.
        for (name, key) in [("outcomes", "outcomes"), ("outcome_prices", "outcomePrices"), ("closed", "closed"), ("closed_time", "closedTime")] {
            if let range = fields.ranges[key], range.count <= GammaEvent.maxListBytes {
                row.field(name, raw: fields.body, range)
            } else {
                row.field(name, nil as String?)
            }
        }
        row.field("uma_resolution_status", resolved.status)
        row.field("checks", awaited.checks + 1)
        row.field("url", Redaction.url(exchange.request.url))
        row.field("request_started_at", exchange.startedAt.iso8601)
        row.field("elapsed_ms", milliseconds: exchange.elapsedMicroseconds)
        row.field("market", raw: fields.body, fields.body.indices)
        return row.finishedLine()
    }
}
