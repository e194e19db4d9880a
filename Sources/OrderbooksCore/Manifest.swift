/// The manifest written beside each sealed part (docs/FORMAT.md#manifests): what the segment
/// holds, where it came from, and how well its window is covered. It is written after the
/// segment and is what makes a part sealed: `seal` deletes spool files only once the manifest
/// naming them is durable and the segment has been re-read against it.
public struct Manifest: Sendable {
    public static let schemaVersion = 1

    /// A data file of the part (today one: the segment).
    public struct DataFile: Sendable, Equatable {
        public var name: String
        public var bytes: Int64
        public var sha256: String
        public var md5: String
        public var rows: Int

        package init(name: String, bytes: Int64, sha256: String, md5: String, rows: Int) {
            self.name = name
            self.bytes = bytes
            self.sha256 = sha256
            self.md5 = md5
            self.rows = rows
        }
    }

    /// A spool file copied whole into the segment: its bytes are the segment's bytes
    /// `[offset, offset + bytes)`, one gzip member, byte for byte as snap wrote it.
    public struct Source: Sendable, Equatable {
        public var name: String
        public var bytes: Int64
        public var sha256: String
        public var rows: Int
        public var offset: Int64

        package init(name: String, bytes: Int64, sha256: String, rows: Int, offset: Int64) {
            self.name = name
            self.bytes = bytes
            self.sha256 = sha256
            self.rows = rows
            self.offset = offset
        }
    }

    /// A damaged spool file, moved to `quarantine/`; its readable rows were salvaged into the segment.
    public struct Quarantined: Sendable, Equatable {
        public var name: String
        public var bytes: Int64
        public var sha256: String
        public var reason: String
        public var rowsSalvaged: Int
        /// Offset in the segment of the gzip member holding the salvaged rows (nil when none).
        public var offset: Int64?

        package init(name: String, bytes: Int64, sha256: String, reason: String, rowsSalvaged: Int, offset: Int64?) {
            self.name = name
            self.bytes = bytes
            self.sha256 = sha256
            self.reason = reason
            self.rowsSalvaged = rowsSalvaged
            self.offset = offset
        }
    }

    public var collector: String
    public var windowStart: Timestamp
    public var windowEnd: Timestamp
    public var segmentMinutes: Int
    public var part: Int
    public var files: [DataFile]
    public var rowsByKind: [String: Int]
    public var sources: [Source]
    public var quarantined: [Quarantined]

    public init(window: SealWindow, part: Int, file: DataFile, rowsByKind: [String: Int], sources: [Source], quarantined: [Quarantined]) {
        (collector, windowStart, windowEnd, segmentMinutes) = (window.collector, window.start, window.end, window.minutes)
        (self.part, files, self.rowsByKind, self.sources, self.quarantined) = (part, [file], rowsByKind, sources, quarantined)
    }

    /// The kinds snap writes, in the order manifests list them (others follow, sorted).
    static let rowKinds = ["market", "book", "absent", "resolution", "failure", "run"]
    static let runOutcomes = ["complete", "partial", "failed", "backoff"]

    /// Facts about the sealing itself, written into the manifest but never read back.
    public struct Context: Sendable {
        public var summary: SegmentSummary
        public var coverage: Coverage
        public var coverageUntil: Timestamp
        public var snapInterval: Int
        public var previousParts: [String]
        public var command: [String]
        public var createdAt: Timestamp

        package init(summary: SegmentSummary, coverage: Coverage, coverageUntil: Timestamp, snapInterval: Int, previousParts: [String], command: [String], createdAt: Timestamp) {
            self.summary = summary
            self.coverage = coverage
            self.coverageUntil = coverageUntil
            self.snapInterval = snapInterval
            self.previousParts = previousParts
            self.command = command
            self.createdAt = createdAt
        }
    }

    public func encoded(_ context: Context) -> [UInt8] {
        let summary = context.summary
        var m = JSONObjectWriter(multiline: true)
        m.field("kind", "manifest")
        m.field("schema", Self.schemaVersion)
        m.field("collector", collector)
        m.field("window_start", windowStart.iso8601)
        m.field("window_end", windowEnd.iso8601)
        m.field("segment_minutes", segmentMinutes)
        m.field("part", part)
        m.field("previous_parts", strings: context.previousParts)
        m.field("files", objects: files.map { f in
            var o = JSONObjectWriter()
            o.field("name", f.name)
            o.field("bytes", f.bytes)
            o.field("sha256", f.sha256)
            o.field("md5", f.md5)
            o.field("rows", f.rows)
            return o
        })
        m.field("rows", files.reduce(0) { $0 + $1.rows })
        m.field("rows_by_kind", object: Self.counts(rowsByKind, known: Self.rowKinds))
        m.field("first_received_at", summary.firstReceivedAt?.iso8601)
        m.field("last_received_at", summary.lastReceivedAt?.iso8601)
        var runs = Self.counts(summary.runsByOutcome, known: Self.runOutcomes)
        runs.field("total", summary.runs.count)
        m.field("runs", object: runs)
        m.field("snap_interval_seconds", context.snapInterval)
        m.field("coverage_until", context.coverageUntil.iso8601)
        m.field("slots_expected", context.coverage.slotsExpected)
        m.field("slots_covered", context.coverage.slotsCovered)
        m.field("slots_complete", context.coverage.slotsComplete)
        m.field("coverage", number: context.coverage.ratioText)
        m.field("gaps", each: context.coverage.gaps) { g, o in
            o.field("start", g.start.iso8601)
            o.field("end", g.end.iso8601)
            o.field("seconds", milliseconds: (g.end.microseconds - g.start.microseconds) / 1000)
            o.field("reason", g.reason)
            o.field("runs", g.runs)
        }
        m.field("markets", each: summary.markets) { market, o in
            o.field("slug", market.slug)
            o.field("series", market.series)
            o.field("condition_id", market.conditionId)
            o.field("tokens", objects: market.tokens.map { t in
                var token = JSONObjectWriter()
                token.field("token_id", t.tokenId)
                token.field("outcome", t.outcome)
                return token
            })
            o.field("rows", market.rows)
            o.field("books", market.books)
            o.field("absent", market.absent)
            o.field("failures", market.failures)
            o.field("first_received_at", market.firstReceivedAt?.iso8601)
            o.field("last_received_at", market.lastReceivedAt?.iso8601)
        }
        m.field("resolutions", each: summary.resolutions) { r, o in
            o.field("slug", r.slug)
            o.field("condition_id", r.conditionId)
            o.field("winning_outcome", r.winningOutcome)
            o.field("winning_token_id", r.winningTokenId)
            o.field("received_at", r.receivedAt?.iso8601)
        }
        m.field("unresolved", each: summary.unresolved) { r, o in
            o.field("slug", r.slug)
            o.field("received_at", r.receivedAt?.iso8601)
        }
        m.field("sources", each: sources) { s, o in
            o.field("name", s.name)
            o.field("bytes", s.bytes)
            o.field("sha256", s.sha256)
            o.field("rows", s.rows)
            o.field("offset", s.offset)
        }
        m.field("quarantined", each: quarantined) { q, o in
            o.field("name", q.name)
            o.field("bytes", q.bytes)
            o.field("sha256", q.sha256)
            o.field("reason", q.reason)
            o.field("rows_salvaged", q.rowsSalvaged)
            o.field("offset", q.offset)
            o.field("moved_to", "quarantine/" + DataDirectory.quarantineName(forSpoolName: Array(q.name.utf8)))
        }
        m.field("seal_version", OrderbooksVersion.current)
        m.field("command", strings: context.command)
        m.field("created_at", context.createdAt.iso8601)
        return m.finishedLine()
    }

    private static func counts(_ counts: [String: Int], known: [String]) -> JSONObjectWriter {
        var o = JSONObjectWriter()
        for key in known + counts.keys.filter({ !known.contains($0) }).sorted() { o.field(key, counts[key] ?? 0) }
        return o
    }

    public struct DecodingError: Error, CustomStringConvertible {
        public var description: String

        package init(description: String) {
            self.description = description
        }
    }

    /// Reads back what `seal` and `seal verify` rely on. Without `lists`, `sources` and
    /// `quarantined` are validated but not built (a day's manifest lists 86,400 files).
    public init(decoding bytes: [UInt8], lists: Bool = true) throws {
        let keys: Set<String> = ["kind", "schema", "collector", "window_start", "window_end", "segment_minutes", "part", "files", "rows_by_kind"]
        let root = try JSON.objectMembers(bytes, lists ? keys.union(["sources", "quarantined"]) : keys)
        func fail(_ what: String) -> DecodingError { DecodingError(description: "manifest: \(what) missing or invalid") }
        func string(_ v: JSONValue?, _ what: String) throws -> String {
            guard let s = v?.string else { throw fail(what) }
            return s
        }
        func integer(_ v: JSONValue?, _ what: String) throws -> Int64 {
            guard case .number(let text)? = v, let n = Int64(text) else { throw fail(what) }
            return n
        }
        guard root["kind"]?.string == "manifest" else { throw fail("kind") }
        guard try integer(root["schema"], "schema") == Int64(Self.schemaVersion) else { throw fail("schema \(Self.schemaVersion)") }
        collector = try string(root["collector"], "collector")
        guard let start = Timestamp.parse(try string(root["window_start"], "window_start")),
              let end = Timestamp.parse(try string(root["window_end"], "window_end")) else { throw fail("window") }
        (windowStart, windowEnd) = (start, end)
        segmentMinutes = Int(try integer(root["segment_minutes"], "segment_minutes"))
        part = Int(try integer(root["part"], "part"))
        files = try (root["files"]?.array ?? []).map { f in
            DataFile(name: try string(f["name"], "files.name"), bytes: try integer(f["bytes"], "files.bytes"),
                     sha256: try string(f["sha256"], "files.sha256"), md5: try string(f["md5"], "files.md5"),
                     rows: Int(try integer(f["rows"], "files.rows")))
        }
        guard !files.isEmpty else { throw fail("files") }
        guard case .object(let kinds)? = root["rows_by_kind"] else { throw fail("rows_by_kind") }
        rowsByKind = try kinds.reduce(into: [:]) { $0[$1.key] = Int(try integer($1.value, "rows_by_kind")) }
        sources = try (root["sources"]?.array ?? []).map { s in
            Source(name: try string(s["name"], "sources.name"), bytes: try integer(s["bytes"], "sources.bytes"),
                   sha256: try string(s["sha256"], "sources.sha256"), rows: Int(try integer(s["rows"], "sources.rows")),
                   offset: try integer(s["offset"], "sources.offset"))
        }
        quarantined = try (root["quarantined"]?.array ?? []).map { q in
            Quarantined(name: try string(q["name"], "quarantined.name"), bytes: try integer(q["bytes"], "quarantined.bytes"),
                        sha256: try string(q["sha256"], "quarantined.sha256"), reason: try string(q["reason"], "quarantined.reason"),
                        rowsSalvaged: Int(try integer(q["rows_salvaged"], "quarantined.rows_salvaged")),
                        offset: q["offset"] == .null ? nil : try integer(q["offset"], "quarantined.offset"))
        }
    }
}
