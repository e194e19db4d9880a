import Glibc
import OrderbooksCore

/// The rclone process ship is running, noted in `state/ship.rclone` (pid, start time, name)
/// while it runs. A ship killed on its own (a plain SIGKILL, the OOM killer) leaves its rclone
/// running, still sending what it had queued, and it could overwrite a file the next ship has
/// just verified. So the next ship or prune ends that rclone before it looks at the remote.
/// (systemd kills the whole cgroup and cron's `timeout` the whole group; this covers the rest.)
public struct RcloneRecord: Sendable {
    public let path: String
    let temporaryDirectory: String

    public init(path: String, temporaryDirectory: String) {
        (self.path, self.temporaryDirectory) = (path, temporaryDirectory)
    }

    /// `state/ship.rclone`, written through `tmp/`.
    public init(_ directory: DataDirectory) {
        self.init(path: directory.rcloneRecordFile, temporaryDirectory: directory.temporary)
    }

    /// Notes a freshly started rclone (never half-written: a torn record would hide it).
    func note(_ pid: pid_t) {
        guard let identity = Self.identity(of: pid) else { return }
        try? DurableFile.replace(Array("\(pid) \(identity.startTime) \(identity.name)\n".utf8), at: path, temporaryDirectory: temporaryDirectory)
    }

    /// The noted rclone ended normally.
    func clear() { unlink(path) }

    /// Kills the rclone a killed ship left running, if it still runs, and waits (10 s at most)
    /// until it is gone; returns its pid and whether it ended. A pid reused by another process
    /// (another start time) is left alone.
    public func endLeftover() -> (pid: pid_t, ended: Bool)? {
        guard let bytes = try? DurableFile.read(path) else { return nil }
        defer { clear() }
        let fields = String(decoding: bytes, as: UTF8.self).split(separator: " ", maxSplits: 2)
        guard fields.count == 3, let pid = pid_t(fields[0]), pid > 1, let startTime = UInt64(fields[1]),
              let identity = Self.identity(of: pid), !identity.zombie,
              identity.startTime == startTime, identity.name == String(fields[2]).trimmingWhitespace else { return nil }
        kill(pid, SIGKILL)
        for _ in 0..<200 {
            guard let now = Self.identity(of: pid), now.startTime == startTime, !now.zombie else { return (pid, true) }
            usleep(50_000)
        }
        return (pid, false)
    }

    /// From `/proc/<pid>/stat`: the name, whether it is a zombie, and the start time (clock
    /// ticks since boot), which tells a process from a later one given the same pid.
    static func identity(of pid: pid_t) -> (name: String, zombie: Bool, startTime: UInt64)? {
        guard let bytes = try? DurableFile.read("/proc/\(pid)/stat"),
              let left = bytes.firstIndex(of: UInt8(ascii: "(")), let right = bytes.lastIndex(of: UInt8(ascii: ")")), left < right else { return nil }
        let name = String(decoding: bytes[(left + 1)..<right], as: UTF8.self)
        // After the name: state (field 3) ... starttime (field 22).
        let rest = bytes[(right + 1)...].split(separator: UInt8(ascii: " "))
        guard rest.count > 19, let startTime = UInt64(String(decoding: rest[19], as: UTF8.self)) else { return nil }
        return (name, rest[0].first == UInt8(ascii: "Z"), startTime)
    }
}
