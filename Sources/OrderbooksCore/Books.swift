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

    /// One element of the response array: where it lies in the body, and its `asset_id`.
    public struct RawBook: Sendable, Equatable {
        public var range: Range<Int>
        /// nil when the element is not an object or has no string `asset_id`.
        public var assetId: String?
    }

    /// Splits a books response into its elements without re-encoding them. The whole body is
    /// validated first, so a truncated or malformed response yields no books at all.
    public static func split(_ response: HTTPResponse, now: Timestamp) -> Result<[RawBook], Problem> {
        var scanner = JSONScanner(response.body)
        do throws(JSONError) {
            guard try scanner.peek() == UInt8(ascii: "[") else {
                let value = try JSON.parse(response.body)
                if let problem = ResponseCheck.problem(errorObject: value, in: response, now: now) { return .failure(problem) }
                return .failure(Problem(kind: "unexpected_shape", message: "the books response is not a JSON array",
                                        httpStatus: response.status, bodyExcerpt: ResponseCheck.excerpt(response.body)))
            }
            try scanner.expect(UInt8(ascii: "["))
            var books: [RawBook] = []
            if try !scanner.consume(UInt8(ascii: "]")) {
                repeat {
                    _ = try scanner.peek()  // skips whitespace, so the range starts at the value
                    let start = scanner.position
                    var assetId: String? = nil
                    if try scanner.consume(UInt8(ascii: "{")) {
                        if try !scanner.consume(UInt8(ascii: "}")) {
                            repeat {
                                let key = try scanner.string()
                                try scanner.expect(UInt8(ascii: ":"))
                                if key == "asset_id", assetId == nil {
                                    assetId = try scanner.value().string
                                } else {
                                    try scanner.skipValue()
                                }
                            } while try scanner.consume(UInt8(ascii: ","))
                            try scanner.expect(UInt8(ascii: "}"))
                        }
                    } else {
                        try scanner.skipValue()
                    }
                    books.append(RawBook(range: start..<scanner.position, assetId: assetId))
                } while try scanner.consume(UInt8(ascii: ","))
                try scanner.expect(UInt8(ascii: "]"))
            }
            try scanner.expectEnd()
            return .success(books)
        } catch {
            return .failure(ResponseCheck.problem(error, in: response))
        }
    }
}
