import Testing
@testable import OrderbooksCore
@testable import OrderbooksCapture

/// Issue 9 §7: what reaches the journal is one line per message, whatever a server wrote.
@Suite struct LogEscapingTests {
    @Test func controlCharactersAreWrittenOut() {
        #expect(Log.escaped("HTTP 200 with error: nope\n<6>run=1 outcome=complete") == #"HTTP 200 with error: nope\n<6>run=1 outcome=complete"#)
        #expect(Log.escaped("a\r\tb\u{0}c\u{1b}[31md\u{7f}") == #"a\r\tb\x00c\x1b[31md\x7f"#)
        #expect(Log.escaped("x\u{85}y\u{9b}z\u{2028}w\u{2029}") == #"x\u{85}y\u{9b}z\u{2028}w\u{2029}"#)
        #expect(Log.escaped("plain é € 🙂 \"quoted\" back\\slash") == "plain é € 🙂 \"quoted\" back\\slash")
        // Bidirectional controls can show a line in another order on a terminal.
        #expect(Log.escaped("a\u{202E}b\u{2066}c\u{200F}") == #"a\u{202e}b\u{2066}c\u{200f}"#)
    }

    /// A server's text inside `error="…"` cannot close the quotes and add a field of its own.
    @Test func quotedValuesCannotAddFields() {
        let forged = #"x" outcome=complete books=999 x=""#
        #expect(Log.quoted(forged) == #""x\" outcome=complete books=999 x=\"""#)
        #expect(Log.quoted(#"a\"#) == #""a\\""#)
        // A quote with a combining mark is one Character, and still a quote.
        #expect(Log.quoted("\"\u{301} outcome=complete") == "\"\\\"\u{301} outcome=complete\"")
        let line = FailureRecord(stage: .discovery, problem: Problem(kind: "throttled", message: "HTTP 200 with error: " + forged),
                                 at: Timestamp(seconds: 0)).logLine()
        #expect(line.hasSuffix(#"error="HTTP 200 with error: x\" outcome=complete books=999 x=\"""#), "\(line)")
    }
}
