import Glibc

/// An exclusive `flock(2)` on a file, held while the object lives; a kill releases it too.
public final class FileLock {
    private let fd: Int32

    /// Takes the lock; without `wait`, nil at once when another process holds it.
    public init?(exclusive path: String, wait: Bool) throws(FileError) {
        // Never through a link (it could create or lock a file out of the tree), never a blocking
        // open, and only a regular file: a FIFO or a device there is refused, not waited on.
        let opened = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0o640)
        guard opened >= 0 else { throw FileError("open lock file", path) }
        var info = stat()
        guard fstat(opened, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(opened)
            throw FileError("open lock file", path, code: EINVAL, detail: "not a regular file (\(DurableFile.fileType(info.st_mode))): remove it")
        }
        fd = opened
        while flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { return nil }
            throw FileError("lock", path, code: code)
        }
    }

    deinit { close(fd) }
}
