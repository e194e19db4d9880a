import OrderbooksCore

/// Version of the row schema, in every row's `schema` field (docs/FORMAT.md).
public let rowSchemaVersion = 1

/// Identifies the run and collector in every row.
public struct RowContext: Sendable {
    public var runId: String
    public var collector: String
    /// The disruption `gate run` declared for this run's time (`Disruption.text`), if any.
    public var disruption: String?

    public init(runId: String, collector: String, disruption: String? = nil) {
        self.runId = runId
        self.collector = collector
        self.disruption = disruption
    }

    /// The fields every row starts with.
    func header(_ kind: String, receivedAt: Timestamp) -> JSONObjectWriter {
        var row = JSONObjectWriter()
        row.field("kind", kind)
        row.field("schema", rowSchemaVersion)
        row.field("run_id", runId)
        row.field("collector", collector)
        row.field("received_at", receivedAt.iso8601)
        return row
    }
}

/// The step of a run a failure belongs to.
public enum Stage: String, Sendable {
    case discovery, books, write
    /// Looking up the outcome of an ended market: never part of the snapshot's own outcome.
    case resolution
}

/// A failure as recorded in a `failure` row and logged.
public struct FailureRecord: Sendable {
    public var stage: Stage
    public var problem: Problem
    public var at: Timestamp
    public var url: String?
    public var requestStartedAt: Timestamp?
    public var elapsedMicroseconds: Int64?
    public var series: Series?
    public var slug: String?
    /// The tokens whose books this failure cost.
    public var tokenIds: [String]?

    public init(stage: Stage, problem: Problem, at: Timestamp, url: String? = nil, requestStartedAt: Timestamp? = nil,
                elapsedMicroseconds: Int64? = nil, series: Series? = nil, slug: String? = nil, tokenIds: [String]? = nil) {
        self.stage = stage
        self.problem = problem
        self.at = at
        self.url = url.map(Redaction.url)  // a row and a log line may be shipped: never with a password
        self.requestStartedAt = requestStartedAt
        self.elapsedMicroseconds = elapsedMicroseconds
        self.series = series
        self.slug = slug
        self.tokenIds = tokenIds
    }

    /// Failure of one exchange.
    public init(stage: Stage, problem: Problem, exchange: HTTPExchange, series: Series? = nil, slug: String? = nil,
                tokenIds: [String]? = nil) {
        self.init(stage: stage, problem: problem, at: exchange.finishedAt, url: exchange.request.url,
                  requestStartedAt: exchange.startedAt, elapsedMicroseconds: exchange.elapsedMicroseconds,
                  series: series, slug: slug, tokenIds: tokenIds)
    }

    /// The log line: stage, kind and the essentials, for `count` failures like this one.
    public func logLine(count: Int = 1) -> String {
        var parts = ["failure stage=\(stage.rawValue) kind=\(problem.kind)"]
        if count > 1 { parts.append("count=\(count)") }
        if let status = problem.httpStatus { parts.append("status=\(status)") }
        if let slug { parts.append("slug=\(slug)") }
        if let url { parts.append("url=\(url)") }
        if let retryAt = problem.retryAt { parts.append("retry_at=\(retryAt.iso8601)") }
        if let tokenIds { parts.append("tokens=\(tokenIds.count)") }
        parts.append("error=" + Log.quoted(problem.message))
        return parts.joined(separator: " ")
    }
}

/// Where a token came from, for labelling its rows.
public struct TokenOrigin: Sendable {
    public var market: Market
    public var token: MarketToken
}

public enum Rows {
    public static func failure(_ f: FailureRecord, _ context: RowContext) -> [UInt8] {
        var row = context.header("failure", receivedAt: f.at)
        row.field("stage", f.stage.rawValue)
        row.field("error_kind", f.problem.kind)
        row.field("error", f.problem.message)
        row.field("http_status", f.problem.httpStatus)
        row.field("url", f.url)
        row.field("request_started_at", f.requestStartedAt?.iso8601)
        row.field("elapsed_ms", milliseconds: f.elapsedMicroseconds)
        row.field("series", f.series?.rawValue)
        row.field("slug", f.slug)
        row.field("retry_at", f.problem.retryAt?.iso8601)
        row.field("token_ids", strings: f.tokenIds)
        row.field("body_excerpt", f.problem.bodyExcerpt)
        if let disruption = context.disruption { row.field("disruption", disruption) }
        return row.finishedLine()
    }

    /// Market metadata with the raw Gamma event, written each time discovery asks Gamma.
    public static func market(_ m: Market, _ details: MarketDetails, exchange: HTTPExchange, body: [UInt8],
                              _ context: RowContext) -> [UInt8] {
        var row = context.header("market", receivedAt: exchange.finishedAt)
        row.field("series", m.series.rawValue)
        row.field("slug", m.slug)
        row.field("condition_id", m.conditionId)
        row.field("question", details.question)
        row.field("window_start", Timestamp(seconds: m.window.start).iso8601)
        row.field("window_end", Timestamp(seconds: m.window.end).iso8601)
        row.field("tokens", objects: m.tokens.map { t in
            var o = JSONObjectWriter()
            o.field("token_id", t.tokenId)
            o.field("outcome", t.outcome)
            return o
        })
        row.field("version", details.version)
        row.field("active", details.active)
        row.field("closed", details.closed)
        row.field("accepting_orders", details.acceptingOrders)
        row.field("uma_resolution_status", details.umaResolutionStatus)
        row.field("resolution_source", details.resolutionSource)
        row.field("description", details.description)
        row.field("url", Redaction.url(exchange.request.url))
        row.field("request_started_at", exchange.startedAt.iso8601)
        row.field("elapsed_ms", milliseconds: exchange.elapsedMicroseconds)
        row.field("event", raw: body, body.indices)
        return row.finishedLine()
    }

    /// One book exactly as the server sent it (`body[range]`), with our labels around it.
    public static func book(assetId: String?, origin: TokenOrigin?, exchange: HTTPExchange, body: [UInt8],
                            range: Range<Int>, _ context: RowContext) -> [UInt8] {
        var row = context.header("book", receivedAt: exchange.finishedAt)
        labels(&row, tokenId: assetId, origin: origin, at: exchange.startedAt)
        row.field("request_started_at", exchange.startedAt.iso8601)
        row.field("elapsed_ms", milliseconds: exchange.elapsedMicroseconds)
        row.field("book", raw: body, range)
        return row.finishedLine()
    }

    /// A requested token the books response left out.
    public static func absent(_ origin: TokenOrigin, exchange: HTTPExchange, _ context: RowContext) -> [UInt8] {
        var row = context.header("absent", receivedAt: exchange.finishedAt)
        labels(&row, tokenId: origin.token.tokenId, origin: origin, at: exchange.startedAt)
        row.field("expected", Phase(window: origin.market.window, at: exchange.startedAt.seconds, grace: Series.closingGrace) == .open)
        row.field("request_started_at", exchange.startedAt.iso8601)
        row.field("elapsed_ms", milliseconds: exchange.elapsedMicroseconds)
        return row.finishedLine()
    }

    private static func labels(_ row: inout JSONObjectWriter, tokenId: String?, origin: TokenOrigin?, at: Timestamp) {
        let market = origin?.market
        row.field("series", market?.series.rawValue)
        row.field("slug", market?.slug)
        row.field("condition_id", market?.conditionId)
        row.field("token_id", tokenId)
        row.field("outcome", origin?.token.outcome)
        row.field("window_start", market.map { Timestamp(seconds: $0.window.start).iso8601 })
        row.field("window_end", market.map { Timestamp(seconds: $0.window.end).iso8601 })
        row.field("phase", market.map { Phase(window: $0.window, at: at.seconds, grace: Series.closingGrace).rawValue })
    }
}
