/// US Eastern time, which names the hourly and daily slugs and aligns the 4-hour windows.
///
/// FoundationEssentials has no time-zone database (`TimeZone(identifier: "America/New_York")` is
/// nil there), so the rule in force since 2007 is coded here: daylight time from the second Sunday
/// of March, 02:00 local, to the first Sunday of November, 02:00 local. The tests cross-check it
/// against Python's zoneinfo.
public enum EasternTime {
    static let standardOffset: Int64 = -5 * 3600
    static let daylightOffset: Int64 = -4 * 3600

    /// Seconds to add to UTC to get Eastern wall-clock time at `utc`.
    public static func offset(at utc: Int64) -> Int64 {
        let year = CivilTime(epochSeconds: utc + standardOffset).year
        let start = nthSunday(2, month: 3, year: year) + 2 * 3600 - standardOffset
        let end = nthSunday(1, month: 11, year: year) + 2 * 3600 - daylightOffset
        return utc >= start && utc < end ? daylightOffset : standardOffset
    }

    /// Eastern wall-clock fields at `utc`.
    public static func civil(at utc: Int64) -> CivilTime {
        CivilTime(epochSeconds: utc + offset(at: utc))
    }

    /// The UTC instant of an Eastern wall-clock time. A time repeated in autumn is read as its
    /// first occurrence, so the repeated hour belongs to one window; a time skipped in spring is
    /// read as standard time. Window boundaries never fall inside those hours otherwise.
    public static func utc(ofLocal local: CivilTime) -> Int64 {
        let daylight = local.epochSeconds - daylightOffset
        return offset(at: daylight) == daylightOffset ? daylight : local.epochSeconds - standardOffset
    }

    /// Midnight (as epoch seconds of the wall clock, not UTC) of the n-th Sunday of a month.
    private static func nthSunday(_ n: Int, month: Int, year: Int) -> Int64 {
        let first = CivilTime(year: year, month: month, day: 1)
        let firstSunday = 1 + (7 - first.weekday) % 7
        return CivilTime(year: year, month: month, day: firstSunday + 7 * (n - 1)).epochSeconds
    }
}
