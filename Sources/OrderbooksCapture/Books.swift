import OrderbooksCore

/// `POST /books`: the request body, and the response split into its raw book objects.
public enum Books {
    /// The CLOB refuses larger batches (`400 {"error":"Payload exceeds the limit"}`).
    public static let maxTokensPerRequest = 500

    /// `[{"token_id":"…"},…]`
    public static func requestBody(_ tokenIds: [String]) -> [UInt8] {
        var body: [UInt8] = [UInt8(ascii: "[")]
        for (i, id) in tokenIds.enumerated() {
            if i > 0 { body.append(UInt8(ascii: ",")) }
            var item = JSONObjectWriter()
            item.field("token_id", id)
            body.append(contentsOf: item.finished)
        }
        body.append(UInt8(ascii: "]"))
        return body
    }

    /// The largest books answer read for `tokens` tokens: far above a real one (a book is a few
    /// KB; one with every price level of a 0.001 tick is about 40 KB), so only a hostile or broken
    /// server reaches it, and the work a run does stays bounded by what it asked for.
    public static func maxBodyBytes(tokens: Int) -> Int {
        max(1 << 20, min(max(tokens, 0), maxTokensPerRequest) * (64 << 10))
    }

    /// One element of the response array kept as a book row: where it lies in the body, and its
    /// `asset_id`.
    public struct RawBook: Sendable, Equatable {
        public var range: Range<Int>
        /// nil when the element has no string `asset_id`.
        public var assetId: String?
    }

    /// Elements that are not the first book of a token asked for: counted, never one row each.
    public struct Extras: Sendable, Equatable {
        public var notAsked = 0
        public var repeated = 0
        /// Objects without a string `asset_id`, and elements that are not objects at all.
        public var withoutAssetId = 0
        /// How many of them are kept as book rows (objects only, up to the tokens asked).
        public var kept = 0
        /// The first of them, for the failure row's excerpt.
        public var first: Range<Int>

        public var count: Int { notAsked + repeated + withoutAssetId }
    }

    public struct Answer: Sendable, Equatable {
        /// In body order: the first book of each token asked, then (up to the number of tokens
        /// asked in all) other objects, which may be books whose `asset_id` we cannot match.
        public var books: [RawBook]
        public var extras: Extras?
    }

    /// Splits a books response into the elements worth a row, without re-encoding them. The whole
    /// body is validated first, so a truncated or malformed response yields no books at all. Rows
    /// are bounded by `asked`, whatever the answer holds: a million elements give at most
    /// `asked.count` rows and one summary.
    public static func split(_ response: HTTPResponse, asked: Set<String>, now: Timestamp) -> Result<Answer, Problem> {
        let body = response.body
        do throws(JSONError) {
            var scanner = JSONScanner(body)
            guard try scanner.peek() == UInt8(ascii: "[") else {
                if try scanner.peek() == UInt8(ascii: "{") {
                    let members = try JSON.objectMemberRanges(body, body.indices, ["error", "retry_after_seconds"])
                    let error = JSON.boundedObject(body, members, ["error", "retry_after_seconds"], maxBytes: ResponseCheck.excerptLength)
                    if let problem = ResponseCheck.problem(errorObject: error, in: response, now: now) {
                        return .failure(problem)
                    }
                } else {
                    try JSON.validate(body)
                }
                return .failure(Problem(kind: "unexpected_shape", message: "the books response is not a JSON array",
                                        httpStatus: response.status, bodyExcerpt: ResponseCheck.excerpt(body)))
            }
            var matched: [String: Range<Int>] = [:]
            var others: [RawBook] = []
            var extras: Extras? = nil
            try JSON.forEachElement(body, body.indices) { element throws(JSONError) in
                var assetId: String? = nil
                let isObject = body[element.lowerBound] == UInt8(ascii: "{")
                if isObject, let range = try JSON.objectMemberRanges(body, element, ["asset_id"])["asset_id"] {
                    // A token id is 77-78 digits; a longer "id" cannot be one we asked for.
                    assetId = JSON.string(body, range, maxBytes: 256)
                }
                if let assetId, asked.contains(assetId), matched[assetId] == nil {
                    matched[assetId] = element
                    return true
                }
                var e = extras ?? Extras(first: element)
                if let assetId { if asked.contains(assetId) { e.repeated += 1 } else { e.notAsked += 1 } } else { e.withoutAssetId += 1 }
                if isObject, others.count < asked.count { others.append(RawBook(range: element, assetId: assetId)) }
                extras = e
                return true
            }
            let room = max(0, asked.count - matched.count)
            var books = matched.map { RawBook(range: $0.value, assetId: $0.key) } + others.prefix(room)
            books.sort { $0.range.lowerBound < $1.range.lowerBound }
            extras?.kept = min(room, others.count)
            return .success(Answer(books: books, extras: extras))
        } catch {
            return .failure(ResponseCheck.problem(error, in: response))
        }
    }

    /// The one failure row that stands for every extra element of an answer.
    public static func problem(_ extras: Extras, asked: Int, in response: HTTPResponse) -> Problem {
        var parts: [String] = []
        if extras.notAsked > 0 { parts.append("\(extras.notAsked) for tokens not asked") }
        if extras.repeated > 0 { parts.append("\(extras.repeated) repeating a token") }
        if extras.withoutAssetId > 0 { parts.append("\(extras.withoutAssetId) without a string asset_id") }
        let kept = extras.kept > 0 ? "\(extras.kept) kept as book rows, the others dropped" : "none kept"
        return Problem(kind: "unexpected_shape",
                       message: "the books response has \(extras.count) element(s) beyond the first book of each of the \(asked) token(s) asked: "
                           + parts.joined(separator: ", ") + "; \(kept) (the first is in body_excerpt)",
                       httpStatus: response.status, bodyExcerpt: ResponseCheck.excerpt(Array(response.body[extras.first.prefix(ResponseCheck.excerptLength)])))
    }
}
