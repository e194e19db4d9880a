import Glibc
import OrderbooksCore

/// One spool file on its way into a segment. An intact file (valid gzip, every line a row,
/// ending with its `run` row) is copied into the segment byte for byte, as one gzip member; a
/// damaged one has its readable rows salvaged and goes to quarantine.
struct SpoolSource {
    /// The largest spool file seal reads (docs/FORMAT.md): a snapshot is some 15 KB, one run's
    /// answers at most a few MB. A larger file is not snap's: quarantined unread.
    static let maxFileBytes: Int64 = 256 << 20
    /// The most text one spool file may inflate to, and the most lines it may hold; reading stops
    /// at either (a gzip bomb: a 2 MB file of newlines is 2 GB of empty lines, some 45 minutes
    /// of reading, past the unit's start timeout). A real snapshot is well under 1,000 rows and
    /// 1 MB of text; one whose every answer is at its body cap, tens of MB. Either cap is far
    /// past that and costs at most a second or so to reach.
    static let maxInflatedBytes: Int64 = 256 << 20
    static let maxLines = 100_000
    /// Salvaged rows are compressed in members of about this much text, never all at once.
    static let salvageMemberBytes = 1 << 20

    let name: String
    let path: String
    let startedAt: Timestamp
    private(set) var bytes: Int64 = 0
    private(set) var sha256 = ""
    /// Readable rows: all of them in an intact file, the salvageable ones in a damaged file.
    private(set) var rows = 0
    /// Why the file cannot be copied whole; nil when intact.
    private(set) var damage: String?

    /// Reads the file once, adding its readable rows to `summary`. A file that cannot be read
    /// (EIO, a directory, no permission) is damaged like a corrupt one: it never blocks its window.
    init(name: String, path: String, startedAt: Timestamp, into summary: inout SegmentSummary) {
        (self.name, self.path, self.startedAt) = (name, path, startedAt)
        summary.beginSource(startedAt: startedAt)
        var lineNumber = 0
        var junk: (line: Int, reason: String)? = nil
        var junkLines = 0
        var lastKind: String? = nil
        var rows = 0
        func take(_ line: [UInt8]) {
            lineNumber += 1
            switch RowFields.read(line) {
            case .success(let row):
                rows += 1
                lastKind = row.kind
                summary.add(row)
            case .failure(let problem):
                if junk == nil { junk = (lineNumber, problem.description) }
                junkLines += 1
            }
        }
        let result = read(take)
        let unterminated = !result.unterminated.isEmpty
        if unterminated { take(result.unterminated) }
        summary.endSource()
        (bytes, sha256, self.rows) = (result.bytes, result.sha256, rows)
        if let error = result.readError {
            damage = "\(error) (after \(result.bytes) bytes)"
        } else if let error = result.gzipError {
            damage = "\(error) (\(result.bytes) bytes)"
        } else if let limit = result.limitExceeded {
            damage = limit + "; rows after it are not read"
        } else if let junk {
            damage = "line \(junk.line) is \(junk.reason)" + (junkLines > 1 ? "; \(junkLines) such lines" : "")
        } else if unterminated {
            damage = "the last line has no newline"
        } else if lastKind != "run" {
            damage = lineNumber == 0 ? "no rows" : "no closing run row"
        }
    }

    private func read(_ line: ([UInt8]) -> Void) -> GzipLines.Result {
        GzipLines.read(path, maxFileBytes: Self.maxFileBytes, maxInflatedBytes: Self.maxInflatedBytes, maxLines: Self.maxLines, line: line)
    }

    /// Reads a damaged file again and appends its readable rows, each with its newline, to the
    /// segment as gzip members of their own (damage is rare, so intact files are never held in
    /// memory for it); returns how many. The rows go in pieces, so memory stays bounded however
    /// many there are.
    func salvage(into writer: SegmentWriter) throws(FileError) -> Int {
        var text: [UInt8] = []
        var rows = 0
        var failure: FileError? = nil
        func flush() {
            guard !text.isEmpty, failure == nil else { return }
            do throws(FileError) { try writer.appendMember(text, of: name) } catch { failure = error }
            text = []
        }
        func keep(_ line: [UInt8]) {
            guard failure == nil, case .success = RowFields.read(line) else { return }
            if text.count + line.count >= Self.salvageMemberBytes { flush() }
            text.append(contentsOf: line)
            text.append(0x0A)
            rows += 1
        }
        let result = read(keep)
        if !result.unterminated.isEmpty { keep(result.unterminated) }
        flush()
        if let failure { throw failure }
        return rows
    }

    /// Copies an intact file into the segment. Throws if its bytes are not the ones scanned.
    func copy(to writer: SegmentWriter) throws(FileError) {
        let digests = FileDigests(md5: false)
        try DurableFile.forEachChunk(path, size: GzipLines.chunkSize, maxBytes: Self.maxFileBytes) { piece in
            digests.update(piece)
            return writer.append(piece)
        }
        guard digests.finish().sha256 == sha256 else { throw FileError("copy unchanged", path, code: ESTALE) }
    }
}
