import Glibc
import OrderbooksCore

/// Check 3, the forced restart: checksums of every file; a running snap SIGKILLed and the
/// timers restarted; the next cycle writes valid rows; every earlier file unchanged. The killed
/// run is written down as a failed run naming the gate (a killed process writes nothing itself).
enum RestartCheck {
    static func run(_ c: GateRunConfiguration, gateRun: String, inventory before: FileInventory) async -> CheckResult {
        var check = CheckBuilder("restart", "Forced restart")
        guard c.disrupt else {
            check.skip("--no-disruption")
            return check.finished()
        }
        let disrupting = Disrupting(configuration: c, gateRun: gateRun)
        check.add(.info("before: sha256 of \(before.files.count) files under spool/, sealed/, receipts/, quarantine/ (inventory.json)"))
        guard disrupting.declare("forced restart", seconds: 60, &check) != nil else { return check.finished() }
        let killedAt = Timestamp.now()
        if let killed = await killRunningSnap(c.bin + "/snap", within: 15, directory: disrupting.directory) {
            check.add(.pass("SIGKILLed a running snap: pid \(killed.pid), started \(killed.startedAt.iso8601), \(killed.temporary.map { "mid-write (\($0) in tmp/)" } ?? "before its file was begun")"))
            check.add(record(killed, c: c, gateRun: gateRun))
        } else {
            check.add(.fail("no running snap found to kill within 15 s: is its timer firing?"))
        }
        await check.run(["systemctl", "show", "--property=Result,ExecMainCode,ExecMainStatus", "orderbooks-snap.service"])
        let restart = await check.run(["systemctl", "restart"] + TimerState.units)
        check.expect(restart.succeeded, "timers restarted", else: "systemctl restart failed: \(restart.ending) \(CommandRecord.tail(restart.stderr, lines: 2))")
        if let next = await disrupting.waitForComplete(after: killedAt, seconds: 30) {
            check.add(.pass("the next cycle wrote a complete, valid snapshot: \(next.name)"))
        } else {
            check.add(.fail("no complete snapshot within 30 s of the restart"))
        }
        disrupting.end(&check)
        let after = FileInventory.take(c.dataDirectory)
        let (unchanged, moved, problems) = before.compare(to: after, root: c.dataDirectory)
        check.expect(problems.isEmpty, "every earlier file unchanged (\(unchanged)) or sealed/pruned/updated as the pipeline does (\(moved))",
                     else: "\(problems.count) earlier files lost or changed: " + problems.prefix(5).joined(separator: "; "))
        return check.finished()
    }

    struct Killed {
        var pid: pid_t
        var startedAt: Timestamp
        /// The run's temporary file, when the kill came mid-write: it names the run.
        var temporary: String?
    }

    /// Finds a snap process (by its executable) and SIGKILLs it; polls every 2 ms, since a run
    /// lasts some 50 ms of each second.
    static func killRunningSnap(_ executable: String, within seconds: Int, directory: DataDirectory) async -> Killed? {
        let deadline = monotonicNanoseconds() + Int64(seconds) * 1_000_000_000
        while monotonicNanoseconds() < deadline {
            for pid in processes(running: executable) {
                let started = processStart(pid)
                guard kill(pid, SIGKILL) == 0 else { continue }
                let temporary = temporaryFile(of: pid, in: directory)
                return Killed(pid: pid, startedAt: started ?? Timestamp.now(), temporary: temporary)
            }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return nil
    }

    static func processes(running executable: String) -> [pid_t] {
        (DataDirectory.names(in: "/proc") ?? []).compactMap { name in
            guard let pid = pid_t(name) else { return nil }
            var buffer = [CChar](repeating: 0, count: 4096)
            let n = readlink("/proc/\(pid)/exe", &buffer, buffer.count - 1)
            guard n > 0 else { return nil }
            return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) == executable ? pid : nil
        }
    }

    /// A process's start, from /proc/PID/stat (clock ticks after boot) and the boot time.
    static func processStart(_ pid: pid_t) -> Timestamp? {
        guard let stat = (try? DurableFile.read("/proc/\(pid)/stat", maxBytes: 4096)).flatMap({ $0 }),
              let boot = (try? DurableFile.read("/proc/stat", maxBytes: 1 << 20)).flatMap({ $0 }) else { return nil }
        let fields = String(decoding: stat, as: UTF8.self).split(separator: ")").last?.split(separator: " ") ?? []
        // After the ")" ending the command name, field 22 (starttime) is the 20th.
        guard fields.count > 19, let ticks = Int64(fields[19]),
              let line = String(decoding: boot, as: UTF8.self).split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
              let btime = Int64(line.dropFirst("btime ".count)) else { return nil }
        let hz = Int64(sysconf(Int32(_SC_CLK_TCK)))
        return Timestamp(microseconds: btime * 1_000_000 + ticks * 1_000_000 / max(hz, 1))
    }

    /// `tmp/<final name>.<pid>.<n>.part`: the file the killed run was writing, if it had begun one.
    static func temporaryFile(of pid: pid_t, in directory: DataDirectory) -> String? {
        (DataDirectory.names(in: directory.temporary) ?? []).first { $0.contains(DataDirectory.snapshotSuffix + ".\(pid).") && $0.hasSuffix(DurableFile.temporarySuffix) }
    }

    /// The killed run, written down as snap would have: a failure row and a failed run row, both
    /// naming the gate, in a snapshot file of its own (seal then gives its slot that reason).
    static func record(_ killed: Killed, c: GateRunConfiguration, gateRun: String) -> Finding {
        let directory = DataDirectory(root: c.dataDirectory)
        // The run's own name when it had begun its file; else the newest file's collector.
        let begun = killed.temporary.flatMap { name in
            name.firstRange(of: DataDirectory.snapshotSuffix).flatMap { SnapshotName(String(name[..<$0.upperBound])) }
        }
        let newest = (DataDirectory.names(in: directory.spool) ?? []).compactMap(SnapshotName.init).max { $0.startedAt < $1.startedAt }
        let collector = begun?.collector ?? newest?.collector ?? c.settings["ORDERBOOKS_COLLECTOR_ID"] ?? "unknown"
        let runId = begun?.runId ?? String(UInt64.random(in: 0...UInt64.max), radix: 16).leftPadded(16)
        let startedAt = begun?.startedAt ?? Timestamp(microseconds: killed.startedAt.microseconds / 1000 * 1000)
        let now = Timestamp.now()
        let disruption = "gate run \(gateRun): forced restart"
        func header(_ kind: String) -> JSONObjectWriter {
            var row = JSONObjectWriter()
            row.field("kind", kind)
            row.field("schema", 1)
            row.field("run_id", runId)
            row.field("collector", collector)
            row.field("received_at", now.iso8601)
            return row
        }
        var failure = header("failure")
        failure.field("stage", "run")
        failure.field("error_kind", "killed")
        failure.field("error", "snap (pid \(killed.pid)) SIGKILLed by gate run \(gateRun) to prove a kill loses nothing; written by the gate")
        failure.field("disruption", disruption)
        var run = header("run")
        run.field("snap_version", Int?.none)
        run.field("started_at", startedAt.iso8601)
        run.field("finished_at", now.iso8601)
        run.field("outcome", "failed")
        run.field("exit_code", Int?.none)
        run.field("markets", 0)
        run.field("books", 0)
        run.field("absent", 0)
        run.field("failures", 1)
        run.field("resolutions", 0)
        run.field("disruption", disruption)
        run.field("written_by", "gate \(OrderbooksVersion.current)")
        let name = directory.snapshotPath(startedAt: startedAt, collector: collector, runId: runId)
        do {
            let bytes = try Gzip.compress(failure.line + run.line)
            try DurableFile.create(bytes, at: name, temporaryDirectory: directory.temporary, readableByAll: true)
            return .pass("the killed run is recorded as a failed run naming the gate: \(name)")
        } catch {
            return .fail("cannot record the killed run in \(name): \(error)")
        }
    }
}
