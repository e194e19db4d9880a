import Glibc

/// One line per event on stderr. Under systemd, lines carry sd-daemon priority prefixes
/// (`<3>`, `<4>`, `<6>`) so journald files them as error, warning or info.
public struct Log: Sendable {
    public enum Level: Int32, Sendable {
        case error = 3, warning = 4, info = 6
    }

    let prefixesPriority: Bool

    public init(environment: [String: String]) {
        prefixesPriority = Log.stderrIsJournal(environment["JOURNAL_STREAM"])
    }

    public func callAsFunction(_ level: Level, _ message: String) {
        let line = (prefixesPriority ? "<\(level.rawValue)>" : "") + message + "\n"
        var bytes = Array(line.utf8)
        // One write(2) per line keeps lines whole when several processes share the stream.
        bytes.withUnsafeMutableBytes { _ = write(2, $0.baseAddress, $0.count) }
    }

    /// systemd sets JOURNAL_STREAM to `device:inode` of the stream it connected; it only counts
    /// if stderr is still that stream (not redirected by a wrapper).
    static func stderrIsJournal(_ value: String?) -> Bool {
        guard let parts = value?.split(separator: ":"), parts.count == 2,
              let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(2, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }
}
