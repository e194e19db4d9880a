import Testing
@testable import OrderbooksCore

private func at(_ iso: String) -> Int64 { Timestamp.parse(iso)!.seconds }

@Suite struct SeriesTests {
    @Test func fiveAndFifteenMinuteSlugsUseTheStartEpoch() {
        // The 5m market captured in the reference (btc-updown-5m-1778584200, 11:10–11:15Z).
        let w = Series.fiveMinute.window(containing: at("2026-05-12T11:12:49Z"))
        #expect(w == Window(start: 1_778_584_200, end: 1_778_584_500))
        #expect(Series.fiveMinute.slug(for: w) == "btc-updown-5m-1778584200")
        let q = Series.fifteenMinute.window(containing: at("2026-05-12T11:12:49Z"))
        #expect(Series.fifteenMinute.slug(for: q) == "btc-updown-15m-\(at("2026-05-12T11:00:00Z"))")
        #expect(q.end - q.start == 900)
    }

    @Test func hourlySlugsNameTheEasternHour() {
        // Verified live 2026-10-02: the 05:00–06:00Z market is "1am-et", not "5am".
        let w = Series.hourly.window(containing: at("2026-10-02T05:19:00Z"))
        #expect(w == Window(start: at("2026-10-02T05:00:00Z"), end: at("2026-10-02T06:00:00Z")))
        #expect(Series.hourly.slug(for: w) == "bitcoin-up-or-down-october-2-2026-1am-et")
        #expect(Series.hourly.slug(for: Series.hourly.window(containing: at("2026-10-02T04:30:00Z"))) == "bitcoin-up-or-down-october-2-2026-12am-et")
        #expect(Series.hourly.slug(for: Series.hourly.window(containing: at("2026-10-02T16:30:00Z"))) == "bitcoin-up-or-down-october-2-2026-12pm-et")
        #expect(Series.hourly.slug(for: Series.hourly.window(containing: at("2026-12-01T03:59:00Z"))) == "bitcoin-up-or-down-november-30-2026-10pm-et")
        // Clocks go back: both 1am hours are one window; clocks go forward: there is no 2am.
        let repeated = Series.hourly.window(containing: at("2026-11-01T06:30:00Z"))
        #expect(repeated == Window(start: at("2026-11-01T05:00:00Z"), end: at("2026-11-01T07:00:00Z")))
        #expect(Series.hourly.slug(for: repeated) == "bitcoin-up-or-down-november-1-2026-1am-et")
        let skipped = Series.hourly.window(containing: at("2026-03-08T06:30:00Z"))
        #expect(skipped == Window(start: at("2026-03-08T06:00:00Z"), end: at("2026-03-08T07:00:00Z")))
        #expect(Series.hourly.slug(for: Series.hourly.window(containing: skipped.end)) == "bitcoin-up-or-down-march-8-2026-3am-et")
    }

    @Test func fourHourWindowsFollowTheEasternGrid() {
        // Reference: 1779825600 = 2026-05-26 20:00Z = 16:00 EDT.
        let w = Series.fourHour.window(containing: at("2026-05-26T21:00:00Z"))
        #expect(w == Window(start: 1_779_825_600, end: 1_779_825_600 + 4 * 3600))
        #expect(Series.fourHour.slug(for: w) == "btc-updown-4h-1779825600")
        // In winter the grid sits an hour later in UTC.
        #expect(Series.fourHour.window(containing: at("2026-12-01T06:00:00Z")).start == at("2026-12-01T05:00:00Z"))
        // The night daylight time ends, 00:00–04:00 local lasts five hours.
        let fallBack = Series.fourHour.window(containing: at("2026-11-01T07:00:00Z"))
        #expect(fallBack == Window(start: at("2026-11-01T04:00:00Z"), end: at("2026-11-01T09:00:00Z")))
    }

    @Test func dailyWindowsRunNoonToNoonEastern() {
        let early = Series.daily.window(containing: at("2026-10-02T05:30:00Z"))  // 01:30 EDT on 2 Oct
        #expect(early == Window(start: at("2026-10-01T16:00:00Z"), end: at("2026-10-02T16:00:00Z")))
        #expect(Series.daily.slug(for: early) == "bitcoin-up-or-down-on-october-2-2026")
        let late = Series.daily.window(containing: at("2026-10-02T16:00:00Z"))  // noon exactly: the next one
        #expect(Series.daily.slug(for: late) == "bitcoin-up-or-down-on-october-3-2026")
        let winter = Series.daily.window(containing: at("2026-12-31T18:00:00Z"))
        #expect(winter == Window(start: at("2026-12-31T17:00:00Z"), end: at("2027-01-01T17:00:00Z")))
        #expect(Series.daily.slug(for: winter) == "bitcoin-up-or-down-on-january-1-2027")
    }

    @Test func everyWindowFollowsTheLastOne() {
        for series in Series.allCases {
            var t = at("2026-01-01T00:00:00Z")
            var previous: Window? = nil
            while t < at("2027-01-01T00:00:00Z") {
                let w = series.window(containing: t)
                #expect(w.start <= t && t < w.end, "\(series) \(t)")
                if let previous, previous != w { #expect(previous.end == w.start, "\(series) gap at \(t)") }
                previous = w
                t += series == .fiveMinute || series == .fifteenMinute ? 97 : 1_777  // shorter than a window
            }
        }
    }

    @Test func targetsKeepThePreviousWindowThroughTheGrace() {
        let justAfter = Series.fiveMinute.targets(at: at("2026-05-12T11:16:59Z"))
        #expect(justAfter.map(\.slug) == ["btc-updown-5m-1778584200", "btc-updown-5m-1778584500", "btc-updown-5m-1778584800"])
        let later = Series.fiveMinute.targets(at: at("2026-05-12T11:17:00Z"))
        #expect(later.map(\.slug) == ["btc-updown-5m-1778584500", "btc-updown-5m-1778584800"])
    }

    @Test func phases() {
        let w = Window(start: 100, end: 400)
        #expect(Phase(window: w, at: 99, grace: 120) == .upcoming)
        #expect(Phase(window: w, at: 100, grace: 120) == .open)
        #expect(Phase(window: w, at: 400, grace: 120) == .closing)
        #expect(Phase(window: w, at: 520, grace: 120) == .ended)
    }

    @Test func namesAndAliases() {
        #expect(Series(name: "btc-up-or-down-hourly") == .hourly)
        #expect(Series(name: "4H") == .fourHour)
        #expect(Series(name: "1h") == nil)
    }
}
