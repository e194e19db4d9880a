import Testing
@testable import OrderbooksCore
@testable import OrderbooksCapture

@Suite struct URLRedactionTests {
    @Test func userInfoIsMasked() {
        #expect(Redaction.url("https://user:token@host:8443/books") == "https://***@host:8443/books")
        #expect(Redaction.url("http://token@127.0.0.1") == "http://***@127.0.0.1")
        #expect(Redaction.url("https://host/path@x?q=a@b") == "https://host/path@x?q=a@b")
        #expect(Redaction.url("/var/lib/orderbooks/spool/x") == "/var/lib/orderbooks/spool/x")
    }

    @Test func failureRowsRecordTheMaskedURL() {
        let record = FailureRecord(stage: .books, problem: Problem(kind: "backoff", message: "m"), at: Timestamp(seconds: 0),
                                   url: "https://u:sekrit@h/books")
        let row = String(decoding: Rows.failure(record, RowContext(runId: "1", collector: "c")), as: UTF8.self)
        #expect(row.contains(#""url":"https://***@h/books""#) && !row.contains("sekrit") && !record.logLine().contains("sekrit"))
    }
}
