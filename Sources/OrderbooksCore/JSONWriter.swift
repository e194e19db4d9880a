/// Writes one JSON object with its keys in the order given, so rows read the same in every file
/// and raw server bytes can be spliced in untouched (JSONEncoder can do neither).
public struct JSONObjectWriter: Sendable {
    public private(set) var bytes: [UInt8] = [UInt8(ascii: "{")]
    /// One member per line (manifests, read by people too); rows stay on one line.
    private let multiline: Bool

    public init(multiline: Bool = false) { self.multiline = multiline }

    private mutating func key(_ name: String) {
        if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
        if multiline { bytes.append(contentsOf: "\n  ".utf8) }
        JSONObjectWriter.appendString(name, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    public mutating func field(_ name: String, _ value: String?) {
        key(name)
        if let value { JSONObjectWriter.appendString(value, to: &bytes) } else { bytes.append(contentsOf: "null".utf8) }
    }

    public mutating func field(_ name: String, _ value: Int64?) {
        key(name)
        bytes.append(contentsOf: (value.map { String($0) } ?? "null").utf8)
    }

    public mutating func field(_ name: String, _ value: Int?) {
        field(name, value.map { Int64($0) })
    }

    public mutating func field(_ name: String, _ value: Bool?) {
        key(name)
        bytes.append(contentsOf: (value.map { $0 ? "true" : "false" } ?? "null").utf8)
    }

    /// A duration in microseconds, written as milliseconds with three decimals (`183.042`).
    public mutating func field(_ name: String, milliseconds micros: Int64?) {
        key(name)
        guard let micros else { return bytes.append(contentsOf: "null".utf8) }
        let sign = micros < 0 ? "-" : ""
        let m = micros.magnitude
        let frac = String(m % 1000)
        bytes.append(contentsOf: "\(sign)\(m / 1000).\(String(repeating: "0", count: 3 - frac.count))\(frac)".utf8)
    }

    /// A number already in JSON form, such as `0.999722`.
    public mutating func field(_ name: String, number text: String) {
        key(name)
        bytes.append(contentsOf: text.utf8)
    }

    public mutating func field(_ name: String, strings: [String]?) {
        key(name)
        guard let strings else { return bytes.append(contentsOf: "null".utf8) }
        bytes.append(UInt8(ascii: "["))
        for (i, s) in strings.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            JSONObjectWriter.appendString(s, to: &bytes)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    public mutating func field(_ name: String, objects: [JSONObjectWriter]) {
        key(name)
        bytes.append(UInt8(ascii: "["))
        for (i, o) in objects.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: o.finished)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// An array of objects written one at a time, straight into this object: a manifest lists
    /// thousands of files, and an array of writers would hold them all twice.
    public mutating func field<Element>(_ name: String, each elements: [Element], _ write: (Element, inout JSONObjectWriter) -> Void) {
        key(name)
        bytes.append(UInt8(ascii: "["))
        for (i, element) in elements.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            var o = JSONObjectWriter()
            write(element, &o)
            bytes.append(contentsOf: o.bytes)
            bytes.append(UInt8(ascii: "}"))
        }
        bytes.append(UInt8(ascii: "]"))
    }

    public mutating func field(_ name: String, object: JSONObjectWriter) {
        key(name)
        bytes.append(contentsOf: object.finished)
    }

    /// Splices a valid JSON value from `source[range]` in, minified but otherwise as sent.
    public mutating func field(_ name: String, raw source: [UInt8], _ range: Range<Int>) {
        key(name)
        // Room for the closing bytes too: a raw value can be megabytes, and growing the row past
        // an exact fit would copy it into a buffer twice its size.
        bytes.reserveCapacity(bytes.count + range.count + 16)
        JSON.appendMinified(source, range, to: &bytes)
    }

    /// The closed object.
    public var finished: [UInt8] { bytes + (multiline ? Array("\n}".utf8) : [UInt8(ascii: "}")]) }

    /// The closed object followed by a newline: one JSONL row.
    public var line: [UInt8] { bytes + [UInt8(ascii: "}"), 0x0A] }

    /// `finished` plus a newline, without copying the bytes (the writer is used up).
    public consuming func finishedLine() -> [UInt8] {
        bytes.append(contentsOf: multiline ? Array("\n}\n".utf8) : [UInt8(ascii: "}"), 0x0A])
        return bytes
    }

    static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(c >> 4)], hex[Int(c & 0xF)]])
            default: out.append(c)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
