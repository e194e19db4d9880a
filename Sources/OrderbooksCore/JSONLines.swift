import Glibc

/// Cuts a byte stream into lines (without their `\n`) across the pieces it arrives in, so a
/// decompressed file is read row by row without being held whole.
public struct LineSplitter {
    private var pending: [UInt8] = []

    public init() {}

    public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ line: ([UInt8]) -> Void) {
        guard let base = bytes.baseAddress else { return }
        var start = 0
        while start < bytes.count {
            guard let newline = memchr(base + start, 0x0A, bytes.count - start) else {
                pending.append(contentsOf: bytes[start...])
                return
            }
            let end = UnsafeRawPointer(newline) - base
            if pending.isEmpty {
                line(Array(bytes[start..<end]))
            } else {
                pending.append(contentsOf: bytes[start..<end])
                line(pending)
                pending.removeAll(keepingCapacity: true)
            }
            start = end + 1
        }
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
        "error_kind", "started_at",
    ]

    /// Why a line is not a row.
    public struct NotARow: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads one line: a row is a JSON object with a string `kind`.
    public static func read(_ line: [UInt8]) -> Result<RowFields, NotARow> {
        do throws(JSONError) {
            let members = try JSON.objectMembers(line, keys)
            guard let kind = members["kind"]?.string else { return .failure(NotARow(description: "not a row (no \"kind\")")) }
            return .success(RowFields(kind: kind, members: members))
        } catch {
            return .failure(NotARow(description: "not a JSON object (\(error))"))
        }
    }

    public subscript(key: String) -> String? { members[key]?.string }

    public func timestamp(_ key: String) -> Timestamp? { self[key].flatMap(Timestamp.parse) }

    /// A market row's outcome ↔ token pairs.
    var tokens: [(tokenId: String, outcome: String?)] {
        (members["tokens"]?.array ?? []).compactMap { token in
            token["token_id"]?.string.map { ($0, token["outcome"]?.string) }
        }
    }
}
