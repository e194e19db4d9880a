import OrderbooksCore

/// What Gamma said about each slug, and when, and the markets awaiting their resolution. The
/// answers are an optimisation only: a slug's token ids and window never change, so a cached
/// answer requests exactly the books a fresh one would. Deleting the file costs a round of Gamma
/// requests, and lookups of the resolutions of the last days again (`ResolutionQueue`).
public struct DiscoveryCache: Equatable, Sendable {
    public enum Answer: Equatable, Sendable {
        case market(Market)
        /// Gamma had no event with this slug yet (an upcoming window not listed so far).
        case notListed
    }

    public struct Entry: Equatable, Sendable {
        public var fetchedAt: Timestamp
        public var answer: Answer
    }

    public var entries: [String: Entry] = [:]
    public var resolutions = ResolutionQueue()

    public init() {}

    private static let seconds = Timestamp.earliest.seconds...Timestamp.latest.seconds

    public func encoded() -> [UInt8] {
        var root = JSONObjectWriter()
        root.field("schema", 1)
        root.field("entries", objects: entries.keys.sorted().map { slug in
            let entry = entries[slug]!
            var o = JSONObjectWriter()
            o.field("slug", slug)
            o.field("fetched_at", entry.fetchedAt.iso8601)
            switch entry.answer {
            case .notListed:
                o.field("listed", false)
            case .market(let m):
                o.field("listed", true)
                o.field("series", m.series.rawValue)
                o.field("condition_id", m.conditionId)
                o.field("window_start", m.window.start)
                o.field("window_end", m.window.end)
                o.field("tokens", objects: m.tokens.map { t in
                    var tw = JSONObjectWriter()
                    tw.field("token_id", t.tokenId)
                    tw.field("outcome", t.outcome)
                    return tw
                })
            }
            return o
        })
        var resolutions = JSONObjectWriter()
        var marks = JSONObjectWriter()
        for series in Series.allCases { if let mark = self.resolutions.queuedUntil[series] { marks.field(series.rawValue, mark) } }
        resolutions.field("queued_until", object: marks)
        resolutions.field("awaited", objects: self.resolutions.awaited.keys.sorted().map { slug in
            let market = self.resolutions.awaited[slug]!
            var o = JSONObjectWriter()
            o.field("slug", slug)
            o.field("series", market.series.rawValue)
            o.field("window_start", market.window.start)
            o.field("window_end", market.window.end)
            o.field("next_check", market.nextCheck)
            o.field("checks", market.checks)
            o.field("last_state", market.lastState)
            return o
        })
        root.field("resolutions", object: resolutions)
        return root.line
    }

    /// Reads the cache; entries that do not parse are dropped, an unreadable file is empty.
    public static func decode(_ bytes: [UInt8]) -> DiscoveryCache {
        var cache = DiscoveryCache()
        guard let value = try? JSON.parse(bytes), value["schema"] == .number("1") else { return cache }
        for item in value["entries"]?.array ?? [] {
            guard let slug = item["slug"]?.string, let fetchedAt = item["fetched_at"]?.string.flatMap(Timestamp.parse),
                  let listed = item["listed"]?.bool else { continue }
            guard listed else {
                cache.entries[slug] = Entry(fetchedAt: fetchedAt, answer: .notListed)
                continue
            }
            guard let series = item["series"]?.string.flatMap(Series.init(rawValue:)),
                  case .number(let start)? = item["window_start"], let windowStart = Int64(start),
                  case .number(let end)? = item["window_end"], let windowEnd = Int64(end),
                  // Only a window Gamma could have given (see `GammaEvent.time`): an edited or
                  // damaged entry is dropped and asked again, never computed with.
                  Self.seconds.contains(windowStart), Self.seconds.contains(windowEnd), windowStart < windowEnd else { continue }
            // Within the bounds a Gamma answer is held to (`GammaEvent`): the file is on disk, and
            // what it names is requested, so an edited one must not ask for more than Gamma could.
            let tokenList = item["tokens"]?.array ?? []
            let tokens = tokenList.compactMap { t -> MarketToken? in
                guard let id = t["token_id"]?.string, !id.isEmpty, id.utf8.count <= GammaEvent.maxTokenIdLength else { return nil }
                return MarketToken(tokenId: id, outcome: t["outcome"]?.string.flatMap { $0.utf8.count <= GammaEvent.maxOutcomeLength ? $0 : nil })
            }
            let conditionId = item["condition_id"]?.string
            guard !tokens.isEmpty, tokens.count == tokenList.count, tokens.count <= GammaEvent.maxTokens,
                  (conditionId?.utf8.count ?? 0) <= GammaEvent.maxConditionIdLength else { continue }
            let market = Market(series: series, slug: slug, conditionId: conditionId,
                                window: Window(start: windowStart, end: windowEnd), tokens: tokens)
            cache.entries[slug] = Entry(fetchedAt: fetchedAt, answer: .market(market))
        }
        let resolutions = value["resolutions"]
        for series in Series.allCases {
            if case .number(let text)? = resolutions?["queued_until"]?[series.rawValue], let mark = Int64(text), Self.seconds.contains(mark) {
                cache.resolutions.queuedUntil[series] = mark
            }
        }
        for item in (resolutions?["awaited"]?.array ?? []).prefix(ResolutionQueue.maxAwaited) {
            guard let slug = item["slug"]?.string, let series = item["series"]?.string.flatMap(Series.init(rawValue:)),
                  case .number(let start)? = item["window_start"], let windowStart = Int64(start), Self.seconds.contains(windowStart),
                  case .number(let next)? = item["next_check"], let nextCheck = Int64(next), Self.seconds.contains(nextCheck),
                  case .number(let count)? = item["checks"], let checks = Int(count), (0...(1 << 20)).contains(checks) else { continue }
            // Only a window of the series' own grid, named by its own slug: what is queued is asked
            // for by name, so an edited entry must not send Gamma anything else.
            let window = series.window(containing: windowStart)
            guard window.start == windowStart, series.slug(for: window) == slug else { continue }
            cache.resolutions.awaited[slug] = AwaitedResolution(series: series, slug: slug, window: window, nextCheck: nextCheck,
                                                                checks: checks, lastState: item["last_state"]?.string.map { String($0.prefix(512)) })
        }
        return cache
    }
}
