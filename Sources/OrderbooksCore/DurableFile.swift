import Glibc

public struct FileError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var code: Int32

    public init(_ operation: String, _ path: String, code: Int32 = errno) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    public var description: String { "cannot \(operation) \(path): \(String(cString: strerror(code)))" }

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
    public static func create(_ bytes: [UInt8], at path: String, temporaryDirectory: String) throws(FileError) {
        try publish(try writeTemporary(bytes, for: path, in: temporaryDirectory), at: path)
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
    /// the discovery cache.
    public static func replace(_ bytes: [UInt8], at path: String, temporaryDirectory: String) throws(FileError) {
        let temp = try writeTemporary(bytes, for: path, in: temporaryDirectory)
        guard rename(temp, path) == 0 else {
            let error = FileError("rename into", path)
            unlink(temp)
            throw error
        }
        try syncDirectory(of: path)
    }

    /// Reads a whole file, or nil when it does not exist.
    public static func read(_ path: String) throws(FileError) -> [UInt8]? {
        var result: [UInt8] = []
        do throws(FileError) {
            try forEachChunk(path, size: 64 * 1024) { chunk in
                result.append(contentsOf: chunk)
                return nil
            }
        } catch {
            if error.code == ENOENT && error.operation == "open" { return nil }
            throw error
        }
        return result
    }

    /// Hands a file to `body` in chunks of `size` bytes (the last may be shorter), so files of any
    /// size are read in bounded memory. `body` may stop the read by returning an error.
    public static func forEachChunk(_ path: String, size: Int, dropCache: Bool = false,
                                    _ body: (UnsafeRawBufferPointer) -> FileError?) throws(FileError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError("open", path) }
        defer { close(fd) }
        if dropCache { _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) }
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        var chunk = [UInt8](repeating: 0, count: size)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError("read", path)
            }
            if n == 0 { return }
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

    private static func writeTemporary(_ bytes: [UInt8], for path: String, in directory: String) throws(FileError) -> String {
        let (fd, temp) = try openTemporary(for: path, in: directory)
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
        let base = path.split(separator: "/").last.map(String.init) ?? "file"
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
