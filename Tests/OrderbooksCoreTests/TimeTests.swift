import Testing
@testable import OrderbooksCore

@Suite struct TimestampTests {
    @Test func formatsMicrosecondsExactly() {
        let t = Timestamp(microseconds: 1_778_584_369_464_123)
        #expect(t.iso8601 == "2026-05-12T11:12:49.464123Z")
        #expect(t.compact == "20260512T111249.464Z")
        #expect(Timestamp(microseconds: 0).iso8601 == "1970-01-01T00:00:00.000000Z")
        #expect(Timestamp(microseconds: -1).iso8601 == "1969-12-31T23:59:59.999999Z")
    }

    @Test(arguments: [
        ("2026-05-12T11:10:00Z", Int64(1_778_584_200_000_000)),
        ("2026-05-12T11:10:00.025727Z", 1_778_584_200_025_727),
        ("2026-05-12T11:10:00+00:00", 1_778_584_200_000_000),
        ("2026-05-12 11:10:00+00", 1_778_584_200_000_000),
        ("2026-05-12T07:10:00-04:00", 1_778_584_200_000_000),
        ("2026-05-12T11:10:00.5Z", 1_778_584_200_500_000),
    ])
    func parsesGammaForms(text: String, micros: Int64) {
        #expect(Timestamp.parse(text)?.microseconds == micros)
    }

    @Test(arguments: ["", "2026-05-12", "2026-05-12T11:10:00", "2026-13-12T11:10:00Z", "2026-05-12T11:10:00Zjunk", "2026-05-12T11:10:00.Z"])
    func rejectsOtherText(text: String) {
        #expect(Timestamp.parse(text) == nil)
    }

    @Test func civilRoundTripsAndWeekdays() {
        var t: Int64 = -2_000_000_000
        while t < 4_000_000_000 {
            let c = CivilTime(epochSeconds: t)
            #expect(c.epochSeconds == t)
            t += 7_777_777
        }
        #expect(CivilTime(year: 2026, month: 11, day: 21).weekday == 6)  // a Saturday
        #expect(CivilTime(year: 1969, month: 12, day: 31).weekday == 3)
    }
}

@Suite struct EasternTimeTests {
    @Test func switchesAtTheUSRuleInstants() {
        // 2026: daylight time from 8 March 07:00Z to 1 November 06:00Z.
        let start = Timestamp.parse("2026-03-08T07:00:00Z")!.seconds
        let end = Timestamp.parse("2026-11-01T06:00:00Z")!.seconds
        #expect(EasternTime.offset(at: start - 1) == -5 * 3600)
        #expect(EasternTime.offset(at: start) == -4 * 3600)
        #expect(EasternTime.offset(at: end - 1) == -4 * 3600)
        #expect(EasternTime.offset(at: end) == -5 * 3600)
    }

    @Test func convertsWallClockBack() {
        let july = CivilTime(year: 2026, month: 7, day: 4, hour: 12)
        #expect(EasternTime.utc(ofLocal: july) == Timestamp.parse("2026-07-04T16:00:00Z")!.seconds)
        let january = CivilTime(year: 2026, month: 1, day: 4, hour: 12)
        #expect(EasternTime.utc(ofLocal: january) == Timestamp.parse("2026-01-04T17:00:00Z")!.seconds)
        // Skipped hour: read as standard time; repeated hour: its first occurrence.
        #expect(EasternTime.utc(ofLocal: CivilTime(year: 2026, month: 3, day: 8, hour: 2, minute: 30)) == Timestamp.parse("2026-03-08T07:30:00Z")!.seconds)
        #expect(EasternTime.utc(ofLocal: CivilTime(year: 2026, month: 11, day: 1, hour: 1, minute: 30)) == Timestamp.parse("2026-11-01T05:30:00Z")!.seconds)
    }
}
