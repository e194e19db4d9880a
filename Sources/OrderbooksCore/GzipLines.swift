/// Reads a gzip JSON Lines file in chunks: hashes its bytes as stored, inflates them and hands
/// each line on. Memory stays at a chunk plus the longest line, however large the file.
public enum GzipLines {
    public struct Result: Sendable {
        public var bytes: Int64
        public var sha256: String
        /// nil unless asked for.
        public var md5: String?
        /// Why inflating stopped early (corrupt or truncated data); the lines before it were read.
        public var gzipError: GzipError?
        /// Text after the last newline: a line that lacks its terminator (empty when none).
        public var unterminated: [UInt8]
        /// Why reading stopped early (the file could not be opened or read); the size and
        /// digests are then those of the bytes read.
        public var readError: FileError?
    }

    static let chunkSize = 256 * 1024

    public static func read(_ path: String, md5: Bool = false, line: ([UInt8]) -> Void) -> Result {
        let digests = FileDigests(md5: md5)
        let inflater = GzipInflater()
        var splitter = LineSplitter()
        var gzipError: GzipError? = nil
        var readError: FileError? = nil
        do throws(FileError) {
            try DurableFile.forEachChunk(path, size: chunkSize) { piece in
                digests.update(piece)
                guard gzipError == nil else { return nil }
                do throws(GzipError) {
                    try inflater.feed(piece) { splitter.feed($0, line) }
                } catch {
                    gzipError = error
                }
                return nil
            }
        } catch {
            readError = error
        }
        if gzipError == nil && readError == nil {
            do throws(GzipError) { try inflater.finish() } catch { gzipError = error }
        }
        let (sha256, md5) = digests.finish()
        return Result(bytes: digests.byteCount, sha256: sha256, md5: md5, gzipError: gzipError, unterminated: splitter.remainder,
                      readError: readError)
    }
}
