/// A market's trading window, `[start, end)` in epoch seconds.
public struct Window: Hashable, Sendable, CustomStringConvertible {
    public var start: Int64
    public var end: Int64

    public init(start: Int64, end: Int64) { (self.start, self.end) = (start, end) }

    public var description: String {
        "\(Timestamp(seconds: start).iso8601)–\(Timestamp(seconds: end).iso8601)"
    }
}

/// The five Bitcoin "Up or Down" series and how their event slugs follow from the clock.
///
/// Each market is found by its slug (`GET /events/slug/{slug}`), which Gamma answers for open and
/// closed markets alike; listing endpoints would bring paging and `closed` defaults into play.
public enum Series: String, CaseIterable, Sendable, Codable {
    case fiveMinute = "5m"
    case fifteenMinute = "15m"
    case hourly
    case fourHour = "4h"
    case daily

    /// Gamma's series slug, accepted as an alias on the command line.
    public var gammaSlug: String {
        switch self {
        case .fiveMinute: "btc-up-or-down-5m"
        case .fifteenMinute: "btc-up-or-down-15m"
        case .hourly: "btc-up-or-down-hourly"
        case .fourHour: "btc-up-or-down-4h"
        case .daily: "btc-up-or-down-daily"
        }
    }

    /// Accepts the short name (`5m`) or Gamma's series slug (`btc-up-or-down-5m`).
    public init?(name: String) {
        let n = name.lowercased()
        guard let match = Series.allCases.first(where: { $0.rawValue == n || $0.gammaSlug == n }) else { return nil }
        self = match
    }

    /// The window that contains `t`.
    public func window(containing t: Int64) -> Window {
        switch self {
        case .fiveMinute: return Self.fixed(t, 300)
        case .fifteenMinute: return Self.fixed(t, 900)
        // Both follow the Eastern wall clock: the hour repeated in autumn is one two-hour window
        // (one slug names it), the 4-hour windows of those days last three or five hours.
        case .hourly: return Self.easternGrid(t, hours: 1)
        case .fourHour: return Self.easternGrid(t, hours: 4)
        case .daily:
            // Ends at 12:00 Eastern on the title date and starts at 12:00 the day before.
            let local = EasternTime.civil(at: t)
            var noon = EasternTime.utc(ofLocal: CivilTime(year: local.year, month: local.month, day: local.day, hour: 12))
            if noon <= t { noon = Self.noon(dayAfter: noon) }
            return Window(start: Self.noon(dayBefore: noon), end: noon)
        }
    }

    /// The event slug of the window that starts at `window.start`.
    public func slug(for window: Window) -> String {
        switch self {
        case .fiveMinute: return "btc-updown-5m-\(window.start)"
        case .fifteenMinute: return "btc-updown-15m-\(window.start)"
        case .fourHour: return "btc-updown-4h-\(window.start)"
        case .hourly:
            let local = EasternTime.civil(at: window.start)
            let h12 = local.hour % 12 == 0 ? 12 : local.hour % 12
            let half = local.hour < 12 ? "am" : "pm"
            return "bitcoin-up-or-down-\(Self.monthNames[local.month - 1])-\(local.day)-\(local.year)-\(h12)\(half)-et"
        case .daily:
            let title = EasternTime.civil(at: window.end)
            return "bitcoin-up-or-down-on-\(Self.monthNames[title.month - 1])-\(title.day)-\(title.year)"
        }
    }

    private static let monthNames = ["january", "february", "march", "april", "may", "june", "july",
                                     "august", "september", "october", "november", "december"]

    private static func fixed(_ t: Int64, _ length: Int64) -> Window {
        let start = (t >= 0 ? t / length : (t - length + 1) / length) * length
        return Window(start: start, end: start + length)
    }

    /// The window of `hours` Eastern wall-clock hours, aligned to midnight, that contains `t`.
    private static func easternGrid(_ t: Int64, hours: Int) -> Window {
        let local = EasternTime.civil(at: t)
        let wallStart = CivilTime(year: local.year, month: local.month, day: local.day, hour: local.hour - local.hour % hours)
        let start = EasternTime.utc(ofLocal: wallStart)
        let end = EasternTime.utc(ofLocal: CivilTime(epochSeconds: wallStart.epochSeconds + Int64(hours) * 3600))
        return Window(start: start, end: end)
    }

    private static func noon(dayAfter noon: Int64) -> Int64 { shiftNoon(noon, days: 1) }
    private static func noon(dayBefore noon: Int64) -> Int64 { shiftNoon(noon, days: -1) }

    private static func shiftNoon(_ noon: Int64, days: Int64) -> Int64 {
        let local = EasternTime.civil(at: noon)
        let day = CivilTime(epochSeconds: (CivilTime(year: local.year, month: local.month, day: local.day).daysSinceEpoch + days) * 86_400)
        return EasternTime.utc(ofLocal: CivilTime(year: day.year, month: day.month, day: day.day, hour: 12))
    }
}

/// Where a window stands relative to the moment of a request.
public enum Phase: String, Sendable, Codable {
    /// Not started yet: a missing book is expected (books may appear only shortly before the start).
    case upcoming
    /// Trading: every book must be there.
    case open
    /// Ended less than the grace period ago: trading and the book go on briefly, then vanish.
    case closing
    /// Ended longer ago than the grace period.
    case ended

    public init(window: Window, at t: Int64, grace: Int64) {
        if t < window.start { self = .upcoming }
        else if t < window.end { self = .open }
        else if case let (end, overflow) = window.end.addingReportingOverflow(grace), overflow || t < end { self = .closing }
        else { self = .ended }
    }
}

/// One window of one series that a run should capture.
public struct WindowTarget: Hashable, Sendable {
    public var series: Series
    public var window: Window
    public var slug: String
}

extension Series {
    /// Seconds after a window's end during which it is still captured: trading goes on about
    /// 90 s after the end and the market closes 60–120 s after it.
    public static let closingGrace: Int64 = 120

    /// The windows to capture at `t`: the open one, the next, and the previous one while it is
    /// within the closing grace.
    public func targets(at t: Int64) -> [WindowTarget] {
        let current = window(containing: t)
        let previous = window(containing: current.start - 1)
        let next = window(containing: current.end)
        var windows = [current, next]
        if t < previous.end + Self.closingGrace { windows.insert(previous, at: 0) }
        return windows.map { WindowTarget(series: self, window: $0, slug: slug(for: $0)) }
    }
}
