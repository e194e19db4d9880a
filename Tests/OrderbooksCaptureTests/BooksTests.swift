import Testing
@testable import OrderbooksCore
@testable import OrderbooksCapture

private func response(_ text: String, status: Int = 200, type: String? = "application/json", retryAfter: String? = nil) -> HTTPResponse {
    HTTPResponse(status: status, contentType: type, retryAfter: retryAfter, body: Array(text.utf8))
}

private func exchange(_ r: HTTPResponse) -> HTTPExchange {
    HTTPExchange(request: HTTPRequest(url: "http://x/books"), startedAt: Timestamp(seconds: 1000), finishedAt: Timestamp(seconds: 1000),
                 elapsedMicroseconds: 1, result: .success(r))
}

@Suite struct BooksTests {
    @Test func requestBodyIsTheDocumentedArray() {
        #expect(String(decoding: Books.requestBody(["1", "22"]), as: UTF8.self) == #"[{"token_id":"1"},{"token_id":"22"}]"#)
    }

    @Test func splitsWithoutChangingAByte() throws {
        let compact = #"{"market":"0xa5","asset_id":"4841","timestamp":"1778584369464","hash":"d52f","bids":[{"price":"0.01","size":"14468.29"}],"asks":[],"min_order_size":"5","tick_size":"0.01","neg_risk":false,"last_trade_price":"0.280"}"#
        let body = "[\n  " + Fixtures.book5mUp + " ,\n" + compact + "\n]\n"
        let r = response(body)
        let answer = try Books.split(r, asked: [Fixtures.upToken, "4841"], now: Timestamp(seconds: 0)).get()
        let books = answer.books
        #expect(books.map(\.assetId) == [Fixtures.upToken, "4841"] && answer.extras == nil)
        var out: [UInt8] = []
        JSON.appendMinified(r.body, books[1].range, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == compact)
        var first: [UInt8] = []
        JSON.appendMinified(r.body, books[0].range, to: &first)
        let text = String(decoding: first, as: UTF8.self)
        #expect(text.hasPrefix(#"{"market":"0xa5c6d0c4"#) && text.contains(#""last_trade_price":"0.280"}"#))
        #expect(!text.contains(" ") && !text.contains("\n"))
    }

    @Test func toleratesMissingFieldsAndOddElements() throws {
        let books = try Books.split(response(Fixtures.rustMockBooks), asked: ["asset"], now: Timestamp(seconds: 0)).get()
        #expect(books.books.map(\.assetId) == ["asset"])
        // Objects that cannot be matched are kept (an id of another form is still a book), up to
        // the number of tokens asked; what is not an object is only counted.
        let odd = try Books.split(response(#"[{"asset_id":7},{"bids":[]},null,[]]"#), asked: ["1", "2"], now: Timestamp(seconds: 0)).get()
        #expect(odd.books.map(\.assetId) == [nil, nil])
        #expect(odd.extras?.withoutAssetId == 4 && odd.extras?.kept == 2 && odd.extras?.first == 1..<15)
        #expect(try Books.split(response("[]"), asked: ["1"], now: Timestamp(seconds: 0)).get() == Books.Answer(books: [], extras: nil))
    }

    /// However many elements come back, the rows are bounded by the tokens asked, and the rest
    /// is one summary.
    @Test func rowsAreBoundedByTheTokensAsked() throws {
        let zeros = "[" + Array(repeating: "0", count: 500_000).joined(separator: ",") + "]"
        let none = try Books.split(response(zeros), asked: ["1", "2"], now: Timestamp(seconds: 0)).get()
        #expect(none.books.isEmpty && none.extras?.withoutAssetId == 500_000 && none.extras?.kept == 0)
        let book = { (id: String) in #"{"asset_id":"\#(id)","bids":[]}"# }
        let repeated = "[" + (Array(repeating: book("1"), count: 1000) + [book("2"), book("9"), book("9")]).joined(separator: ",") + "]"
        let answer = try Books.split(response(repeated), asked: ["1", "2", "3"], now: Timestamp(seconds: 0)).get()
        // The first book of 1 and 2, and one more object (room for three rows in all).
        #expect(answer.books.map(\.assetId) == ["1", "1", "2"])
        #expect(answer.extras?.repeated == 999 && answer.extras?.notAsked == 2 && answer.extras?.kept == 1)
        let problem = Books.problem(answer.extras!, asked: 3, in: response(repeated))
        #expect(problem.kind == "unexpected_shape" && problem.bodyExcerpt == book("1"))
        #expect(problem.message.contains("1001 element(s)"), "\(problem.message)")
    }

    @Test(arguments: [
        (#"{"error":"Payload exceeds the limit"}"#, "error_body"),
        (#"{"error":"Too Many Requests"}"#, "throttled"),
        (#"{"books":[]}"#, "unexpected_shape"),
        (#"[{"asset_id":"1","bids":[{"price":"0.1""#, "truncated_json"),
        (#"[{"asset_id":"1"}] trailing"#, "invalid_json"),
        ("\"OK\"", "unexpected_shape"),
    ])
    func classifiesBadBodies(text: String, kind: String) {
        let result = Books.split(response(text), asked: ["1"], now: Timestamp(seconds: 0))
        guard case .failure(let problem) = result else { Issue.record("accepted \(text)"); return }
        #expect(problem.kind == kind)
        #expect(problem.bodyExcerpt != nil || kind == "truncated_json" || kind == "invalid_json")
    }
}

@Suite struct ResponseCheckTests {
    private func kind(_ r: HTTPResponse) -> Problem? {
        if case .failure(let p) = ResponseCheck.body(of: exchange(r)) { return p }
        return nil
    }

    @Test func throttlingHonoursRetryAfter() {
        let p = kind(response("<html>Error 1015 You are being rate limited</html>", status: 429, type: "text/html", retryAfter: "7"))
        #expect(p?.kind == "throttled" && p?.httpStatus == 429)
        #expect(p?.retryAt == Timestamp(seconds: 1007))
        #expect(p?.bodyExcerpt?.contains("1015") == true)
        let dated = kind(response("", status: 503, retryAfter: "Thu, 01 Jan 1970 00:20:00 GMT"))
        #expect(dated?.kind == "throttled" && dated?.retryAt == Timestamp(seconds: 1200))
        let body = ResponseCheck.problem(errorObject: try! JSON.parse(#"{"error":"slow down","retry_after_seconds":30}"#),
                                         in: response(""), now: Timestamp(seconds: 50))
        #expect(body?.kind == "throttled" && body?.retryAt == Timestamp(seconds: 80))
    }

    @Test func namesCloudflareAndHTTPErrors() {
        #expect(kind(response("error code: 1010", status: 403, type: "text/plain"))?.kind == "waf_blocked")
        #expect(kind(response("<html>502 Bad Gateway</html>", status: 502, type: "text/html"))?.kind == "http_status")
        let missing = kind(response(#"{"error":"No orderbook exists for the requested token id"}"#, status: 404))
        #expect(missing?.kind == "not_found" && missing?.message.contains("No orderbook") == true)
        #expect(kind(response(#"{"error":"Payload exceeds the limit"}"#, status: 400))?.message == "HTTP 400: Payload exceeds the limit")
        #expect(kind(response("", status: 200))?.kind == "empty_body")
        #expect(kind(response("  \n<!DOCTYPE html><html></html>", status: 200, type: nil))?.kind == "html_body")
        #expect(kind(response("[]", status: 200, type: "text/html; charset=utf-8"))?.kind == "html_body")
        #expect(kind(response("[]")) == nil)
    }

    @Test func transportErrorsKeepCurlsKind() {
        let failed = HTTPExchange(request: HTTPRequest(url: "http://x"), startedAt: Timestamp(seconds: 0), finishedAt: Timestamp(seconds: 0),
                                  elapsedMicroseconds: 0, result: .failure(TransportError(kind: .connect, curlCode: 7, message: "Connection refused")))
        guard case .failure(let p) = ResponseCheck.body(of: failed) else { Issue.record("accepted"); return }
        #expect(p.kind == "connect" && p.message == "Connection refused (curl 7)")
    }
}

/// Issue 9: a server listing one token id in several markets.
@Suite struct RequestedTokensTests {
    @Test func aTokenIsOpenWhenAnyMarketListingItIsOpen() {
        let shared = [MarketToken(tokenId: "1", outcome: "Up"), MarketToken(tokenId: "2", outcome: "Down")]
        let ended = Market(series: .fiveMinute, slug: "ended", conditionId: nil, window: Window(start: 0, end: 300), tokens: shared)
        let open = Market(series: .hourly, slug: "open", conditionId: nil, window: Window(start: 0, end: 3600), tokens: shared)
        let requested = RequestedTokens([ended, open])
        #expect(requested.tokenIds == ["1", "2"])
        #expect(requested.origins["1"]?.market.slug == "ended")
        // The first market listing it has ended; the second trades, so its book is expected.
        #expect(requested.isOpen("1", at: 1000) && requested.isOpen("2", at: 1000))
        #expect(!requested.isOpen("1", at: 3600 + 1) && !requested.isOpen("3", at: 1000))
        #expect(!RequestedTokens([ended]).isOpen("1", at: 1000))
    }
}
