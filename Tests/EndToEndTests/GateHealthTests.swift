import Glibc
import Testing
@testable import OrderbooksCore

/// `gate health`, the real binary, on data directories the real snap and seal wrote: it goes
/// CRITICAL when capture stops and OK when it is back, its exit status is the monitoring-plugin
/// one, its textfile parses with Prometheus' own parser, and it never writes in the data directory.
@Suite struct GateHealthTests {
    func gate(_ data: String, _ extra: [String] = [], env: [String: String] = [:]) async throws -> ProcessOutcome {
        try await run(Paths.gate, ["health", "--data-dir", data, "--timers", "off"] + extra, env: env)
    }

    /// The figures of a textfile as Prometheus' Python client parses them (its parser is the
    /// text format's reference outside Go); a line it cannot read fails the test.
    func parsedTextfile(_ path: String) async throws -> [String: Double] {
        let script = """
            import sys
            from prometheus_client.parser import text_string_to_metric_families
            for family in text_string_to_metric_families(open(sys.argv[1]).read()):
                assert family.type == "gauge", family.name
                for sample in family.samples:
                    labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                    print(f"{sample.name}{{{labels}}} {sample.value!r}")
            """
        let result = try await run("/usr/bin/python3", ["-c", script, path])
        guard result.exitCode == 0 else { throw TestFailure("the Prometheus parser refused \(path): \(result)") }
        var figures: [String: Double] = [:]
        for line in result.stdout.split(separator: "\n") {
            let parts = line.split(separator: " ")
            figures[String(parts[0])] = Double(parts[1])
        }
        return figures
    }

    /// Every file under `root` with its size and mtime: what "nothing written" is checked against.
    func tree(_ root: String) async throws -> String {
        try await run("/usr/bin/find", [root, "-printf", "%p %s %T@ %m\n"]).stdout
    }

    /// A fresh install that captured nothing is CRITICAL; one complete snapshot makes it OK; with
    /// capture failing (the CLOB down) the newest complete snapshot ages into CRITICAL while
    /// failure files keep arriving, and the next complete run brings it back to OK.
    @Test func followsCaptureDownAndBack() async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("gate-health")
            defer { data.remove() }
            try DurableFile.makeDirectories(data.root)
            let empty = try await gate(data.root)
            #expect(empty.exitCode == 2, "\(empty)")
            #expect(empty.stdout.hasPrefix("ORDERBOOKS CRITICAL: capture: no snapshot at all"), "\(empty)")

            let first = try await runSnap(fake.arguments(dataDirectory: data.root))
            #expect(first.exitCode == 0, "\(first)")
            let ok = try await gate(data.root)
            #expect(ok.exitCode == 0, "\(ok)")
            #expect(ok.stdout.hasPrefix("ORDERBOOKS OK: last complete snapshot "), "\(ok)")

            try fake.fault("clob", "status", #""status":503,"content_type":"text/html","body":"down""#)
            let failed = try await runSnap(fake.arguments(dataDirectory: data.root))
            #expect(failed.exitCode == 4, "\(failed)")
            // Ages only grow, and count whole seconds: 3.2 s later both files are past a 2 s critical.
            try await Task.sleep(for: .milliseconds(3200))
            let thresholds = ["--snapshot-warning", "1", "--snapshot-critical", "2"]
            let down = try await gate(data.root, thresholds + ["--json"])
            #expect(down.exitCode == 2, "\(down)")
            let report = try JSON.parse(down.stdout)
            #expect(report["status"]?.string == "CRITICAL")
            #expect(report["checks"]?.array?.first { $0["name"]?.string == "capture" }?["status"]?.string == "CRITICAL", "\(down.stdout)")
            let complete = report["last_complete_snapshot"]?["name"]?.string
            let newest = report["last_snapshot"]?["name"]?.string
            #expect(complete != nil && newest != nil && complete != newest, "\(down.stdout)")
            #expect(data.files("spool").contains(complete ?? "-") && data.files("spool").contains(newest ?? "-"))

            try fake.clearFaults()
            let back = try await runSnap(fake.arguments(dataDirectory: data.root))
            #expect(back.exitCode == 0, "\(back)")
            let recovered = try await gate(data.root, ["--snapshot-warning", "30", "--snapshot-critical", "60"])
            #expect(recovered.exitCode == 0, "\(recovered)")
        }
    }

    /// The textfile: written atomically beside nothing else, readable by node_exporter's user
    /// (0644 whatever the umask), parsed by Prometheus' parser, with the figures of the data.
    @Test func textfileParsesAndCarriesTheFigures() async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("gate-prom")
            defer { data.remove() }
            let result = try await runSnap(fake.arguments(dataDirectory: data.root))
            #expect(result.exitCode == 0, "\(result)")
            let textfiles = data.parent + "/textfiles"
            try DurableFile.makeDirectories(textfiles)
            let path = textfiles + "/orderbooks.prom"
            let before = try await tree(data.root)
            let health = try await gate(data.root, ["--prometheus", path])
            #expect(health.exitCode == 0, "\(health)")
            #expect(try await tree(data.root) == before, "gate health wrote in the data directory")
            #expect(data.files("../textfiles") == ["orderbooks.prom"])
            var info = stat()
            #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o644)
            let figures = try await parsedTextfile(path)
            #expect(figures["orderbooks_health_status{}"] == 0, "\(figures)")
            #expect(figures["orderbooks_health_check_status{check=capture}"] == 0, "\(figures)")
            #expect(figures["orderbooks_spool_files{}"] == 1, "\(figures)")
            let started = SnapshotName(data.files("spool")[0])!.startedAt
            #expect(figures["orderbooks_last_complete_snapshot_timestamp_seconds{}"] == Double(started.microseconds) / 1e6, "\(figures)")
            #expect(figures["orderbooks_data_free_bytes{}"].map { $0 > 0 } == true, "\(figures)")
            #expect(figures.keys.allSatisfy { $0.hasPrefix("orderbooks_") })
        }
    }

    /// The other states and statuses: WARNING (a file quarantined just now), UNKNOWN (3) for a data directory
    /// that cannot be read or a textfile that cannot be written, 64 for a bad flag and 78 for a
    /// bad variable.
    @Test func exitStatuses() async throws {
        let data = DataDir("gate-status")
        defer { data.remove() }
        try DurableFile.makeDirectories(data.root + "/spool")
        let name = "\(Timestamp.now().compact)_c1_0123456789abcdef.jsonl.gz"
        let run = #"{"kind":"run","schema":1,"outcome":"complete"}"# + "\n"
        try DurableFile.create(try Gzip.compress(Array(run.utf8)), at: data.root + "/spool/" + name, temporaryDirectory: data.root)
        #expect(try await gate(data.root).exitCode == 0)
        try DurableFile.makeDirectories(data.root + "/quarantine")
        try DurableFile.create([0x1f], at: data.root + "/quarantine/" + name, temporaryDirectory: data.root)
        let warning = try await gate(data.root)
        #expect(warning.exitCode == 1 && warning.stdout.hasPrefix("ORDERBOOKS WARNING: quarantine: 1 files"), "\(warning)")
        let missing = try await gate(data.root + "/absent")
        #expect(missing.exitCode == 3 && missing.stdout.hasPrefix("ORDERBOOKS UNKNOWN: "), "\(missing)")
        let unwritable = try await gate(data.root, ["--prometheus", data.root + "/absent/dir/x.prom"])
        #expect(unwritable.exitCode == 3, "\(unwritable)")
        #expect(try await gate(data.root, ["--snapshot-warning", "-1"]).exitCode == 64)
        #expect(try await gate(data.root, ["--snapshot-warning", "90", "--snapshot-critical", "60"]).exitCode == 64)
        #expect(try await gate(data.root, env: ["ORDERBOOKS_HEALTH_SHIP_WARNING": "soon"]).exitCode == 78)
    }
}
