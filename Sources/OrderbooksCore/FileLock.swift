import Glibc

/// An exclusive `flock(2)` on a file, held while the object lives; a kill releases it too.
public final class FileLock {
    private let fd: Int32

    /// Takes the lock; without `wait`, nil at once when another process holds it.
    public init?(exclusive path: String, wait: Bool) throws(FileError) {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw FileError("open lock file", path) }
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
