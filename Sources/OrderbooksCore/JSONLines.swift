import Glibc

/// Cuts a byte stream into lines (without their `\n`) across the pieces it arrives in, so a
/// decompressed file is read row by row without being held whole. A line longer than
/// `maxLength` stops it: nothing more is handed on, so memory stays bounded whatever the input;
/// so does a line past `maxLines`, so the time spent on a file's lines is bounded too.
public struct LineSplitter {
    /// The longest row the tools accept (docs/FORMAT.md): snap's default body cap (16 MiB), the
    /// most any one row can embed, plus room for the row's own members. Real rows are a few KB:
    /// a book row holds one book.
    public static let maxLineBytes = (16 << 20) + (64 << 10)

    private var pending: [UInt8] = []
    private let maxLength: Int
    private let maxLines: Int
    /// Lines handed on so far.
    public private(set) var lines = 0
    /// Set at the first line longer than `maxLength`; nothing is handed on after it.
    public private(set) var overlong = false
    /// Set at the first complete line past `maxLines`; nothing is handed on after it.
    public private(set) var tooMany = false

    public init(maxLength: Int = LineSplitter.maxLineBytes, maxLines: Int = .max) { (self.maxLength, self.maxLines) = (maxLength, maxLines) }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ line: ([UInt8]) -> Void) {
        guard let base = bytes.baseAddress, !overlong, !tooMany else { return }
        var start = 0
        while start < bytes.count {
            let newline = memchr(base + start, 0x0A, bytes.count - start)
            let end = newline.map { UnsafeRawPointer($0) - base } ?? bytes.count
            guard pending.count + (end - start) <= maxLength else {
                overlong = true
                pending = []
                return
            }
            guard newline != nil else {
                grow(by: end - start)
                pending.append(contentsOf: bytes[start...])
                return
            }
            guard lines < maxLines else {
                tooMany = true
                pending = []
                return
            }
            lines += 1
            if pending.isEmpty {
                line(Array(bytes[start..<end]))
            } else {
                grow(by: end - start)
                pending.append(contentsOf: bytes[start..<end])
                line(pending)
                // A long line's buffer is given back, not kept for the short ones after it.
                pending.removeAll(keepingCapacity: pending.count <= 1 << 20)
            }
            start = end + 1
        }
    }

    /// Doubles the buffer as `append` would, but never past `maxLength`: a line near the
    /// maximum then costs its length once, not twice.
    private mutating func grow(by count: Int) {
        let needed = pending.count + count
        guard needed > pending.capacity else { return }
        pending.reserveCapacity(min(maxLength, max(needed, pending.capacity * 2)))
    }

    /// What follows the last newline: a line that lacks its terminator, or nothing.
    public var remainder: [UInt8] { pending }
}

/// The members of a snapshot row that `seal` reads (docs/FORMAT.md); the rest of the row, the
/// raw `book` or `event` above all, is validated and skipped.
public struct RowFields {
    public let kind: String
    let members: [String: JSONValue]

    static let keys: Set<String> = [
        "kind", "received_at", "series", "slug", "condition_id", "token_id", "outcome", "tokens",
        "error_kind", "started_at", "stage", "winning_outcome", "winning_token_id", "disruption",
    ]

    /// Why a line is not a row.
    public struct NotARow: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads one line: a row is a JSON object with a string `kind`. Only the members seal reads
    /// are built, and only when small: a member that should be a string but is an array or an
    /// object, or a `tokens` list longer than any market's, is validated and skipped, so a
    /// hostile row (`"slug":[0,0,0,…]`) costs no more memory than its bytes.
    public static func read(_ line: [UInt8]) -> Result<RowFields, NotARow> {
        do throws(JSONError) {
            var scanner = JSONScanner(line)
            try scanner.expect(UInt8(ascii: "{"))
            var members: [String: JSONValue] = [:]
            if try !scanner.consume(UInt8(ascii: "}")) {
                repeat {
                    let key = try scanner.string()
                    try scanner.expect(UInt8(ascii: ":"))
                    let first = try scanner.peek()
                    let composite = first == UInt8(ascii: "{") || first == UInt8(ascii: "[")
                    guard keys.contains(key), !composite || key == "tokens" else {
                        try scanner.skipValue()
                        continue
                    }
                    guard composite else {
                        members[key] = try scanner.value()
                        continue
                    }
                    let start = scanner.position
                    try scanner.skipValue()
                    if scanner.position - start <= maxTokensBytes {
                        var tokens = JSONScanner(Array(line[start..<scanner.position]))
                        members[key] = try tokens.value()
                    }
                } while try scanner.consume(UInt8(ascii: ","))
                try scanner.expect(UInt8(ascii: "}"))
            }
            try scanner.expectEnd()
            guard let kind = members["kind"]?.string else { return .failure(NotARow(description: "not a row (no \"kind\")")) }
            return .success(RowFields(kind: kind, members: members))
        } catch {
            return .failure(NotARow(description: "not a JSON object (\(error))"))
        }
    }

    /// A market's `tokens` (two outcomes, ids of some 80 digits) fit many times over.
    static let maxTokensBytes = 64 << 10

    public subscript(key: String) -> String? { members[key]?.string }

    public func timestamp(_ key: String) -> Timestamp? { self[key].flatMap(Timestamp.parse) }

    /// A market row's outcome ↔ token pairs.
    var tokens: [(tokenId: String, outcome: String?)] {
        (members["tokens"]?.array ?? []).compactMap { token in
            token["token_id"]?.string.map { ($0, token["outcome"]?.string) }
        }
    }
}
