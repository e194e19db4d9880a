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
    public static func parse(partFileName name: String) -> (window: SealWindow, part: Int, isManifest: Bool)? {
        for (suffix, isManifest) in [(segmentSuffix, false), (manifestSuffix, true)] where name.hasSuffix(suffix) {
            let fields = name.dropLast(suffix.count).split(separator: "_", omittingEmptySubsequences: false)
            guard fields.count == 4, fields[0].count == 14, fields[1].hasSuffix("m"), fields[3].hasPrefix("part"),
                  let minutes = Int(fields[1].dropLast()), (1...1440).contains(minutes), String(minutes) + "m" == fields[1],
                  let part = Int(fields[3].dropFirst(4)), (1...maxPart).contains(part), "part\(part)" == fields[3],
                  let start = Timestamp(compact: fields[0].dropLast() + "00.000Z") else { return nil }
            let window = SealWindow(start: start, minutes: minutes, collector: String(fields[2]))
            guard window.baseName == fields[0...2].joined(separator: "_") else { return nil }
            return (window, part, isManifest)
        }
        return nil
    }

    /// Whether two windows of one collector share time (windows of other lengths can, after a
    /// change of `--segment-minutes`).
    public func overlaps(_ other: SealWindow) -> Bool {
        collector == other.collector && start < other.end && other.start < end
    }
}

private func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
