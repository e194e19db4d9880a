/// Re-reads a sealed part against its manifest: gzip integrity, every line a JSON row, and
/// bytes, SHA-256, MD5, rows and rows by kind as the manifest says. `seal` runs it on every part
/// it writes before deleting any input; `seal verify` runs it on demand.
public enum SegmentCheck {
    /// The problems found; empty when the part is intact.
    public static func problems(segmentPath: String, manifest: Manifest, dropCache: Bool) -> [String] {
        guard let expected = manifest.files.first else { return ["the manifest names no data file"] }
        var rows = 0
        var kinds: [String: Int] = [:]
        var badLines: [String] = []
        var lineNumber = 0
        func take(_ line: [UInt8]) {
            lineNumber += 1
            switch RowFields.read(line) {
            case .success(let row):
                rows += 1
                kinds[row.kind, default: 0] += 1
            case .failure(let problem):
                badLines.append("line \(lineNumber) is \(problem)")
            }
        }
        let result: GzipLines.Result
        do {
            result = try GzipLines.read(segmentPath, dropCache: dropCache, line: take)
        } catch {
            return ["\(error)"]
        }
        var problems: [String] = []
        if let error = result.gzipError { problems.append("gzip: \(error)") }
        if !result.unterminated.isEmpty { problems.append("the last line has no newline") }
        if !badLines.isEmpty { problems.append(badLines.prefix(3).joined(separator: "; ") + (badLines.count > 3 ? "; \(badLines.count) bad lines" : "")) }
        if result.bytes != expected.bytes { problems.append("size \(result.bytes) bytes, manifest says \(expected.bytes)") }
        if result.sha256 != expected.sha256 { problems.append("sha256 \(result.sha256), manifest says \(expected.sha256)") }
        if result.md5 != expected.md5 { problems.append("md5 \(result.md5), manifest says \(expected.md5)") }
        if rows != expected.rows { problems.append("\(rows) rows, manifest says \(expected.rows)") }
        let listed = manifest.rowsByKind.filter { $0.value != 0 }
        if kinds != listed {
            problems.append("rows by kind \(kinds.sorted { $0.key < $1.key }), manifest says \(listed.sorted { $0.key < $1.key })")
        }
        return problems
    }
}
