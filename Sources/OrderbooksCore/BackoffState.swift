/// The two APIs a run talks to; each is throttled on its own.
public enum API: String, Sendable, CaseIterable {
    case gamma, clob
}

/// When a server throttled us, later runs leave it alone until it said to come back
/// (Retry-After), or for an exponential pause when it did not say. Kept in `state/backoff.json`
/// because every run is a new process. In the core: snap writes it, the gate reads it.
public struct BackoffState: Equatable, Sendable {
    public struct Entry: Equatable, Sendable {
        public var until: Timestamp
        /// Throttled answers in a row; doubles the pause when the server gives no Retry-After.
        public var consecutive: Int
        public var reason: String

        package init(until: Timestamp, consecutive: Int, reason: String) {
            (self.until, self.consecutive, self.reason) = (until, consecutive, reason)
        }
    }

    public package(set) var entries: [API: Entry] = [:]

    public init() {}

    /// First pause without Retry-After, doubled for each further throttled answer in a row.
    public static let basePause: Int64 = 5
    /// No pause, requested or computed, lasts longer: a bad header must not stop capture for long.
    public static let maxPause: Int64 = 900

    /// The active pause for `api` at `now`, if any. A pause ending further ahead than the cap
    /// allows can only come from the wall clock stepping back, and is ignored.
    public func pause(for api: API, at now: Timestamp) -> Entry? {
        guard let entry = entries[api], now < entry.until, entry.until <= now.adding(seconds: Self.maxPause) else { return nil }
        return entry
    }

    public mutating func recordSuccess(_ api: API) {
        entries[api] = nil
    }

    public func encoded() -> [UInt8] {
        var root = JSONObjectWriter()
        root.field("schema", 1)
        root.field("apis", objects: API.allCases.compactMap { api in
            guard let e = entries[api] else { return nil }
            var o = JSONObjectWriter()
            o.field("api", api.rawValue)
            o.field("until", e.until.iso8601)
            o.field("consecutive", e.consecutive)
            o.field("reason", e.reason)
            return o
        })
        return root.line
    }

    /// Reads the state; anything unreadable counts as no pause.
    public static func decode(_ bytes: [UInt8]) -> BackoffState {
        var state = BackoffState()
        guard let value = try? JSON.parse(bytes) else { return state }
        for item in value["apis"]?.array ?? [] {
            guard let api = item["api"]?.string.flatMap(API.init(rawValue:)),
                  let until = item["until"]?.string.flatMap(Timestamp.parse),
                  case .number(let n)? = item["consecutive"], let consecutive = Int(n), consecutive >= 0 else { continue }
            state.entries[api] = Entry(until: until, consecutive: consecutive, reason: item["reason"]?.string ?? "")
        }
        return state
    }
}
