import Glibc
import Subprocess
import SystemPackage
import Testing
@testable import OrderbooksCore

/// A helper process that lives while a test goes on (an rclone server, the fault proxy):
/// started in the background, ready once it prints a line the caller recognises, stopped
/// through Subprocess (its pidfd: never another process that got its pid). Its output is read
/// to the end so it never blocks on a full pipe.
actor Daemon {
    private var running: (pid: pid_t, signals: AsyncStream<Signal>.Continuation, task: Task<Void, Never>)?

    var pid: pid_t? { running?.pid }

    /// Starts `program` and returns what `ready` makes of the first output line it accepts.
    func start<T: Sendable>(_ program: String, _ arguments: [String], ready: @escaping @Sendable (String) -> T?) async throws -> T {
        await stop()
        let (lines, sink) = AsyncStream<String>.makeStream()
        let (pids, pidSink) = AsyncStream<pid_t>.makeStream()
        let (signals, signalSink) = AsyncStream<Signal>.makeStream()
        let environment = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/tmp", "LANG=C.UTF-8"]
        let task = Task {
            do {
                _ = try await Subprocess.run(.path(FilePath(program)), arguments: Arguments(arguments),
                                             environment: .custom(environment.map { Array($0.utf8) + [0] }),
                                             input: .none, output: .sequence, error: .combinedWithOutput) { execution in
                    pidSink.yield(execution.processIdentifier.value)
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { for await signal in signals { try? execution.send(signal: signal) } }
                        for try await line in execution.standardOutput.strings() { sink.yield(line) }
                        group.cancelAll()
                    }
                }
            } catch {
                sink.yield("\(program): \(error)")
            }
            pidSink.finish()
            sink.finish()
        }
        var pidIterator = pids.makeAsyncIterator()
        var said: [String] = []
        if let pid = await pidIterator.next() {
            running = (pid, signalSink, task)
            for await line in lines {
                if let value = ready(line) { return value }
                said.append(line)
            }
            running = nil
        } else {
            for await line in lines { said.append(line) }
        }
        throw TestFailure("\(program) \(arguments.joined(separator: " ")) ended before it was ready:\n\(said.joined(separator: "\n"))")
    }

    /// Sends `signal` and waits until the process has gone.
    func stop(_ signal: Signal = .terminate) async {
        guard let running else { return }
        self.running = nil
        running.signals.yield(signal)
        await running.task.value
    }
}

/// How ship's rclone reaches a remote: its name and the `RCLONE_CONFIG_<NAME>_*` variables that
/// define it, no config file involved (rclone.md §2.4, §6).
struct Remote: Sendable {
    var name: String
    var environment: [String: String]

    /// The remote path ship is given: a directory under the served root, as on a real account.
    var root: String { name + ":archive" }

    /// One transfer at a time: `rclone serve webdav` locks a directory while it creates it and
    /// answers a concurrent MKCOL of the same day directory `423 Locked`, which Debian's rclone
    /// 1.60 does not retry (Drive has no such lock).
    static func webdav(_ name: String, url: String) -> Remote {
        let prefix = "RCLONE_CONFIG_\(name.uppercased())_"
        return Remote(name: name, environment: [prefix + "TYPE": "webdav", prefix + "URL": url, prefix + "VENDOR": "other",
                                                "RCLONE_TRANSFERS": "1"])
    }
}

/// `rclone serve sftp|webdav` of a directory on 127.0.0.1 (rclone.md §3.1, §6), run with
/// `--dir-cache-time 0s` so that files changed behind its back are served as they are now.
/// It comes back on the port it had, like a remote after an outage.
actor RcloneServer {
    enum Kind: String, Sendable { case sftp, webdav }

    static let user = "ship"
    static let password = "loopback-secret"

    nonisolated let kind: Kind
    nonisolated let name: String
    nonisolated let directory: String
    private nonisolated let cache: String
    private let daemon = Daemon()
    private var port = 0
    private var tmpfsSize: String?

    init(_ kind: Kind, name: String, directory: String, cache: String) {
        (self.kind, self.name, self.directory, self.cache) = (kind, name, directory, cache)
    }

    /// Starts serving; with `tmpfsSize`, a tmpfs of that size mounted over the directory in a
    /// mount namespace of the server's own: a remote whose disk is full.
    func start(tmpfsSize: String? = nil) async throws {
        self.tmpfsSize = tmpfsSize
        try DurableFile.makeDirectories(directory)
        try DurableFile.makeDirectories(cache)
        var serve = ["serve", kind.rawValue, directory, "--addr", "127.0.0.1:\(port)", "--config", "/dev/null",
                     "--cache-dir", cache, "--dir-cache-time", "0s"]
        if kind == .sftp { serve += ["--user", Self.user, "--pass", Self.password, "--authorized-keys", "/dev/null"] }
        let marker = kind == .sftp ? "SFTP server listening on 127.0.0.1:" : "Server started on http://127.0.0.1:"
        let (program, arguments) = tmpfsSize.map { size in
            ("/usr/bin/unshare", ["--mount", "--map-root-user", "--propagation", "private", "/bin/sh", "-c",
                                  #"mount -t tmpfs -o size=\#(size) tmpfs "$0" && exec rclone "$@""#, directory] + serve)
        } ?? ("/usr/bin/rclone", serve)
        port = try await daemon.start(program, arguments) { line in
            line.firstRange(of: marker).flatMap { Int(line[$0.upperBound...].prefix { $0.isNumber }) }
        }
    }

    /// Stops the server: `.terminate` shuts it down, `.kill` cuts transfers in flight.
    func stop(_ signal: Signal = .terminate) async { await daemon.stop(signal) }

    /// Where a path under the served directory is, seen from here (through /proc when the
    /// server has a mount namespace of its own).
    func served(_ relative: String) async -> String {
        let root = tmpfsSize == nil ? directory : "/proc/\(await daemon.pid ?? 0)/root" + directory
        return relative.isEmpty ? root : root + "/" + relative
    }

    /// The client remote for this server; `password` other than the server's makes logins fail.
    func remote(password: String = RcloneServer.password) async throws -> Remote {
        switch kind {
        case .webdav:
            return .webdav(name, url: "http://127.0.0.1:\(port)/")
        case .sftp:
            let obscured = try await run("/usr/bin/rclone", ["obscure", password]).stdout.trimmingWhitespace
            let prefix = "RCLONE_CONFIG_\(name.uppercased())_"
            // Pinned: rclone 1.60 otherwise probes the shell on every run and races its own
            // checkers into "hash unsupported" (rclone.md §3.2).
            return Remote(name: name, environment: [
                prefix + "TYPE": "sftp", prefix + "HOST": "127.0.0.1", prefix + "PORT": String(port), prefix + "USER": Self.user,
                prefix + "PASS": obscured, prefix + "SHELL_TYPE": "unix", prefix + "MD5SUM_COMMAND": "md5sum",
                prefix + "SHA1SUM_COMMAND": "sha1sum",
            ])
        }
    }
}

/// Tests/FakeRemote/fault_proxy.py in front of a webdav server, its control file in
/// `directory`: faults set by `set(_:)` apply from the next request on.
actor FaultProxy {
    static let script = Paths.packageRoot + "/Tests/FakeRemote/fault_proxy.py"

    nonisolated let name: String
    private nonisolated let directory: String
    private let daemon = Daemon()
    private var url = ""

    init(name: String, directory: String) { (self.name, self.directory) = (name, directory) }

    private var control: String { directory + "/fault.json" }

    func start(upstream: Remote) async throws {
        try DurableFile.makeDirectories(directory)
        let target = upstream.environment["RCLONE_CONFIG_\(upstream.name.uppercased())_URL"] ?? ""
        url = try await daemon.start("/usr/bin/python3", [Self.script, "--upstream", target, "--control", control]) { line in
            (try? JSON.parse(line))?["url"]?.string
        }
    }

    func stop() async { await daemon.stop() }

    var remote: Remote { .webdav(name, url: url) }

    /// Replaces the fault, e.g. `#"{"mode":"fail_puts","status":507}"#`; `{}` clears it. The
    /// file is renamed into place so the proxy never reads half of it.
    func set(_ fault: String) throws {
        try DurableFile.replace(Array(fault.utf8), at: control, temporaryDirectory: directory)
    }
}
