import Glibc

/// One spool file on its way into a segment. An intact file (valid gzip, every line a row,
/// ending with its `run` row) is copied into the segment byte for byte, as one gzip member; a
/// damaged one has its readable rows salvaged and goes to quarantine.
struct SpoolSource {
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
        let result = GzipLines.read(path, line: take)
        let unterminated = !result.unterminated.isEmpty
        if unterminated { take(result.unterminated) }
        summary.endSource()
        (bytes, sha256, self.rows) = (result.bytes, result.sha256, rows)
        if let error = result.readError {
            damage = "\(error) (after \(result.bytes) bytes)"
        } else if let error = result.gzipError {
            damage = "\(error) (\(result.bytes) bytes)"
        } else if let junk {
            damage = "line \(junk.line) is \(junk.reason)" + (junkLines > 1 ? "; \(junkLines) such lines" : "")
        } else if unterminated {
            damage = "the last line has no newline"
        } else if lastKind != "run" {
            damage = lineNumber == 0 ? "no rows" : "no closing run row"
        }
    }

    /// The readable rows of a damaged file, each with its newline, read again (damage is rare,
    /// so intact files are never held in memory for it).
    func salvagedRows() -> (text: [UInt8], rows: Int) {
        var text: [UInt8] = []
        var rows = 0
        func keep(_ line: [UInt8]) {
            guard case .success = RowFields.read(line) else { return }
            text.append(contentsOf: line)
            text.append(0x0A)
            rows += 1
        }
        let result = GzipLines.read(path, line: keep)
        if !result.unterminated.isEmpty { keep(result.unterminated) }
        return (text, rows)
    }

    /// Copies an intact file into the segment. Throws if its bytes are not the ones scanned.
    func copy(to writer: SegmentWriter) throws(FileError) {
        let digests = FileDigests(md5: false)
        try DurableFile.forEachChunk(path, size: GzipLines.chunkSize) { piece in
            digests.update(piece)
            return writer.append(piece)
        }
        guard digests.finish().sha256 == sha256 else { throw FileError("copy unchanged", path, code: ESTALE) }
    }
}
