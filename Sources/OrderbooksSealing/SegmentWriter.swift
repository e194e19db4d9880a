import Glibc
import OrderbooksCore

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

    /// Compresses `text` into one gzip member of its own and appends it.
    func appendMember(_ text: [UInt8], of what: String) throws(FileError) {
        let member: [UInt8]
        do { member = try Gzip.compress(text) } catch { throw FileError("compress the rows of", what, code: EIO) }
        if let failure = member.withUnsafeBytes({ append($0) }) { throw failure }
    }

    /// fsyncs the segment and publishes it at `path` (never replacing a file).
    func publish(at path: String) throws(FileError) -> (bytes: Int64, sha256: String, md5: String) {
        open = false
        try DurableFile.finishTemporary(fd, temporaryPath)
        try DurableFile.publish(temporaryPath, at: path)
        let (sha256, md5) = digests.finish()
        return (digests.byteCount, sha256, md5!)
    }

    /// Drops an unfinished segment.
    func abandon() {
        guard open else { return }
        open = false
        close(fd)
        unlink(temporaryPath)
    }
}
