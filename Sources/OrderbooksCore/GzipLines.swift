/// Reads a gzip JSON Lines file in chunks: hashes its bytes as stored, inflates them and hands
/// each line on. Memory stays at a chunk plus the longest line, however large the file: a line
/// longer than `LineSplitter.maxLineBytes` (or more text than `maxInflatedBytes`, or more lines
/// than `maxLines`) stops the reading of lines there, as the first gzip error does; the file is
/// still hashed to its end.
public enum GzipLines {
    public struct Result: Sendable {
        public var bytes: Int64
        public var sha256: String
        /// nil unless asked for.
        public var md5: String?
        /// Why inflating stopped early (corrupt or truncated data); the lines before it were read.
        public var gzipError: GzipError?
        /// Why lines stopped early although the gzip data may be sound (a line too long, too much
        /// text); the lines before it were read.
        public var limitExceeded: String?
        /// Text after the last newline: a line that lacks its terminator (empty when none).
        public var unterminated: [UInt8]
        /// Why reading stopped early (the file could not be opened or read); the size and
        /// digests are then those of the bytes read.
        public var readError: FileError?
    }

    package static let chunkSize = 256 * 1024

    public static func read(_ path: String, md5: Bool = false, maxFileBytes: Int64 = .max, maxInflatedBytes: Int64 = .max,
                            maxLines: Int = .max, line: ([UInt8]) -> Void) -> Result {
        let digests = FileDigests(md5: md5)
        let inflater = GzipInflater()
        var splitter = LineSplitter(maxLines: maxLines)
        var inflated: Int64 = 0
        var gzipError: GzipError? = nil
        var limitExceeded: String? = nil
        var readError: FileError? = nil
        do throws(FileError) {
            try DurableFile.forEachChunk(path, size: chunkSize, maxBytes: maxFileBytes) { piece in
                digests.update(piece)
                guard gzipError == nil, limitExceeded == nil else { return nil }
                do throws(GzipError) {
                    try inflater.feed(piece) { text in
                        guard limitExceeded == nil else { return false }
                        inflated += Int64(text.count)
                        guard inflated <= maxInflatedBytes else {
                            limitExceeded = "more than \(maxInflatedBytes) bytes of text"
                            return false
                        }
                        splitter.feed(text, line)
                        if splitter.overlong { limitExceeded = "line \(splitter.lines + 1) is longer than \(LineSplitter.maxLineBytes) bytes" }
                        if splitter.tooMany { limitExceeded = "more than \(maxLines) lines" }
                        return limitExceeded == nil
                    }
                } catch {
                    gzipError = error
                }
                return nil
            }
        } catch {
            readError = error
        }
        if gzipError == nil && readError == nil && limitExceeded == nil {
            do throws(GzipError) { try inflater.finish() } catch { gzipError = error }
        }
        let (sha256, md5) = digests.finish()
        return Result(bytes: digests.byteCount, sha256: sha256, md5: md5, gzipError: gzipError, limitExceeded: limitExceeded,
                      unterminated: limitExceeded == nil ? splitter.remainder : [], readError: readError)
    }
}
