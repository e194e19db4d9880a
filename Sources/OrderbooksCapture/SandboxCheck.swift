import Glibc
import OrderbooksCore

/// `snap --check-sandbox`: applies the sandbox exactly as a run does (same data directory, same CA
/// file, same setting), then tries what it must deny and what it must still allow, one line each
/// on stdout. Run it as the service runs (`systemd-run -p User=orderbooks …` or under the unit's
/// settings) to see what this host really enforces. Exit status 0 only when Landlock is applied,
/// every probe that exists is denied, and writing in the data directory still works; 1 otherwise.
public struct SandboxCheck {
    let config: SnapConfiguration
    /// Files whose reading must be denied; the Drive token's place by default.
    let readProbes: [String]

    public static let defaultReadProbes = ["/etc/orderbooks/rclone/rclone.conf"]

    public init(configuration: SnapConfiguration, readProbes: [String]) {
        self.config = configuration
        self.readProbes = readProbes.isEmpty ? Self.defaultReadProbes : readProbes
    }

    public func run() -> Int32 {
        let directory = DataDirectory(root: config.dataDirectory)
        do { try directory.prepare() } catch {
            print("cannot prepare the data directory: \(error)")
            return 1
        }
        let state = Sandbox.apply(writable: [config.dataDirectory], extraReadable: config.http.caFile.map { [$0] } ?? [],
                                  enabled: config.sandbox)
        print("sandbox: \(state)")
        var ok: Bool
        if case .landlock = state { ok = true } else { ok = false }

        let probe = "/.orderbooks-sandbox-check-\(getpid())"
        // Beside the data directory, where a path escaping it (a link, `..`) would land first.
        let resolved = realpath(config.dataDirectory, nil).map { pointer in defer { free(pointer) }; return String(cString: pointer) }
        let parent = (resolved ?? config.dataDirectory).split(separator: "/").dropLast().joined(separator: "/")
        for path in ["/" + parent + probe, "/tmp" + probe, "/var/tmp" + probe] {
            ok = report("write \(path)", mustWork: false, create(path)) && ok
        }
        for path in readProbes {
            ok = report("read \(path)", mustWork: false, errnoOf(open(path, O_RDONLY | O_CLOEXEC))) && ok
        }
        ok = report("write \(directory.temporary + probe)", mustWork: true, create(directory.temporary + probe)) && ok
        return ok ? 0 : 1
    }

    /// 0 if the file could be made (and it is removed again), else errno.
    private func create(_ path: String) -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return errno }
        close(fd)
        unlink(path)
        return 0
    }

    private func errnoOf(_ fd: Int32) -> Int32 {
        guard fd >= 0 else { return errno }
        close(fd)
        return 0
    }

    /// One line; true when the outcome is the one required. A probe whose target is missing
    /// (ENOENT) proves nothing either way and does not fail the check.
    private func report(_ what: String, mustWork: Bool, _ error: Int32) -> Bool {
        let outcome = error == 0 ? "allowed" : error == ENOENT ? "not there" : "denied (\(String(cString: strerror(error))))"
        let good = mustWork ? error == 0 : error != 0
        print("\(what): \(outcome)" + (good ? "" : mustWork ? "  <- must be allowed" : "  <- must be denied"))
        return good
    }
}
