import Glibc
import Subprocess
import SystemPackage
import Testing
@testable import OrderbooksCore

/// How many runs the kill and soak tests make: short in CI, long from scripts/soak.
private func setting(_ name: String, _ fallback: Int) -> Int {
    ProcessEnvironment.current[name].flatMap(Int.init) ?? fallback
}

@Suite(.serialized) struct RobustnessTests {
    /// Issue acceptance: runs SIGKILLed at random moments leave only complete, valid files, and
    /// the next run cleans up after them.
    @Test func killedRunsLeaveOnlyCompleteFiles() async throws {
        let runs = setting("ORDERBOOKS_KILL_RUNS", 40)
        try await withFakePolymarket { fake in
            let data = DataDir("kill")
            defer { data.remove() }
            var finished: [String] = []
            var killed = 0
            for i in 0..<runs {
                // Server delays and kill times spread the kills over discovery, books, and writing.
                try fake.fault("gamma", "delay", #""ms":\#(Int.random(in: 0...120))"#)
                try fake.fault("clob", "delay", #""ms":\#(Int.random(in: 0...120))"#)
                var args = fake.arguments(dataDirectory: data.root, tls: i % 2 == 0)
                if Bool.random() { args += ["--discovery-ttl", "0"] }
                let outcome = try await runAndKill(Paths.snap, args, after: .milliseconds(Int.random(in: 0...300)))
                if case .signaled = outcome.status {
                    killed += 1
                } else {
                    #expect(outcome.exitCode == 0, "\(outcome)")
                    if let id = outcome.stderr.split(separator: " ").first(where: { $0.hasPrefix("run=") }) { finished.append(String(id.dropFirst(4))) }
                }
            }
            // Random kills leave a stale in-flight file only when one lands mid-write: make sure
            // of one, with kills timed from the runs' own progress.
            try fake.clearFaults()
            var midWrite = 0
            for _ in 0..<10 where data.files("tmp").isEmpty {
                let (outcome, landed) = try await runAndKillMidWrite(Paths.snap, fake.arguments(dataDirectory: data.root), temporaryDirectory: data.root + "/tmp")
                #expect(landed || outcome.exitCode == 0, "\(outcome)")
                if landed { midWrite += 1 }
            }
            let spool = try data.validatedSpool()
            for id in finished { #expect(spool.keys.contains { $0.hasSuffix("_\(id).jsonl.gz") }, "finished run \(id) has no file") }
            let stale = data.files("tmp")
            #expect(!stale.isEmpty && stale.allSatisfy { $0.hasSuffix(".part") }, "\(stale)")
            print("kill test: \(runs) runs, \(killed) killed at random, \(midWrite) mid-write, \(finished.count) finished, \(spool.count) files, "
                  + "\(stale.count) stale in-flight files")

            // Leftovers count as stale once old enough; the next run removes them.
            var old = [timespec(tv_sec: 1_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000, tv_nsec: 0)]
            for name in data.files("tmp") { utimensat(AT_FDCWD, data.root + "/tmp/" + name, &old, 0) }
            let next = try await runSnap(fake.arguments(dataDirectory: data.root))
            #expect(next.exitCode == 0, "\(next)")
            #expect(data.files("tmp").isEmpty)
            #expect(try data.validatedSpool().count == spool.count + 1)
        }
    }

    /// Runs back to back while faults come and go: each run leaves exactly one valid file whose
    /// run row carries the process's exit status.
    @Test func soakWithRandomFaults() async throws {
        let seconds = setting("ORDERBOOKS_SOAK_SECONDS", 8)
        try await withFakePolymarket { fake in
            let data = DataDir("soak")
            defer { data.remove() }
            let deadline = Timestamp.now().microseconds + Int64(seconds) * 1_000_000
            var statuses: [Int32: Int] = [:]
            var runs = 0
            while Timestamp.now().microseconds < deadline {
                try fake.clearFaults()
                if Int.random(in: 0..<10) < 3, let fault = FaultTests.cases.filter({ $0.mode != "hang" }).randomElement() {
                    try fake.fault(fault.target, fault.mode, fault.parameters)
                }
                let result = try await runSnap(fake.arguments(dataDirectory: data.root, tls: Bool.random()) + ["--timeout", "2"])
                runs += 1
                statuses[result.exitCode ?? -1, default: 0] += 1
                #expect([0, 3, 4].contains(result.exitCode), "\(result)")
            }
            let spool = try data.validatedSpool()
            #expect(spool.count == runs)
            #expect(data.files("tmp").isEmpty)
            let recorded = spool.values.reduce(into: [Int32: Int]()) { $0[Int32($1.last!["exit_code"]!.intValue!), default: 0] += 1 }
            #expect(recorded == statuses)
            print("soak: \(runs) runs in \(seconds) s, exit statuses \(statuses.sorted { $0.key < $1.key })")
        }
    }
}

@Suite struct CommandLineTests {
    @Test func helpDocumentsEveryOptionAndVariable() async throws {
        let help = try await runSnap(["--help"])
        #expect(help.exitCode == 0)
        for variable in ["ORDERBOOKS_DATA_DIR", "ORDERBOOKS_CLOB_URL", "ORDERBOOKS_GAMMA_URL", "ORDERBOOKS_CA_FILE", "ORDERBOOKS_SERIES",
                         "ORDERBOOKS_COLLECTOR_ID", "ORDERBOOKS_CONNECT_TIMEOUT", "ORDERBOOKS_TIMEOUT", "ORDERBOOKS_MAX_BODY_BYTES",
                         "ORDERBOOKS_USER_AGENT", "ORDERBOOKS_DISCOVERY_TTL", "Exit status"] {
            #expect(help.stdout.contains(variable), "\(variable) missing from --help")
        }
        let version = try await runSnap(["--version"])
        #expect(version.exitCode == 0 && version.stdout == OrderbooksVersion.current + "\n")
        let seal = try await runSeal(["run", "--help"])
        for variable in ["ORDERBOOKS_DATA_DIR", "ORDERBOOKS_SEGMENT_MINUTES", "ORDERBOOKS_GRACE_SECONDS", "ORDERBOOKS_SNAP_INTERVAL", "--flush", "--wait"] {
            #expect(seal.stdout.contains(variable), "\(variable) missing from seal run --help")
        }
        let sealTop = try await runSeal(["--help"])
        #expect(sealTop.stdout.contains("Exit status") && sealTop.stdout.contains("verify"))
        #expect(try await runSeal(["--version"]).stdout == OrderbooksVersion.current + "\n")
    }

    @Test func usageAndConfigurationErrorsHaveTheirOwnStatus() async throws {
        let flag = try await runSnap(["--no-such-flag"])
        #expect(flag.exitCode == 64 && flag.stderr.contains("Error:"))
        let value = try await runSnap(["--series", "weekly"])
        #expect(value.exitCode == 64 && value.stderr.contains("--series"))
        let env = try await runSnap([], env: ["ORDERBOOKS_TIMEOUT": "soon"])
        #expect(env.exitCode == 78 && env.stderr.contains("ORDERBOOKS_TIMEOUT='soon'"))
        #expect(try await runSeal(["--segment-minutes", "7"]).exitCode == 64)
        #expect(try await runSeal([], env: ["ORDERBOOKS_GRACE_SECONDS": "-1"]).exitCode == 78)
        let ca = try await runSnap(["--ca-file", "/nonexistent.pem"])
        #expect(ca.exitCode == 78 && ca.stderr.contains("/nonexistent.pem"))
    }

    /// systemd names the stream it gives as stderr in JOURNAL_STREAM (`device:inode`). Lines get
    /// priority prefixes when stderr is that stream, and none when it names another one.
    @Test func journaldGetsPriorityPrefixesOnlyWhenItOwnsStderr() async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("journal")
            defer { data.remove() }
            // The first run fails (errors and warnings), the others succeed (info).
            try fake.fault("clob", "status", #""status":500,"count":1"#)
            let script = #"""
                exec 2>"$OWNED"
                export JOURNAL_STREAM="$(stat -c %d:%i "$OWNED")"
                "$SNAP" "$@"
                "$SNAP" "$@"
                exec 2>"$OTHER"
                "$SNAP" "$@"
                """#
            let owned = data.parent + "/owned", other = data.parent + "/other"
            let result = try await run("/bin/sh", ["-c", script, "sh"] + fake.arguments(dataDirectory: data.root, tls: false),
                                       env: ["SNAP": Paths.snap, "OWNED": owned, "OTHER": other])
            #expect(result.exitCode == 0, "\(result)")
            let ownedLines = String(decoding: try DurableFile.read(owned) ?? [], as: UTF8.self).split(separator: "\n")
            let otherLines = String(decoding: try DurableFile.read(other) ?? [], as: UTF8.self).split(separator: "\n")
            for level in ["<3>", "<4>", "<6>"] { #expect(ownedLines.contains { $0.hasPrefix(level) }, "\(level) \(ownedLines)") }
            #expect(ownedLines.allSatisfy { $0.hasPrefix("<3>") || $0.hasPrefix("<4>") || $0.hasPrefix("<6>") }, "\(ownedLines)")
            #expect(!otherLines.isEmpty && !otherLines.contains { $0.hasPrefix("<") }, "\(otherLines)")
        }
    }
}

/// The fake computes windows and slugs with Python's zoneinfo; snap hand-codes US Eastern
/// time. Both must name the same markets, including across daylight-saving changes.
@Suite struct ReferenceCrossCheckTests {
    @Test func windowsAndSlugsMatchAnIndependentModel() async throws {
        try await withFakePolymarket { fake in
            var instants: [Int64] = (0..<150).map { _ in Int64.random(in: 1_767_225_600...1_830_297_600) }  // 2026–2027
            for change in ["2026-03-08T07:00:00Z", "2026-11-01T06:00:00Z", "2027-03-14T07:00:00Z", "2027-11-07T06:00:00Z"] {
                let t = Timestamp.parse(change)!.seconds
                instants += stride(from: t - 6 * 3600, through: t + 6 * 3600, by: 1800).map { $0 }
                instants += [t - 1, t, t + 1]
            }
            for t in instants {
                let model = try fake.markets(at: Timestamp(seconds: t))
                for series in Series.allCases {
                    let theirs = model.filter { $0["series"]?.string == series.rawValue && $0["role"]?.string != "previous" }
                        .map { "\($0["slug"]!.string!) \($0["window_start"]!.intValue!)-\($0["window_end"]!.intValue!)" }
                    let current = series.window(containing: t)
                    let ours = [current, series.window(containing: current.end)].map { "\(series.slug(for: $0)) \($0.start)-\($0.end)" }
                    #expect(theirs == ours, "\(series) at \(Timestamp(seconds: t).iso8601)")
                }
            }
        }
    }
}
