import Glibc

public struct FileError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var code: Int32
    /// Said instead of the system's words for `code` (`not a regular file (a FIFO)`).
    public var detail: String?

    public init(_ operation: String, _ path: String, code: Int32 = errno, detail: String? = nil) {
        self.operation = operation
        self.path = path
        self.code = code
        self.detail = detail
    }

    public var description: String { "cannot \(operation) \(path): \(detail ?? String(cString: strerror(code)))" }

    /// ENOSPC and EDQUOT: the disk or the quota is full.
    public var isDiskFull: Bool { code == ENOSPC || code == EDQUOT }
}

/// Publishing files so that a reader, a crash or a kill never sees one half-written under its
/// final name: write a temporary file, fsync it, give it its final name, fsync the directory.
public enum DurableFile {
    /// Suffix of in-flight files. A complete file never carries it.
    public static let temporarySuffix = ".part"

    /// Publishes a new file at `path`. Fails if `path` exists: `link(2)` never replaces a name,
    /// so no finished file is ever overwritten or reopened.
    public static func create(_ bytes: [UInt8], at path: String, temporaryDirectory: String, readableByAll: Bool = false) throws(FileError) {
        try publish(try writeTemporary(bytes, for: path, in: temporaryDirectory, readableByAll: readableByAll), at: path)
    }

    /// Gives the finished temporary file `temp` its final name `path` (never replacing one) and
    /// makes the name durable. The temporary name is gone afterwards, whatever happens.
    public static func publish(_ temp: String, at path: String) throws(FileError) {
        guard link(temp, path) == 0 else {
            let error = FileError("publish", path)
            unlink(temp)
            throw error
        }
        unlink(temp)
        try syncDirectory(of: path)
    }

    /// Atomically replaces the file at `path` (or creates it): for state the tools own, such as
    /// the discovery cache. `readableByAll` makes it 0644 whatever the umask (a textfile that
    /// another service's user reads); files are 0640 otherwise.
    public static func replace(_ bytes: [UInt8], at path: String, temporaryDirectory: String, readableByAll: Bool = false) throws(FileError) {
        let temp = try writeTemporary(bytes, for: path, in: temporaryDirectory, readableByAll: readableByAll)
        guard rename(temp, path) == 0 else {
            let error = FileError("rename into", path)
            unlink(temp)
            throw error
        }
        try syncDirectory(of: path)
    }

    /// The most `read` takes unless told otherwise: room for the largest manifest (a day's
    /// window at one snapshot a second lists 86,400 sources, some 20 MB).
    public static let defaultReadLimit = 64 << 20
    /// For the small state files (`state/backoff.json`, `cache/discovery.json`), parsed whole.
    public static let stateFileLimit = 1 << 20

    /// Reads a whole file, or nil when it does not exist. A file larger than `maxBytes` is an
    /// error (EFBIG), never read into memory.
    public static func read(_ path: String, maxBytes: Int = defaultReadLimit) throws(FileError) -> [UInt8]? {
        var result: [UInt8] = []
        do throws(FileError) {
            try forEachChunk(path, size: 64 * 1024, maxBytes: Int64(maxBytes)) { chunk in
                result.append(contentsOf: chunk)
                return nil
            }
        } catch {
            if error.code == ENOENT && error.operation == "open" { return nil }
            throw error
        }
        return result
    }

    /// The first `bytes` bytes of a regular file (all of it when shorter), or nil when it does
    /// not exist: for a reader that wants only the top of a large file.
    public static func readPrefix(_ path: String, bytes: Int) throws(FileError) -> [UInt8]? {
        let opened: (fd: Int32, size: Int64)
        do { opened = try openRegularFile(path) } catch {
            if error.code == ENOENT { return nil }
            throw error
        }
        defer { close(opened.fd) }
        let wanted = Int(min(Int64(bytes), opened.size))
        var buffer = [UInt8](repeating: 0, count: wanted)
        var filled = 0
        while filled < wanted {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(opened.fd, $0.baseAddress! + filled, wanted - filled) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw FileError("read", path) }
            if n == 0 { break }
            filled += n
        }
        return Array(buffer[0..<filled])
    }

    /// Opens a regular file for reading, and nothing else. Anything in the data directory may
    /// have been put there by hand, so a symbolic link is never followed (it may point at
    /// /dev/zero or out of the tree), the open never blocks (a FIFO would wait for a writer
    /// forever), and a FIFO, device, socket or directory is refused once open. `followLinks` is
    /// for paths an operator names (a CA file), which are often links.
    public static func openRegularFile(_ path: String, followLinks: Bool = false) throws(FileError) -> (fd: Int32, size: Int64) {
        let fd = open(path, O_RDONLY | (followLinks ? 0 : O_NOFOLLOW) | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else {
            let code = errno
            throw FileError("open", path, code: code, detail: code == ELOOP ? "a symbolic link (never followed)" : nil)
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let error = FileError("open", path)
            close(fd)
            throw error
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw FileError("open", path, code: EINVAL, detail: "not a regular file (\(fileType(info.st_mode)))")
        }
        // Back to blocking reads, as for any regular file (O_NONBLOCK was only for the open).
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return (fd, Int64(info.st_size))
    }

    /// What kind of file a mode says, in words, for messages.
    public static func fileType(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: "a regular file"
        case S_IFDIR: "a directory"
        case S_IFLNK: "a symbolic link"
        case S_IFIFO: "a FIFO"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        default: "an unknown file type"
        }
    }

    /// Hands a regular file (see `openRegularFile`) to `body` in chunks of `size` bytes (the last
    /// may be shorter), so files of any size are read in bounded memory. `body` may stop the
    /// read by returning an error. A file larger than `maxBytes` fails with EFBIG.
    public static func forEachChunk(_ path: String, size: Int, dropCache: Bool = false, maxBytes: Int64 = .max,
                                    _ body: (UnsafeRawBufferPointer) -> FileError?) throws(FileError) {
        let (fd, fileSize) = try openRegularFile(path)
        defer { close(fd) }
        let tooLarge = FileError("read", path, code: EFBIG, detail: "larger than \(maxBytes) bytes")
        guard fileSize <= maxBytes else { throw tooLarge }
        var total: Int64 = 0
        if dropCache { _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) }
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        // No larger than the file needs (plus one byte to see its end): reading many small
        // files (receipts, snapshots) must not zero a large buffer for each.
        var chunk = [UInt8](repeating: 0, count: Int(min(Int64(size), max(4096, fileSize + 1))))
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError("read", path)
            }
            if n == 0 { return }
            // The size can change under the reader (a file still growing).
            total += Int64(n)
            guard total <= maxBytes else { throw tooLarge }
            if let error = chunk.withUnsafeBytes({ body(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }) { throw error }
        }
    }

    /// Creates `path` and its missing parents with the given mode. Each new directory's entry is
    /// fsynced in its parent, so files published inside it survive a power cut with it.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o750) throws(FileError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, mode) == 0 {
                try syncDirectory(of: prefix)
            } else if errno != EEXIST {
                throw FileError("create directory", prefix)
            }
        }
        var info = stat()
        guard stat(path, &info) == 0 else { throw FileError("create directory", path) }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw FileError("use as a directory", path, code: ENOTDIR) }
    }

    private static func writeTemporary(_ bytes: [UInt8], for path: String, in directory: String, readableByAll: Bool = false) throws(FileError) -> String {
        let (fd, temp) = try openTemporary(for: path, in: directory)
        if readableByAll && fchmod(fd, 0o644) != 0 {
            let error = FileError("chmod", temp)
            close(fd)
            unlink(temp)
            throw error
        }
        if let error = bytes.withUnsafeBytes({ buffer in writeAll(fd, buffer, path: temp) }) {
            close(fd)
            unlink(temp)
            throw error
        }
        try finishTemporary(fd, temp)
        return temp
    }

    /// A new temporary file in `directory` for what will be `path`, open for writing.
    public static func openTemporary(for path: String, in directory: String) throws(FileError) -> (fd: Int32, path: String) {
        // Cut so that the suffixes never push a name past NAME_MAX (255 bytes): a long but valid
        // final name must not make its temporary name impossible.
        var base = Substring(path.split(separator: "/").last ?? "file")
        while base.utf8.count > 160 { base = base.dropLast() }
        let temp = "\(directory)/\(base).\(getpid()).\(UInt32.random(in: 0...UInt32.max))\(temporarySuffix)"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw FileError("create", temp) }
        return (fd, temp)
    }

    /// Writes all of `buffer`; returns the error instead of throwing it, so it can be called
    /// inside `withUnsafeBytes`, which only rethrows untyped errors.
    public static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) -> FileError? {
        var offset = 0
        while offset < buffer.count {
            let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return FileError("write", path)
            }
            offset += n
        }
        return nil
    }

    /// fsyncs and closes a temporary file; on failure it is removed.
    public static func finishTemporary(_ fd: Int32, _ temp: String) throws(FileError) {
        var failure: FileError? = nil
        if fsync(fd) != 0 { failure = FileError("fsync", temp) }
        if close(fd) != 0, failure == nil { failure = FileError("close", temp) }
        if let failure {
            unlink(temp)
            throw failure
        }
    }

    /// fsyncs the directory holding `path`, so a new, renamed or removed name in it is durable.
    public static func syncDirectory(of path: String) throws(FileError) {
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        try syncDirectory(directory.isEmpty ? (path.hasPrefix("/") ? "/" : ".") : directory)
    }

    public static func syncDirectory(_ dir: String) throws(FileError) {
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError("open directory", dir) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw FileError("fsync directory", dir) }
    }
}
