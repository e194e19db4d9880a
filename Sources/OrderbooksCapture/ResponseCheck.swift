import OrderbooksCore

/// What went wrong with one exchange, in the terms of a `failure` row.
public struct Problem: Error, Sendable, Equatable {
    /// Machine-readable cause, the `error_kind` of a failure row (see docs/FORMAT.md).
    public var kind: String
    public var message: String
    public var httpStatus: Int?
    /// When the server asked us to come back (Retry-After, `retry_after_seconds`).
    public var retryAt: Timestamp?
    /// The start of the body, so HTML pages and error texts are kept as evidence.
    public var bodyExcerpt: String?

    public init(kind: String, message: String, httpStatus: Int? = nil, retryAt: Timestamp? = nil, bodyExcerpt: String? = nil) {
        self.kind = kind
        self.message = message
        self.httpStatus = httpStatus
        self.retryAt = retryAt
        self.bodyExcerpt = bodyExcerpt
    }

    /// Whether this tells us to slow down, so later runs hold off this API.
    public var isThrottle: Bool { kind == "throttled" }
}

/// Turns an exchange into a JSON body worth parsing, or the reason it is not. Polymarket
/// answers through Cloudflare, so errors arrive as HTML pages, plain text, and even HTTP 200
/// with an `{"error": …}` body.
public enum ResponseCheck {
    static let excerptLength = 300

    /// Status, transport and content checks that need no parsing.
    public static func body(of exchange: HTTPExchange) -> Result<HTTPResponse, Problem> {
        let response: HTTPResponse
        switch exchange.result {
        case .failure(let error):
            return .failure(Problem(kind: error.kind.rawValue, message: error.description))
        case .success(let r):
            response = r
        }
        let excerpt = self.excerpt(response.body)
        let retryAt = response.retryAfter.flatMap { retryTime($0, now: exchange.finishedAt) }
        switch response.status {
        case 200..<300:
            break
        case 429:
            return .failure(Problem(kind: "throttled", message: "HTTP 429 Too Many Requests", httpStatus: 429,
                                    retryAt: retryAt, bodyExcerpt: excerpt))
        case 503 where retryAt != nil:
            return .failure(Problem(kind: "throttled", message: "HTTP 503 with Retry-After", httpStatus: 503,
                                    retryAt: retryAt, bodyExcerpt: excerpt))
        case 403 where excerpt.contains("error code: 1010"):
            return .failure(Problem(kind: "waf_blocked", message: "HTTP 403 from Cloudflare's firewall (error code: 1010)",
                                    httpStatus: 403, bodyExcerpt: excerpt))
        case 404:
            return .failure(Problem(kind: "not_found", message: "HTTP 404" + errorSuffix(response.body), httpStatus: 404, bodyExcerpt: excerpt))
        default:
            return .failure(Problem(kind: "http_status", message: "HTTP \(response.status)" + errorSuffix(response.body),
                                    httpStatus: response.status, retryAt: retryAt, bodyExcerpt: excerpt))
        }
        if response.body.allSatisfy(JSON.isWhitespace) {
            return .failure(Problem(kind: "empty_body", message: "HTTP \(response.status) with an empty body", httpStatus: response.status))
        }
        let type = response.contentType?.lowercased() ?? ""
        if type.contains("html") || response.body.first(where: { !JSON.isWhitespace($0) }) == UInt8(ascii: "<") {
            return .failure(Problem(kind: "html_body", message: "HTTP \(response.status) with an HTML body instead of JSON",
                                    httpStatus: response.status, bodyExcerpt: excerpt))
        }
        return .success(response)
    }

    /// The problem a JSON parse error stands for.
    public static func problem(_ error: JSONError, in response: HTTPResponse) -> Problem {
        let kind = error.kind == .truncated ? "truncated_json" : "invalid_json"
        return Problem(kind: kind, message: "body is not valid JSON (\(error))", httpStatus: response.status,
                       bodyExcerpt: excerpt(response.body))
    }

    /// A JSON object carrying `error` is an error whatever the status says.
    public static func problem(errorObject value: JSONValue, in response: HTTPResponse, now: Timestamp) -> Problem? {
        guard let error = value["error"] else { return nil }
        let text = error.string ?? "\(error)"
        var retryAt: Timestamp? = nil
        if case .number(let n)? = value["retry_after_seconds"], let seconds = delaySeconds(n) {
            retryAt = now.adding(seconds: seconds)
        }
        let throttled = retryAt != nil || text.lowercased().contains("too many requests")
        return Problem(kind: throttled ? "throttled" : "error_body", message: "HTTP \(response.status) with error: \(text)",
                       httpStatus: response.status, retryAt: retryAt, bodyExcerpt: excerpt(response.body))
    }

    /// A Gamma object that carries `error` instead of being `what` was asked for: the error's
    /// problem, or a shape problem when the `error` says nothing.
    public static func problem(errorObject value: JSONValue, in response: HTTPResponse, now: Timestamp, instead what: String) -> Problem {
        problem(errorObject: value, in: response, now: now)
            ?? problem(shape: Problem(kind: "unexpected_shape", message: "\(what) carrying an error"), in: response)
    }

    /// A shape problem found in a valid JSON body, with the response's status and the body's start.
    public static func problem(shape: Problem, in response: HTTPResponse) -> Problem {
        var problem = shape
        problem.httpStatus = response.status
        problem.bodyExcerpt = excerpt(response.body)
        return problem
    }

    static func excerpt(_ body: [UInt8]) -> String {
        String(decoding: body.prefix(excerptLength), as: UTF8.self)
    }

    private static func errorSuffix(_ body: [UInt8]) -> String {
        guard body.count < 4096, let value = try? JSON.parse(body), let error = value["error"]?.string else { return "" }
        return ": \(error)"
    }

    /// Retry-After as delta-seconds or an IMF-fixdate (`Wed, 21 Oct 2026 07:28:00 GMT`). Any
    /// delay, however large, gives an instant no later than `Timestamp.latest` (the backoff caps
    /// the pause anyway); a date outside the years 0000–9999 is not one.
    public static func retryTime(_ header: String, now: Timestamp) -> Timestamp? {
        let text = header.trimmingWhitespace
        if text.first?.isASCII == true, text.first?.isNumber == true {
            return delaySeconds(text).map { now.adding(seconds: $0) }
        }
        let parts = text.split(separator: " ")
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard parts.count == 6, parts[5] == "GMT", parts[1].count == 2, parts[3].count == 4, let day = Int(parts[1]),
              let month = months.firstIndex(of: String(parts[2])), let year = Int(parts[3]) else { return nil }
        let clock = parts[4].split(separator: ":", omittingEmptySubsequences: false)
        guard clock.count == 3, clock.allSatisfy({ $0.count == 2 }), let hour = Int(clock[0]), let minute = Int(clock[1]),
              let second = Int(clock[2]) else { return nil }
        return Timestamp(civil: CivilTime(year: year, month: month + 1, day: day, hour: hour, minute: minute, second: second))
    }

    /// A delay in seconds as a server writes it (`120`, `1.5`, `1e3`, or more digits than any
    /// integer holds), rounded up and saturating at `Int64.max`, so it can never trap; nil when
    /// it is not a non-negative decimal number.
    static func delaySeconds(_ text: String) -> Int64? {
        guard let first = text.unicodeScalars.first, ("0"..."9").contains(first),
              text.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) || ".eE+-".unicodeScalars.contains($0) }),
              let value = Double(text), value >= 0 else { return nil }
        // 2^63 is exactly representable; anything from there on saturates.
        return value < 9_223_372_036_854_775_808.0 ? Int64(value.rounded(.up)) : Int64.max
    }
}
