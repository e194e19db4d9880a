import Glibc

/// A UTC instant with microsecond resolution, kept as an integer so formatting never suffers
/// the floating-point truncation that `Date` shows (`.123` printed as `.122`).
public struct Timestamp: Comparable, Hashable, Sendable {
    public var microseconds: Int64

    public init(microseconds: Int64) { self.microseconds = microseconds }

    /// Clamped to `earliest…latest`, so seconds from outside (a cache, a server) never trap.
    public init(seconds: Int64) {
        self.microseconds = min(max(seconds, Self.earliest.seconds), Self.latest.seconds) * 1_000_000
    }

    /// The instants every format here writes and reads back: ISO 8601 with four-digit years,
    /// 0000-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z.
    public static let earliest = Timestamp(microseconds: -62_167_219_200_000_000)
    public static let latest = Timestamp(microseconds: 253_402_300_799_999_999)

    /// `microseconds`, clamped to `earliest…latest`.
    public init(clamping microseconds: Int64) {
        self.microseconds = min(max(microseconds, Self.earliest.microseconds), Self.latest.microseconds)
    }

    /// `seconds` later, clamped to `earliest…latest`: a delay a server asks for never traps.
    public func adding(seconds: Int64) -> Timestamp {
        let (delta, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000)
        if overflow { return seconds > 0 ? Self.latest : Self.earliest }
        let (sum, overflowed) = microseconds.addingReportingOverflow(delta)
        return overflowed ? (delta > 0 ? Self.latest : Self.earliest) : Timestamp(clamping: sum)
    }

    /// The instant of calendar fields that form a date and time of the years 0000–9999 (the
    /// day is not checked against the month's length), or nil: fields from outside can be any
    /// integer.
    public init?(civil c: CivilTime, microseconds micros: Int64 = 0) {
        guard (0...9999).contains(c.year), (1...12).contains(c.month), (1...31).contains(c.day), (0..<24).contains(c.hour),
              (0..<60).contains(c.minute), (0..<61).contains(c.second), (0..<1_000_000).contains(micros) else { return nil }
        self.init(clamping: c.epochSeconds * 1_000_000 + micros)
    }

    public static func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(microseconds: Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000)
    }

    /// Whole seconds since the epoch, rounded down (also for instants before 1970).
    public var seconds: Int64 { microseconds / 1_000_000 - (microseconds % 1_000_000 < 0 ? 1 : 0) }

    /// Microseconds past `seconds`, 0…999,999.
    var fraction: Int64 {
        let r = microseconds % 1_000_000
        return r < 0 ? r + 1_000_000 : r
    }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.microseconds < b.microseconds }

    /// `2026-11-21T19:36:05.123456Z`: the form of every `*_at` field in the data.
    public var iso8601: String {
        let c = CivilTime(epochSeconds: seconds)
        return "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2))T\(pad(c.hour, 2)):\(pad(c.minute, 2)):\(pad(c.second, 2)).\(pad(Int(fraction), 6))Z"
    }

    /// `20261121T193605.123Z`: sortable and safe in file names.
    public var compact: String {
        let c = CivilTime(epochSeconds: seconds)
        return "\(pad(c.year, 4))\(pad(c.month, 2))\(pad(c.day, 2))T\(pad(c.hour, 2))\(pad(c.minute, 2))\(pad(c.second, 2)).\(pad(Int(fraction / 1000), 3))Z"
    }

    /// Parses `compact`'s form back (`20261121T193605.123Z`), or nil.
    public init?(compact text: String) {
        // Byte by byte, nothing allocated: seal and gate health parse thousands of names a run.
        var text = text
        guard let f = text.withUTF8({ b -> (Int, Int, Int, Int, Int, Int, Int)? in
            guard b.count == 20, b[8] == UInt8(ascii: "T"), b[15] == UInt8(ascii: "."), b[19] == UInt8(ascii: "Z") else { return nil }
            func number(_ from: Int, _ count: Int) -> Int? {
                var value = 0
                for c in b[from..<(from + count)] {
                    guard c >= 48, c <= 57 else { return nil }
                    value = value * 10 + Int(c - 48)
                }
                return value
            }
            guard let year = number(0, 4), let month = number(4, 2), let day = number(6, 2), let hour = number(9, 2),
                  let minute = number(11, 2), let second = number(13, 2), let millis = number(16, 3) else { return nil }
            return (year, month, day, hour, minute, second, millis)
        }) else { return nil }
        self.init(civil: CivilTime(year: f.0, month: f.1, day: f.2, hour: f.3, minute: f.4, second: f.5), microseconds: Int64(f.6) * 1000)
    }

    /// Parses the ISO-8601 forms Gamma sends: `2026-05-12T11:10:00Z`, `…00.025727Z`, `…+00:00`,
    /// and the space-separated `2026-05-12 11:10:00+00`. Returns nil for anything else.
    public static func parse(_ text: String) -> Timestamp? {
        let b = Array(text.utf8)
        var i = 0
        func digits(_ n: Int) -> Int? {
            guard i + n <= b.count else { return nil }
            var v = 0
            for k in i..<(i + n) {
                guard b[k] >= 48, b[k] <= 57 else { return nil }
                v = v * 10 + Int(b[k] - 48)
            }
            i += n
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < b.count, b[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect(UInt8(ascii: "-")), let month = digits(2), expect(UInt8(ascii: "-")),
              let day = digits(2), i < b.count, b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: " ") else { return nil }
        i += 1
        guard let hour = digits(2), expect(UInt8(ascii: ":")), let minute = digits(2), expect(UInt8(ascii: ":")),
              let second = digits(2) else { return nil }
        var micros: Int64 = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var scale: Int64 = 100_000
            let start = i
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                micros += Int64(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        var offset: Int64 = 0
        if expect(UInt8(ascii: "Z")) || expect(UInt8(ascii: "z")) {
            offset = 0
        } else if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign: Int64 = b[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            guard let oh = digits(2) else { return nil }
            var om = 0
            if i < b.count {
                _ = expect(UInt8(ascii: ":"))
                guard let m = digits(2) else { return nil }
                om = m
            }
            offset = sign * Int64(oh * 3600 + om * 60)
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let civil = CivilTime(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        return Timestamp(civil: civil, microseconds: micros).map { Timestamp(clamping: $0.microseconds - offset * 1_000_000) }
    }
}

/// Calendar fields of an instant in a time scale without leap seconds (proleptic Gregorian).
public struct CivilTime: Equatable, Sendable {
    public var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
        (self.year, self.month, self.day, self.hour, self.minute, self.second) = (year, month, day, hour, minute, second)
    }

    public init(epochSeconds t: Int64) {
        let days = t >= 0 ? t / 86_400 : (t - 86_399) / 86_400
        let rem = Int(t - days * 86_400)
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = Int(doy - (153 * mp + 2) / 5 + 1)
        let m = Int(mp < 10 ? mp + 3 : mp - 9)
        self.init(year: Int(yoe + era * 400) + (m <= 2 ? 1 : 0), month: m, day: d,
                  hour: rem / 3600, minute: rem % 3600 / 60, second: rem % 60)
    }

    /// Days since 1970-01-01 of the date part (Hinnant's days_from_civil).
    public var daysSinceEpoch: Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64(month > 2 ? month - 3 : month + 9)
        let doy = (153 * mp + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    public var epochSeconds: Int64 {
        daysSinceEpoch * 86_400 + Int64(hour * 3600 + minute * 60 + second)
    }

    /// 0 = Sunday … 6 = Saturday.
    public var weekday: Int {
        let d = daysSinceEpoch
        return Int(((d % 7) + 11) % 7)  // 1970-01-01 was a Thursday (4).
    }
}

/// CLOCK_MONOTONIC in nanoseconds: immune to wall-clock steps, so elapsed times and clock-jump
/// checks use it.
public func monotonicNanoseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

private func pad(_ value: Int, _ width: Int) -> String {
    let s = String(value)
    return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
}
