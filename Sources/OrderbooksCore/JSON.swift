/// A parsed JSON value that keeps what JSONDecoder loses: object key order, and numbers as the
/// exact text the server sent (Gamma switches between `5` and `5.0`; both stay as sent).
public indirect enum JSONValue: Equatable, Sendable {
    case object([JSONMember])
    case array([JSONValue])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    /// The first member named `key`, when this is an object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first(where: { $0.key == key })?.value
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var array: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }
}

public struct JSONMember: Equatable, Sendable {
    public var key: String
    public var value: JSONValue
}

public struct JSONError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The input ended inside a value: the body was cut short.
        case truncated
        /// Not JSON at this offset.
        case invalid
        /// Nested deeper than the parser allows.
        case tooDeep
    }

    public var kind: Kind
    public var offset: Int
    public var reason: String

    package init(kind: Kind, offset: Int, reason: String) {
        self.kind = kind
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "\(kind.rawValue) JSON at byte \(offset): \(reason)" }
}

public enum JSON {
    /// The deepest nesting any parse here accepts, rows and server bodies alike.
    public static let maxDepth = 256

    /// Parses a whole document; only whitespace may follow the value.
    public static func parse(_ bytes: [UInt8]) throws(JSONError) -> JSONValue {
        try parse(bytes, bytes.indices)
    }

    /// Parses `bytes[range]`, which must hold one value and nothing else but whitespace.
    public static func parse(_ bytes: [UInt8], _ range: Range<Int>) throws(JSONError) -> JSONValue {
        var scanner = JSONScanner(bytes, range)
        let value = try scanner.value()
        try scanner.expectEnd()
        return value
    }

    public static func parse(_ text: String) throws(JSONError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// Validates a whole document without building anything.
    public static func validate(_ bytes: [UInt8]) throws(JSONError) {
        var scanner = JSONScanner(bytes)
        try scanner.skipValue()
        try scanner.expectEnd()
    }

    /// Validates a whole document that must be one object, and returns the members named in
    /// `keys`, parsed. The others are only validated: a row's raw `book` is never built.
    public static func objectMembers(_ bytes: [UInt8], _ keys: Set<String>) throws(JSONError) -> [String: JSONValue] {
        var found: [String: JSONValue] = [:]
        for (key, range) in try objectMemberRanges(bytes, bytes.indices, keys) { found[key] = try parse(bytes, range) }
        return found
    }

    /// An object of the members of `ranges` named in `keys`, in that order, each parsed if its
    /// text is at most `maxBytes` long and otherwise standing as a string saying its size: a
    /// server's error object is read this way, so a megabyte of error text is never built.
    public static func boundedObject(_ bytes: [UInt8], _ ranges: [String: Range<Int>], _ keys: [String], maxBytes: Int) -> JSONValue {
        .object(keys.compactMap { key in
            ranges[key].map { range in
                JSONMember(key: key, value: range.count <= maxBytes ? (try? parse(bytes, range)) ?? .null : .string("(\(range.count) bytes)"))
            }
        })
    }

    /// Validates `bytes[range]`, which must be one object, and returns where the first member
    /// of each name in `keys` has its value. Nothing is built: the values stay bytes. `maxDepth`
    /// leaves room for a row that embeds the object (a row deeper than `JSON.maxDepth`
    /// could not be read back).
    public static func objectMemberRanges(_ bytes: [UInt8], _ range: Range<Int>, _ keys: Set<String>,
                                          maxDepth: Int = JSON.maxDepth) throws(JSONError) -> [String: Range<Int>] {
        var scanner = JSONScanner(bytes, range, maxDepth: maxDepth)
        let members = try scanner.memberRanges(keys)
        try scanner.expectEnd()
        return members
    }

    /// Where the first member of each name in `keys` has its value, reading `bytes` (one object)
    /// only as far as the last of them: what follows is not validated. For a reader that wants a
    /// few members near the top of a large file (gate health and a manifest's coverage), never
    /// for one that must know the file is whole.
    public static func leadingMemberRanges(_ bytes: [UInt8], _ keys: Set<String>) throws(JSONError) -> [String: Range<Int>] {
        var scanner = JSONScanner(bytes, bytes.indices, maxDepth: JSON.maxDepth)
        let members = try scanner.memberRanges(keys, stopWhenFound: true)
        if members.count < keys.count { try scanner.expectEnd() }
        return members
    }

    /// The elements of `bytes[range]`, which must be an array, each handed to `body` with its
    /// range; `body` returns false to stop early (the rest is then not validated).
    public static func forEachElement(_ bytes: [UInt8], _ range: Range<Int>, _ body: (Range<Int>) throws(JSONError) -> Bool) throws(JSONError) {
        // The array is a level too: an element may nest one level less than a whole value, so a
        // row embedding it one level down (a book) stays within `maxDepth`.
        var scanner = JSONScanner(bytes, range, maxDepth: JSON.maxDepth - 1)
        try scanner.expect(UInt8(ascii: "["))
        if try !scanner.consume(UInt8(ascii: "]")) {
            repeat {
                let element = try scanner.skipValueRange()
                guard try body(element) else { return }
            } while try scanner.consume(UInt8(ascii: ","))
            try scanner.expect(UInt8(ascii: "]"))
        }
        try scanner.expectEnd()
    }

    /// The string at `bytes[range]`, decoded, if it is a string of at most `maxBytes` bytes as sent.
    public static func string(_ bytes: [UInt8], _ range: Range<Int>, maxBytes: Int) -> String? {
        guard range.count <= maxBytes, range.count >= 2, bytes[range.lowerBound] == UInt8(ascii: "\"") else { return nil }
        return try? parse(bytes, range).string
    }

    /// Appends `bytes[range]`, a valid JSON value, without insignificant whitespace. Strings,
    /// numbers, key order and escapes stay byte for byte as sent, and the result fits on one line.
    public static func appendMinified(_ bytes: [UInt8], _ range: Range<Int>, to out: inout [UInt8]) {
        out.reserveCapacity(out.count + range.count)
        var inString = false
        var escaped = false
        for i in range {
            let c = bytes[i]
            if inString {
                if escaped { escaped = false }
                else if c == UInt8(ascii: "\\") { escaped = true }
                else if c == UInt8(ascii: "\"") { inString = false }
                out.append(c)
            } else if c == UInt8(ascii: "\"") {
                inString = true
                out.append(c)
            } else if !isWhitespace(c) {
                out.append(c)
            }
        }
    }

    package static func isWhitespace(_ c: UInt8) -> Bool {
        c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09
    }
}

/// A strict RFC 8259 scanner over bytes (or a range of them). Besides building values it can
/// skip them, validating without allocating: that is how server bodies are read, so their cost in
/// memory is their bytes, whatever their shape.
package struct JSONScanner {
    let bytes: [UInt8]
    /// Where the scanned range ends.
    let end: Int
    private(set) var position: Int
    private var depth = 0
    private let depthLimit: Int
    static let maxDepth = JSON.maxDepth

    package init(_ bytes: [UInt8]) { self.init(bytes, bytes.indices) }

    init(_ bytes: [UInt8], _ range: Range<Int>, maxDepth: Int = Self.maxDepth) {
        self.bytes = bytes
        self.end = range.upperBound
        self.position = range.lowerBound
        self.depthLimit = maxDepth
    }

    var atEnd: Bool { position >= end }

    mutating func skipWhitespace() {
        while position < end, JSON.isWhitespace(bytes[position]) { position += 1 }
    }

    /// The next non-whitespace byte, without consuming it.
    package mutating func peek() throws(JSONError) -> UInt8 {
        skipWhitespace()
        guard position < end else { throw fail(.truncated, "unexpected end of input") }
        return bytes[position]
    }

    mutating func expect(_ c: UInt8) throws(JSONError) {
        guard try peek() == c else { throw fail(.invalid, "expected '\(Character(Unicode.Scalar(c)))'") }
        position += 1
    }

    /// Consumes `c` if it is next.
    mutating func consume(_ c: UInt8) throws(JSONError) -> Bool {
        guard try peek() == c else { return false }
        position += 1
        return true
    }

    mutating func expectEnd() throws(JSONError) {
        skipWhitespace()
        guard atEnd else { throw fail(.invalid, "unexpected data after the value") }
    }

    func fail(_ kind: JSONError.Kind, _ reason: String) -> JSONError {
        JSONError(kind: kind, offset: position, reason: reason)
    }

    mutating func value() throws(JSONError) -> JSONValue {
        switch try peek() {
        case UInt8(ascii: "{"):
            try enter()
            position += 1
            var members: [JSONMember] = []
            if try !consume(UInt8(ascii: "}")) {
                repeat {
                    let key = try string()
                    try expect(UInt8(ascii: ":"))
                    members.append(JSONMember(key: key, value: try value()))
                } while try consume(UInt8(ascii: ","))
                try expect(UInt8(ascii: "}"))
            }
            depth -= 1
            return .object(members)
        case UInt8(ascii: "["):
            try enter()
            position += 1
            var elements: [JSONValue] = []
            if try !consume(UInt8(ascii: "]")) {
                repeat { elements.append(try value()) } while try consume(UInt8(ascii: ","))
                try expect(UInt8(ascii: "]"))
            }
            depth -= 1
            return .array(elements)
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "-"), 48...57:
            let range = try number()
            return .number(String(decoding: bytes[range], as: UTF8.self))
        default:
            return try literal()
        }
    }

    /// The value ranges of the first members named in `keys` of the object that comes next.
    mutating func memberRanges(_ keys: Set<String>, stopWhenFound: Bool = false) throws(JSONError) -> [String: Range<Int>] {
        guard try peek() == UInt8(ascii: "{") else { throw fail(.invalid, "expected an object") }
        try enter()
        position += 1
        var found: [String: Range<Int>] = [:]
        if try !consume(UInt8(ascii: "}")) {
            repeat {
                let key = try key(among: keys)
                try expect(UInt8(ascii: ":"))
                let range = try skipValueRange()
                if let key, found[key] == nil { found[key] = range }
                if stopWhenFound && found.count == keys.count { return found }
            } while try consume(UInt8(ascii: ","))
            try expect(UInt8(ascii: "}"))
        }
        depth -= 1
        return found
    }

    /// Steps over a member name and returns it if it is one of `keys`. Names are compared as
    /// bytes; only a short one with escapes is decoded, so a huge name costs nothing.
    private mutating func key(among keys: Set<String>) throws(JSONError) -> String? {
        _ = try peek()
        let start = position
        let hasEscapes = try skipString()
        let text = (start + 1)..<(position - 1)
        if !hasEscapes {
            guard text.count <= 64 else { return nil }
            let name = String(decoding: bytes[text], as: UTF8.self)
            return keys.contains(name) ? name : nil
        }
        guard text.count <= 6 * 64, let name = JSON.string(bytes, start..<position, maxBytes: .max) else { return nil }
        return keys.contains(name) ? name : nil
    }

    /// Validates and steps over one value, returning where it lies.
    mutating func skipValueRange() throws(JSONError) -> Range<Int> {
        _ = try peek()  // skips whitespace, so the range starts at the value
        let start = position
        try skipValue()
        return start..<position
    }

    /// Validates and steps over one value.
    mutating func skipValue() throws(JSONError) {
        switch try peek() {
        case UInt8(ascii: "{"):
            try enter()
            position += 1
            if try !consume(UInt8(ascii: "}")) {
                repeat {
                    try skipString()
                    try expect(UInt8(ascii: ":"))
                    try skipValue()
                } while try consume(UInt8(ascii: ","))
                try expect(UInt8(ascii: "}"))
            }
            depth -= 1
        case UInt8(ascii: "["):
            try enter()
            position += 1
            if try !consume(UInt8(ascii: "]")) {
                repeat { try skipValue() } while try consume(UInt8(ascii: ","))
                try expect(UInt8(ascii: "]"))
            }
            depth -= 1
        case UInt8(ascii: "\""):
            try skipString()
        case UInt8(ascii: "-"), 48...57:
            _ = try number()
        default:
            _ = try literal()
        }
    }

    private mutating func enter() throws(JSONError) {
        depth += 1
        guard depth <= depthLimit else { throw fail(.tooDeep, "more than \(depthLimit) levels") }
    }

    private static let literals: [(word: [UInt8], value: JSONValue)] = [
        (Array("true".utf8), .bool(true)), (Array("false".utf8), .bool(false)), (Array("null".utf8), .null),
    ]

    /// `true`, `false` or `null`.
    private mutating func literal() throws(JSONError) -> JSONValue {
        let c = bytes[position]
        for (word, value) in Self.literals where word[0] == c {
            var k = 0
            while k < word.count, position + k < end, bytes[position + k] == word[k] { k += 1 }
            if k == word.count {
                position += k
                return value
            }
            if position + k == end { throw fail(.truncated, "input ends inside '\(String(decoding: word, as: UTF8.self))'") }
        }
        throw fail(.invalid, "unexpected byte 0x\(String(c, radix: 16))")
    }

    /// Steps over a number and returns its text's range: a number is never built to be skipped,
    /// so a million digits cost nothing.
    private mutating func number() throws(JSONError) -> Range<Int> {
        let start = position
        func digits(_ s: inout JSONScanner) -> Int {
            let from = s.position
            while s.position < s.end, s.bytes[s.position] >= 48, s.bytes[s.position] <= 57 { s.position += 1 }
            return s.position - from
        }
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard position < end else { throw fail(.truncated, "input ends inside a number") }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else if digits(&self) == 0 {
            throw fail(.invalid, "bad number")
        }
        if position < end, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard digits(&self) > 0 else { throw fail(atEnd ? .truncated : .invalid, "bad fraction") }
        }
        if position < end, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            position += 1
            if position < end, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard digits(&self) > 0 else { throw fail(atEnd ? .truncated : .invalid, "bad exponent") }
        }
        // A document that is just a number may end here; inside a container the caller checks what follows.
        return start..<position
    }

    /// Parses a string and returns its decoded value.
    mutating func string() throws(JSONError) -> String {
        guard try peek() == UInt8(ascii: "\"") else { throw fail(.invalid, "expected a string") }
        let start = position + 1
        let hasEscapes = try skipString()
        let end = position - 1
        if !hasEscapes { return String(decoding: bytes[start..<end], as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(end - start)
        var i = start
        var pendingHigh: UInt32? = nil
        func flushHigh(_ out: inout [UInt8]) {
            if pendingHigh != nil { appendScalar(0xFFFD, &out); pendingHigh = nil }
        }
        while i < end {
            let c = bytes[i]
            guard c == UInt8(ascii: "\\") else {
                flushHigh(&out)
                out.append(c)
                i += 1
                continue
            }
            let e = bytes[i + 1]
            i += 2
            if e != UInt8(ascii: "u") { flushHigh(&out) }
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                var v: UInt32 = 0
                for k in 0..<4 { v = v << 4 | UInt32(hexValue(bytes[i + k])!) }
                i += 4
                if (0xD800...0xDBFF).contains(v) {
                    flushHigh(&out)
                    pendingHigh = v
                } else if (0xDC00...0xDFFF).contains(v) {
                    if let high = pendingHigh {
                        appendScalar(0x10000 + ((high - 0xD800) << 10) + (v - 0xDC00), &out)
                        pendingHigh = nil
                    } else {
                        appendScalar(0xFFFD, &out)
                    }
                } else {
                    flushHigh(&out)
                    appendScalar(v, &out)
                }
            default: out.append(e)  // `"`, `\` and `/` stand for themselves.
            }
        }
        flushHigh(&out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Steps over a string, checking escapes and UTF-8. Returns whether it holds escapes.
    @discardableResult
    mutating func skipString() throws(JSONError) -> Bool {
        guard try peek() == UInt8(ascii: "\"") else { throw fail(.invalid, "expected a string") }
        position += 1
        var hasEscapes = false
        while true {
            // Plain ASCII runs are most of every row (prices, sizes, ids): step over them in a
            // tight loop before looking at what ended the run.
            let limit = end
            position = bytes.withUnsafeBufferPointer { buffer in
                var p = position
                while p < limit, case let c = buffer[p], c != 0x22, c != 0x5C, c >= 0x20, c < 0x80 { p += 1 }
                return p
            }
            guard position < end else { throw fail(.truncated, "input ends inside a string") }
            let c = bytes[position]
            switch c {
            case UInt8(ascii: "\""):
                position += 1
                return hasEscapes
            case UInt8(ascii: "\\"):
                hasEscapes = true
                guard position + 1 < end else { throw fail(.truncated, "input ends inside an escape") }
                let e = bytes[position + 1]
                if e == UInt8(ascii: "u") {
                    for k in 2..<6 {
                        guard position + k < end else { throw fail(.truncated, "input ends inside an escape") }
                        guard hexValue(bytes[position + k]) != nil else { throw fail(.invalid, "bad \\u escape") }
                    }
                    position += 6
                } else {
                    guard "\"\\/bfnrt".utf8.contains(e) else { throw fail(.invalid, "bad escape") }
                    position += 2
                }
            case 0..<0x20:
                throw fail(.invalid, "control character in a string")
            case 0x80...:
                try skipUTF8Sequence()
            default:
                position += 1
            }
        }
    }

    private mutating func skipUTF8Sequence() throws(JSONError) {
        let c = bytes[position]
        let (count, low, high): (Int, UInt8, UInt8)
        switch c {
        case 0xC2...0xDF: (count, low, high) = (1, 0x80, 0xBF)
        case 0xE0: (count, low, high) = (2, 0xA0, 0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: (count, low, high) = (2, 0x80, 0xBF)
        case 0xED: (count, low, high) = (2, 0x80, 0x9F)
        case 0xF0: (count, low, high) = (3, 0x90, 0xBF)
        case 0xF1...0xF3: (count, low, high) = (3, 0x80, 0xBF)
        case 0xF4: (count, low, high) = (3, 0x80, 0x8F)
        default: throw fail(.invalid, "invalid UTF-8")
        }
        for k in 1...count {
            guard position + k < end else { throw fail(.truncated, "input ends inside a UTF-8 sequence") }
            let b = bytes[position + k]
            let ok = k == 1 ? (low...high).contains(b) : (0x80...0xBF).contains(b)
            guard ok else { throw fail(.invalid, "invalid UTF-8") }
        }
        position += count + 1
    }
}

private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case 48...57: c - 48
    case 65...70: c - 55
    case 97...102: c - 87
    default: nil
    }
}

private func appendScalar(_ v: UInt32, _ out: inout [UInt8]) {
    let scalar = Unicode.Scalar(v) ?? "\u{FFFD}"
    out.append(contentsOf: String(Character(scalar)).utf8)
}
