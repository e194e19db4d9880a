import Testing
@testable import OrderbooksCore

@Suite struct JSONTests {
    @Test func keepsKeyOrderAndNumberText() throws {
        let v = try JSON.parse(#"{"b": 1, "a": 5.0, "c": [true, false, null], "d": -0.5e-3}"#)
        guard case .object(let members) = v else { Issue.record("not an object"); return }
        #expect(members.map(\.key) == ["b", "a", "c", "d"])
        #expect(v["a"] == .number("5.0"))
        #expect(v["d"] == .number("-0.5e-3"))
        #expect(v["c"] == .array([.bool(true), .bool(false), .null]))
    }

    @Test func decodesEscapes() throws {
        #expect(try JSON.parse(#""a\"b\\c\/d\n\u00e9\ud83d\ude00""#) == .string("a\"b\\c/d\né😀"))
        #expect(try JSON.parse(#""\ud83d x""#) == .string("\u{FFFD} x"))
        #expect(try JSON.parse(#""\ude00""#) == .string("\u{FFFD}"))
        #expect(try JSON.parse("\"é\"") == .string("é"))
    }

    @Test(arguments: [#"[{"a":1"#, #""abc"#, "tru", "[1.", "[1,", #"{"a""#, "", "  ", #""\u12"#])
    func reportsTruncation(text: String) {
        #expect(throws: JSONError.self) { try JSON.parse(text) }
        do { _ = try JSON.parse(text) } catch { #expect(error.kind == .truncated, "\(text): \(error)") }
    }

    @Test(arguments: ["[1,]", "01", #"{"a" 1}"#, "[1 2]", "\"a\u{01}\"", #""\x""#, "nul!", "{}x", "+1", "[.5]", "<html>"])
    func rejectsInvalidJSON(text: String) {
        do { _ = try JSON.parse(text); Issue.record("accepted \(text)") } catch { #expect(error.kind == .invalid, "\(text): \(error)") }
    }

    @Test func reportsTruncationInsideUTF8() {
        do { _ = try JSON.parse([0x22, 0xC3]); Issue.record("accepted") } catch { #expect(error.kind == .truncated) }
    }

    @Test func rejectsInvalidUTF8() {
        for bytes: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0xC0, 0x80, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22]] {
            do { _ = try JSON.parse(bytes); Issue.record("accepted \(bytes)") } catch { #expect(error.kind == .invalid) }
        }
    }

    @Test func limitsNesting() {
        let deep = String(repeating: "[", count: 300) + String(repeating: "]", count: 300)
        do { _ = try JSON.parse(deep); Issue.record("accepted") } catch { #expect(error.kind == .tooDeep) }
        #expect((try? JSON.parse(String(repeating: "[", count: 200) + String(repeating: "]", count: 200))) != nil)
    }

    @Test func minifiesOnlyOutsideStrings() {
        let text = Array("{\n  \"a b\" : [ 1 ,\t\"x \\\" y\" ],\r\n \"c\":\"\\u0020\" }".utf8)
        var out: [UInt8] = []
        JSON.appendMinified(text, text.indices, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == #"{"a b":[1,"x \" y"],"c":"\u0020"}"#)
    }

    @Test func writerEscapesAndKeepsOrder() {
        var w = JSONObjectWriter()
        w.field("z", "q\"\\\n\u{01}é")
        w.field("a", 3 as Int?)
        w.field("n", nil as String?)
        w.field("t", true)
        w.field("ms", milliseconds: 183_042)
        w.field("small", milliseconds: 7)
        w.field("list", strings: ["x", "y"])
        #expect(String(decoding: w.line, as: UTF8.self) ==
            "{\"z\":\"q\\\"\\\\\\n\\u0001é\",\"a\":3,\"n\":null,\"t\":true,\"ms\":183.042,\"small\":0.007,\"list\":[\"x\",\"y\"]}\n")
        #expect((try? JSON.parse(w.finished)) != nil)
    }
}

@Suite struct BoundedJSONTests {
    @Test func membersAreFoundWithoutBuildingTheRest() throws {
        let text = #"{"a":[1,{"x":"y"}],"slug":"s","\u0073lug":"later","n":"#
        let bytes = Array((text + String(repeating: "9", count: 200_000) + "}").utf8)
        let ranges = try JSON.objectMemberRanges(bytes, bytes.indices, ["slug", "n", "missing"])
        #expect(ranges["slug"].map { String(decoding: bytes[$0], as: UTF8.self) } == #""s""#)  // the first one wins
        #expect(ranges["n"]?.count == 200_000 && ranges["missing"] == nil)
        #expect(JSON.string(bytes, ranges["slug"]!, maxBytes: 16) == "s" && JSON.string(bytes, ranges["n"]!, maxBytes: .max) == nil)
        let error = JSON.boundedObject(bytes, ranges, ["n", "slug"], maxBytes: 300)
        #expect(error == .object([JSONMember(key: "n", value: .string("(200000 bytes)")), JSONMember(key: "slug", value: .string("s"))]))
        #expect(throws: JSONError.self) { try JSON.objectMemberRanges(bytes, 0..<(bytes.count - 1), ["n"]) }
    }

    @Test func elementsStopEarlyAndDeepNestingIsRefused() throws {
        let bytes = Array("[1, [2], {\"a\":3}, \"x\"]".utf8)
        var seen: [String] = []
        try JSON.forEachElement(bytes, bytes.indices) { range in
            seen.append(String(decoding: bytes[range], as: UTF8.self))
            return seen.count < 3
        }
        #expect(seen == ["1", "[2]", #"{"a":3}"#])
        let deep = Array((String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)).utf8)
        #expect(throws: JSONError.self) { try JSON.validate(deep) }
    }
}

/// An array's element embedded one level down in a row (a book) must still read back: the
/// array counts as a level (8 of 14,976 fuzzed runs wrote a row 257 levels deep before).
@Suite struct ElementDepthTests {
    func nested(_ levels: Int) -> String { String(repeating: "[", count: levels) + String(repeating: "]", count: levels) }

    @Test func anElementNestsNoDeeperThanItsRowCanHold() throws {
        var count = 0
        let body = Array("[\(nested(JSON.maxDepth - 1))]".utf8)
        try JSON.forEachElement(body, body.indices) { _ in count += 1; return true }
        #expect(count == 1)
        #expect(throws: JSONError.self) {
            let body = Array("[\(nested(JSON.maxDepth))]".utf8)
            try JSON.forEachElement(body, body.indices) { _ in true }
        }
        // The deepest accepted element, one level down in a row, parses.
        #expect(try JSON.parse(Array("{\"book\":\(nested(JSON.maxDepth - 1))}".utf8))["book"] != nil)
    }
}

