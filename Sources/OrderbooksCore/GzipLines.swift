import Glibc

/// Reads a gzip JSON Lines file in chunks: hashes its bytes as stored, inflates them and hands
/// each line on. Memory stays at a chunk plus the longest line, however large the file.
public enum GzipLines {
    public struct Result: Sendable {
        public var bytes: Int64
        public var sha256: String
        public var md5: String
        /// Why inflating stopped early (corrupt or truncated data); the lines before it were read.
        public var gzipError: GzipError?
        /// Text after the last newline: a line that lacks its terminator (empty when none).
        public var unterminated: [UInt8]
    }

    static let chunkSize = 256 * 1024

    /// `dropCache` first evicts the file's cached pages, so a check of what was just written
    /// reads the disk rather than the page cache.
    public static func read(_ path: String, dropCache: Bool = false, line: ([UInt8]) -> Void) throws(FileError) -> Result {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError("open", path) }
        defer { close(fd) }
        if dropCache { _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) }
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        let digests = FileDigests()
        let inflater = GzipInflater()
        var splitter = LineSplitter()
        var gzipError: GzipError? = nil
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError("read", path)
            }
            if n == 0 { break }
            chunk.withUnsafeBytes { buffer in
                let piece = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                digests.update(piece)
                guard gzipError == nil else { return }
                do throws(GzipError) {
                    try inflater.feed(piece) { splitter.feed($0, line) }
                } catch {
                    gzipError = error
                }
            }
        }
        if gzipError == nil {
            do throws(GzipError) { try inflater.finish() } catch { gzipError = error }
        }
        let (sha256, md5) = digests.finish()
        return Result(bytes: digests.byteCount, sha256: sha256, md5: md5, gzipError: gzipError, unterminated: splitter.remainder)
    }
}

/// A segment being written: appended to under a temporary name in `tmp/`, hashed on the way,
/// given its final name only once complete and fsynced.
final class SegmentWriter {
    private let fd: Int32
    private let temporaryPath: String
    private let digests = FileDigests()
    private var open = true

    init(for path: String, temporaryDirectory: String) throws(FileError) {
        (fd, temporaryPath) = try DurableFile.openTemporary(for: path, in: temporaryDirectory)
    }

    deinit { abandon() }

    /// Bytes written so far: the offset of the next append.
    var offset: Int64 { digests.byteCount }

    func append(_ bytes: UnsafeRawBufferPointer) -> FileError? {
        if let error = DurableFile.writeAll(fd, bytes, path: temporaryPath) { return error }
        digests.update(bytes)
        return nil
    }

    /// fsyncs the segment and publishes it at `path` (never replacing a file).
    func publish(at path: String) throws(FileError) -> (bytes: Int64, sha256: String, md5: String) {
        open = false
        try DurableFile.finishTemporary(fd, temporaryPath)
        try DurableFile.publish(temporaryPath, at: path)
        let (sha256, md5) = digests.finish()
        return (digests.byteCount, sha256, md5)
    }

    /// Drops an unfinished segment.
    func abandon() {
        guard open else { return }
        open = false
        close(fd)
        unlink(temporaryPath)
    }
}
