import Glibc
import OrderbooksCore

/// Re-reads a sealed part against its manifest. `seal` checks what it has just written by size,
/// SHA-256 and MD5, read back from the disk: every byte it wrote came from spool files whose
/// every line it had validated, so equal digests mean equal rows. `seal verify` also inflates
/// the segment and reads every row, for damage that happened later or elsewhere.
public enum SegmentCheck {
    /// Size and digests only, read from the disk rather than the page cache. Empty when intact.
    public static func digestProblems(segmentPath: String, expected: Manifest.DataFile) -> [String] {
        if let problem = oversize(segmentPath, expected) { return [problem] }
        do {
            let found = try FileDigests.of(segmentPath, md5: true, dropCache: true)
            return compare(found.bytes, found.sha256, found.md5, expected)
        } catch {
            return ["\(error)"]
        }
    }

    /// Everything: gzip integrity, every line a JSON row, and bytes, SHA-256, MD5, rows and rows
    /// by kind as the manifest says. Empty when intact.
    public static func problems(segmentPath: String, manifest: Manifest) -> [String] {
        guard let expected = manifest.files.first else { return ["the manifest names no data file"] }
        if let problem = oversize(segmentPath, expected) { return [problem] }
        var rows = 0
        var kinds: [String: Int] = [:]
        // The first few bad lines are described and the rest only counted: a segment of
        // millions of bad lines must not cost a string each.
        var badLines: [String] = []
        var badLineCount = 0
        var lineNumber = 0
        func take(_ line: [UInt8]) {
            lineNumber += 1
            switch RowFields.read(line) {
            case .success(let row):
                rows += 1
                kinds[row.kind, default: 0] += 1
            case .failure(let problem):
                badLineCount += 1
                if badLines.count < 3 { badLines.append("line \(lineNumber) is \(problem)") }
            }
        }
        // A segment holds one line per row: a line past the manifest's count is damage found,
        // and reading on would cost time per line for nothing (millions of empty lines).
        let result = GzipLines.read(segmentPath, md5: true, maxLines: expected.rows, line: take)
        if let error = result.readError { return ["\(error)"] }
        var problems: [String] = []
        if let error = result.gzipError { problems.append("gzip: \(error)") }
        if let limit = result.limitExceeded { problems.append(limit + "; the rest is not read") }
        if !result.unterminated.isEmpty { problems.append("the last line has no newline") }
        if !badLines.isEmpty { problems.append(badLines.joined(separator: "; ") + (badLineCount > 3 ? "; \(badLineCount) bad lines" : "")) }
        problems += compare(result.bytes, result.sha256, result.md5, expected)
        // Rows past a limit were not counted: the counts would only mislead.
        guard result.limitExceeded == nil else { return problems }
        if rows != expected.rows { problems.append("\(rows) rows, manifest says \(expected.rows)") }
        let listed = manifest.rowsByKind.filter { $0.value != 0 }
        if kinds != listed {
            problems.append("rows by kind \(kinds.sorted { $0.key < $1.key }), manifest says \(listed.sorted { $0.key < $1.key })")
        }
        return problems
    }

    /// A segment larger than its manifest says fails on its size alone, unread: a huge (or
    /// sparse) file put in its place must not cost a read of all of it.
    private static func oversize(_ path: String, _ expected: Manifest.DataFile) -> String? {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, Int64(info.st_size) > expected.bytes else { return nil }
        return "size \(info.st_size) bytes, manifest says \(expected.bytes)"
    }

    private static func compare(_ bytes: Int64, _ sha256: String, _ md5: String?, _ expected: Manifest.DataFile) -> [String] {
        var problems: [String] = []
        if bytes != expected.bytes { problems.append("size \(bytes) bytes, manifest says \(expected.bytes)") }
        if sha256 != expected.sha256 { problems.append("sha256 \(sha256), manifest says \(expected.sha256)") }
        if md5 != expected.md5 { problems.append("md5 \(md5 ?? "none"), manifest says \(expected.md5)") }
        return problems
    }
}
