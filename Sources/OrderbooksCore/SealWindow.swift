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

    /// The part number and kind of one of this window's files in its day directory, or nil.
    public func part(ofFileNamed name: String) -> (part: Int, isManifest: Bool)? {
        let prefix = baseName + "_part"
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count)
        for (suffix, isManifest) in [(Self.segmentSuffix, false), (Self.manifestSuffix, true)] where rest.hasSuffix(suffix) {
            if let part = Int(rest.dropLast(suffix.count)), part >= 1, String(part) == rest.dropLast(suffix.count) {
                return (part, isManifest)
            }
        }
        return nil
    }
}

private func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
