/// One collector's time window of `minutes`, aligned on UTC (60-minute windows are the UTC
/// hours, 1440 the UTC days), and the names of the parts sealed for it.
public struct SealWindow: Hashable, Comparable, Sendable {
    public var collector: String
    public var start: Timestamp
    public var minutes: Int

    public static let segmentSuffix = ".jsonl.gz"
    public static let manifestSuffix = ".manifest.json"

    /// The window holding `instant`.
    public init(containing instant: Timestamp, minutes: Int, collector: String) {
        let length = Int64(minutes) * 60
        let s = instant.seconds
        let aligned = s >= 0 ? s / length * length : (s - length + 1) / length * length
        self.init(start: Timestamp(seconds: aligned), minutes: minutes, collector: collector)
    }

    public init(start: Timestamp, minutes: Int, collector: String) {
        (self.start, self.minutes, self.collector) = (start, minutes, collector)
    }

    public var end: Timestamp { Timestamp(microseconds: start.microseconds + Int64(minutes) * 60_000_000) }

    public static func < (a: SealWindow, b: SealWindow) -> Bool {
        (a.start, a.collector, a.minutes) < (b.start, b.collector, b.minutes)
    }

    /// `20261121T1200Z_60m_vps-1`: start, length and collector, so neither two collectors nor two
    /// window lengths ever share a name.
    public var baseName: String {
        let c = CivilTime(epochSeconds: start.seconds)
        return "\(c.year)\(two(c.month))\(two(c.day))T\(two(c.hour))\(two(c.minute))Z_\(minutes)m_\(collector)"
    }

    /// `2026/11/21`, the directory under `sealed/` (the UTC date of the start).
    public var dayDirectory: String {
        let c = CivilTime(epochSeconds: start.seconds)
        return "\(c.year)/\(two(c.month))/\(two(c.day))"
    }

    /// `<base>_part<n>`: part 1 is the window's first sealing; rows that turn up after it (a late
    /// run, a run after `--flush`) go into part 2 and so on, since a sealed file is never rewritten.
    public func partName(_ part: Int) -> String { "\(baseName)_part\(part)" }

    /// The highest part number a name may carry. A name with a larger one (or with more minutes
    /// than a day) is not a part: no stray file can make a part number or a window end overflow.
    public static let maxPart = 999_999_999

    /// The part number and kind of one of this window's files in its day directory, or nil.
    public func part(ofFileNamed name: String) -> (part: Int, isManifest: Bool)? {
        guard let parsed = Self.parse(partFileName: name), parsed.window == self else { return nil }
        return (parsed.part, parsed.isManifest)
    }

    /// Reads a part's file name back: `<start>_<minutes>m_<collector>_part<n>` plus a suffix.
    /// Only the canonical name of a window parses (the one `partName` writes: a real date, no
    /// leading zero, no `_` in the collector). Byte by byte: seal, ship and gate health read
    /// every name of `sealed/` and `receipts/` on each run.
    public static func parse(partFileName name: String) -> (window: SealWindow, part: Int, isManifest: Bool)? {
        var name = name
        return name.withUTF8 { b -> (window: SealWindow, part: Int, isManifest: Bool)? in
            let isManifest: Bool
            let base: Int  // the length before the suffix
            if b.count > segmentSuffix.utf8.count, b.suffix(segmentSuffix.utf8.count).elementsEqual(segmentSuffix.utf8) {
                (isManifest, base) = (false, b.count - segmentSuffix.utf8.count)
            } else if b.count > manifestSuffix.utf8.count, b.suffix(manifestSuffix.utf8.count).elementsEqual(manifestSuffix.utf8) {
                (isManifest, base) = (true, b.count - manifestSuffix.utf8.count)
            } else {
                return nil
            }
            let underscores = (0..<base).filter { b[$0] == UInt8(ascii: "_") }
            guard underscores.count == 3, underscores[0] == 14 else { return nil }
            func digits(_ range: Range<Int>) -> Int? {
                // At most 9 digits (no overflow) and no leading zero: one spelling per number.
                guard !range.isEmpty, range.count <= 9, range.count == 1 || b[range.lowerBound] != UInt8(ascii: "0") else { return nil }
                var value = 0
                for i in range {
                    guard b[i] >= 48, b[i] <= 57 else { return nil }
                    value = value * 10 + Int(b[i] - 48)
                }
                return value
            }
            // <YYYYMMDD>T<HHMM>Z
            guard b[8] == UInt8(ascii: "T"), b[13] == UInt8(ascii: "Z") else { return nil }
            func fixed(_ from: Int, _ count: Int) -> Int? {
                var value = 0
                for i in from..<(from + count) {
                    guard b[i] >= 48, b[i] <= 57 else { return nil }
                    value = value * 10 + Int(b[i] - 48)
                }
                return value
            }
            guard let year = fixed(0, 4), year >= 1000, let month = fixed(4, 2), let day = fixed(6, 2), let hour = fixed(9, 2),
                  let minute = fixed(11, 2) else { return nil }
            let civil = CivilTime(year: year, month: month, day: day, hour: hour, minute: minute)
            guard let start = Timestamp(civil: civil), CivilTime(epochSeconds: start.seconds) == civil else { return nil }
            // <minutes>m
            let minutesField = (underscores[0] + 1)..<underscores[1]
            guard minutesField.count >= 2, b[minutesField.upperBound - 1] == UInt8(ascii: "m"),
                  let minutes = digits(minutesField.lowerBound..<(minutesField.upperBound - 1)), (1...1440).contains(minutes) else { return nil }
            // <collector>_part<n>
            let partField = (underscores[2] + 1)..<base
            guard partField.count > 4, b[partField.lowerBound..<(partField.lowerBound + 4)].elementsEqual("part".utf8),
                  let part = digits((partField.lowerBound + 4)..<partField.upperBound), (1...maxPart).contains(part) else { return nil }
            let collector = String(decoding: b[(underscores[1] + 1)..<underscores[2]], as: UTF8.self)
            return (SealWindow(start: start, minutes: minutes, collector: collector), part, isManifest)
        }
    }

    /// Whether two windows of one collector share time (windows of other lengths can, after a
    /// change of `--segment-minutes`).
    public func overlaps(_ other: SealWindow) -> Bool {
        collector == other.collector && start < other.end && other.start < end
    }
}

private func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
