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

    public var description: String { "\(kind.rawValue) JSON at byte \(offset): \(reason)" }
}

public enum JSON {
    /// Parses a whole document; only whitespace may follow the value.
    public static func parse(_ bytes: [UInt8]) throws(JSONError) -> JSONValue {
        var scanner = JSONScanner(bytes)
        let value = try scanner.value()
        try scanner.expectEnd()
        return value
    }

    public static func parse(_ text: String) throws(JSONError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// Validates a whole document that must be one object, and returns the members named in
    /// `keys`, parsed. The others are only validated: a row's raw `book` is never built.
    public static func objectMembers(_ bytes: [UInt8], _ keys: Set<String>) throws(JSONError) -> [String: JSONValue] {
        var scanner = JSONScanner(bytes)
        let members = try scanner.objectMembers(keys)
        try scanner.expectEnd()
        return members
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

    static func isWhitespace(_ c: UInt8) -> Bool {
        c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09
    }
}

/// A strict RFC 8259 scanner over bytes. Besides building values it can skip them (validating
/// without allocating), which is how a books response is split into its raw elements.
struct JSONScanner {
    let bytes: [UInt8]
    private(set) var position = 0
    private var depth = 0
    static let maxDepth = 256

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { position >= bytes.count }

    mutating func skipWhitespace() {
        while position < bytes.count, JSON.isWhitespace(bytes[position]) { position += 1 }
    }

    /// The next non-whitespace byte, without consuming it.
    mutating func peek() throws(JSONError) -> UInt8 {
        skipWhitespace()
        guard position < bytes.count else { throw fail(.truncated, "unexpected end of input") }
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
        default:
            return try scalar()
        }
    }

    mutating func objectMembers(_ keys: Set<String>) throws(JSONError) -> [String: JSONValue] {
        guard try peek() == UInt8(ascii: "{") else { throw fail(.invalid, "expected an object") }
        try enter()
        position += 1
        var found: [String: JSONValue] = [:]
        if try !consume(UInt8(ascii: "}")) {
            repeat {
                let key = try string()
                try expect(UInt8(ascii: ":"))
                if keys.contains(key) { found[key] = try value() } else { try skipValue() }
            } while try consume(UInt8(ascii: ","))
            try expect(UInt8(ascii: "}"))
        }
        depth -= 1
        return found
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
        default:
            _ = try scalar()
        }
    }

    private mutating func enter() throws(JSONError) {
        depth += 1
        guard depth <= Self.maxDepth else { throw fail(.tooDeep, "more than \(Self.maxDepth) levels") }
    }

    private mutating func scalar() throws(JSONError) -> JSONValue {
        let c = bytes[position]
        if c == UInt8(ascii: "-") || (c >= 48 && c <= 57) { return .number(try number()) }
        for (word, value) in [("true", JSONValue.bool(true)), ("false", .bool(false)), ("null", .null)] {
            let w = Array(word.utf8)
            var k = 0
            while k < w.count, position + k < bytes.count, bytes[position + k] == w[k] { k += 1 }
            if k == w.count {
                position += k
                return value
            }
            if k > 0, position + k == bytes.count { throw fail(.truncated, "input ends inside '\(word)'") }
        }
        throw fail(.invalid, "unexpected byte 0x\(String(c, radix: 16))")
    }

    private mutating func number() throws(JSONError) -> String {
        let start = position
        func digits(_ s: inout JSONScanner) -> Int {
            let from = s.position
            while s.position < s.bytes.count, s.bytes[s.position] >= 48, s.bytes[s.position] <= 57 { s.position += 1 }
            return s.position - from
        }
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard position < bytes.count else { throw fail(.truncated, "input ends inside a number") }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else if digits(&self) == 0 {
            throw fail(.invalid, "bad number")
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard digits(&self) > 0 else { throw fail(atEnd ? .truncated : .invalid, "bad fraction") }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard digits(&self) > 0 else { throw fail(atEnd ? .truncated : .invalid, "bad exponent") }
        }
        // A document that is just a number may end here; inside a container the caller checks what follows.
        return String(decoding: bytes[start..<position], as: UTF8.self)
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
            position = bytes.withUnsafeBufferPointer { buffer in
                var p = position
                while p < buffer.count, case let c = buffer[p], c != 0x22, c != 0x5C, c >= 0x20, c < 0x80 { p += 1 }
                return p
            }
            guard position < bytes.count else { throw fail(.truncated, "input ends inside a string") }
            let c = bytes[position]
            switch c {
            case UInt8(ascii: "\""):
                position += 1
                return hasEscapes
            case UInt8(ascii: "\\"):
                hasEscapes = true
                guard position + 1 < bytes.count else { throw fail(.truncated, "input ends inside an escape") }
                let e = bytes[position + 1]
                if e == UInt8(ascii: "u") {
                    for k in 2..<6 {
                        guard position + k < bytes.count else { throw fail(.truncated, "input ends inside an escape") }
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
            guard position + k < bytes.count else { throw fail(.truncated, "input ends inside a UTF-8 sequence") }
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
