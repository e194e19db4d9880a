import Glibc
import Testing
@testable import OrderbooksCore
@testable import OrderbooksShipping

/// What `ship check` may ask of rclone: reading, nothing else.
private let readingCommands: Set<String> = ["version", "backend", "lsjson", "hashsum"]

/// One `ship check --json` run: its process and its report.
struct CheckRun: CustomStringConvertible {
    var outcome: ProcessOutcome
    var report: JSONValue
    /// Each rclone call, as its arguments.
    var calls: [[String]]

    var status: Int32? { outcome.exitCode }
    func count(_ name: String) -> Int? { report["counts"]?[name]?.intValue }
    func part(_ name: String) -> JSONValue? { report["parts"]?.array?.first { $0["part"]?.string == name } }
    func file(_ part: String, _ role: String) -> JSONValue? { self.part(part)?["files"]?.array?.first { $0["role"]?.string == role } }
    var description: String { "\(outcome)\nstdout: \(outcome.stdout)" }
}

extension ShipBench {
    /// `ship check --json` through an rclone that notes every call, with what it must never do
    /// whatever it finds: ask rclone for anything but reading (delete, deletefile, purge, move,
    /// copy, rcat, …), or leave any file of the remote tree or of sealed/ other than it was
    /// (every path, hidden ones too, with its sha256, before and after). `through` is the rclone
    /// the spy hands each call to.
    func check(_ arguments: [String] = [], on server: RcloneServer, _ remote: Remote, through next: String = "/usr/bin/rclone",
               env: [String: String] = [:], sourceLocation: SourceLocation = #_sourceLocation) async throws -> CheckRun {
        let spy = scratch + "/rclone-spy", calls = scratch + "/rclone-calls.log"
        if size(spy) == nil {
            try DurableFile.create(Array("#!/bin/sh\nprintf '%s\\n' \"$*\" >> \"$SPY_LOG\"\nexec \"$SPY_NEXT\" \"$@\"\n".utf8), at: spy, temporaryDirectory: scratch)
            #expect(chmod(spy, 0o755) == 0)
        }
        unlink(calls)
        let served = await server.served("archive")
        let (remoteBefore, sealedBefore) = (try fileDigests(under: served), try data.sealedFiles())
        let outcome = try await ship(["check", "--json", "--rclone", spy] + arguments, remote,
                                     env: env.merging(["SPY_NEXT": next, "SPY_LOG": calls]) { $1 })
        #expect(try fileDigests(under: served) == remoteBefore, "ship check changed the remote", sourceLocation: sourceLocation)
        #expect(try data.sealedFiles() == sealedBefore, "ship check changed sealed/", sourceLocation: sourceLocation)
        var made: [[String]] = []
        for call in String(decoding: try DurableFile.read(calls) ?? [], as: UTF8.self).split(separator: "\n") {
            var words = call.split(separator: " ").map(String.init)
            if words.first == "--config" { words.removeFirst(min(2, words.count)) }
            #expect(readingCommands.contains(words.first ?? ""), "ship check ran rclone \(call)", sourceLocation: sourceLocation)
            made.append(words)
        }
        let report = try JSON.parse(Array(outcome.stdout.utf8))
        expectDocumentedReport(report, sourceLocation: sourceLocation)
        return CheckRun(outcome: outcome, report: report, calls: made)
    }

    /// An rclone whose listings show one more copy of the file named `name`: the same bytes, or
    /// (`differing`) another md5; what Drive, which allows two files of one name, can hold.
    func duplicatingRclone(_ name: String, differing: Bool) throws -> String {
        let path = scratch + "/rclone-dup-\(differing)"
        let script = """
            #!/bin/sh
            case " $* " in
            *" lsjson "*) listing=$(/usr/bin/rclone "$@") || { status=$?; printf '%s' "$listing"; exit $status; }
                printf '%s' "$listing" | python3 -c 'import json, sys
            listing = json.load(sys.stdin)
            extra = [dict(e, Hashes={"md5": "f" * 32}) if \(differing ? "True" : "False") else dict(e) for e in listing if e.get("Path") == "\(name)"]
            json.dump(listing + extra, sys.stdout)' ;;
            *) exec /usr/bin/rclone "$@" ;;
            esac
            """
        try DurableFile.create(Array(script.utf8), at: path, temporaryDirectory: scratch)
        #expect(chmod(path, 0o755) == 0)
        return path
    }
}

/// The report has every member docs/FORMAT.md ("Check reports") names, with only the documented
/// values in its enumerations.
private func expectDocumentedReport(_ report: JSONValue, sourceLocation: SourceLocation) {
    var problems = Set<String>()
    func require(_ object: JSONValue?, _ keys: [String], in what: String) {
        for key in keys where object?[key] == nil { problems.insert("\(what) lacks \(key)") }
    }
    func allow(_ value: JSONValue?, _ allowed: [String], as what: String) {
        if value != .null && !allowed.contains(value?.string ?? "") { problems.insert("\(what) \(value?.string ?? "absent") is not documented") }
    }
    require(report, ["kind", "schema", "status", "result", "error_class", "error", "remote", "method", "read_data", "dry_run", "counts", "parts",
                     "unknown", "probes", "other_collectors", "unreadable_records", "rclone_version", "rclone_calls", "started_at", "finished_at",
                     "ship_version", "command"], in: "the report")
    require(report["counts"], ["parts", "pruned", "intact", "missing", "changed", "duplicated", "identical_copies", "unchecked", "lost", "demoted",
                               "would_demote", "unknown", "probes", "other_collector_files", "not_shipped", "unreadable_records", "days"], in: "counts")
    if report["kind"]?.string != "check" || report["schema"]?.intValue != 1 { problems.insert("kind or schema") }
    allow(report["result"] ?? .string(""), ["clean", "problems", "failed", "busy"], as: "result")
    allow(report["error_class"], ShipFailure.allCases.map(\.rawValue), as: "error_class")
    allow(report["method"], ["remote-md5", "download-sha256"], as: "method")
    for part in report["parts"]?.array ?? [] {
        require(part, ["part", "day", "action", "local", "pruned", "receipt", "error", "files"], in: "a part")
        allow(part["action"] ?? .string(""), ["none", "demoted", "would_demote", "lost"], as: "action")
        allow(part["local"], ["present", "absent", "partial", "changed"], as: "local")
        for file in part["files"]?.array ?? [] {
            require(file, ["role", "name", "remote_path", "category", "status", "bytes", "sha256", "md5", "remote_copies", "remote_bytes",
                           "remote_md5", "remote_sha256"], in: "a file")
            allow(file["category"] ?? .string(""), ["intact", "missing", "changed", "duplicated", "identical_copies", "unchecked"], as: "category")
        }
    }
    for entry in report["unknown"]?.array ?? [] { require(entry, ["remote_path", "bytes", "md5"], in: "an unknown file") }
    for entry in report["other_collectors"]?.array ?? [] { require(entry, ["collector", "files"], in: "another collector") }
    #expect(problems.isEmpty, "\(problems.sorted().joined(separator: "; "))", sourceLocation: sourceLocation)
}

/// `ship check` against real `rclone serve sftp` (md5 in listings, like Drive) and `rclone serve
/// webdav` (no hash: each file downloaded), driving the real binary. Every run goes through
/// `ShipBench.check`, which fails the test if check asks rclone for anything but reading or
/// changes a file of the remote or of sealed/.
@Suite struct ShipCheckTests {
    /// Every verified part on the remote as recorded: 0, `clean`, each part intact, nothing to
    /// report, no receipt rewritten. A part sealed but not shipped is counted and not audited.
    /// `--read-data` downloads every audited file (one `hashsum --download`), md5 or not.
    @Test(arguments: [RcloneServer.Kind.sftp, .webdav])
    func aCleanRemoteIs0(_ kind: RcloneServer.Kind) async throws {
        try await ShipBench.with("check-clean-\(kind)") { bench in
            try await bench.makeParts([2, 2])
            let shipped = try bench.data.sealedParts()
            let server = try await bench.server(kind)
            let remote = try await server.remote()
            #expect(try await bench.ship([], remote).exitCode == 0)
            try await bench.makeParts([2])
            #expect(try bench.data.sealedParts().count == shipped.count + 1)
            let receipts = try bench.data.receiptFiles()

            let run = try await bench.check(on: server, remote)
            #expect(run.status == 0 && run.report["result"]?.string == "clean" && run.report["status"]?.intValue == 0, "\(run)")
            #expect(run.report["method"]?.string == (kind == .sftp ? "remote-md5" : "download-sha256"))
            #expect(run.count("parts") == shipped.count && run.count("intact") == shipped.count && run.count("not_shipped") == 1, "\(run)")
            for name in ["missing", "changed", "duplicated", "identical_copies", "unchecked", "lost", "demoted", "unknown", "probes"] {
                #expect(run.count(name) == 0, "\(name): \(run)")
            }
            #expect(run.report["parts"]?.array?.isEmpty == true && run.report["remote"]?.string == remote.root)
            #expect(run.outcome.stderr.contains("ship check: status=0 parts=\(shipped.count) "), "\(run.outcome.stderr)")
            #expect(try bench.data.receiptFiles() == receipts, "a clean check rewrote a receipt")

            let full = try await bench.check(["--read-data"], on: server, remote)
            #expect(full.status == 0 && full.count("intact") == shipped.count && full.report["method"]?.string == "download-sha256"
                    && full.report["read_data"] == .bool(true), "\(full)")
            let downloads = full.calls.filter { $0.first == "hashsum" && $0.contains("--download") }
            #expect(downloads.count == 1 && run.calls.filter { $0.first == "hashsum" }.count == (kind == .sftp ? 0 : 1), "\(full.calls)")
        }
    }

    /// A segment deleted on the remote is `missing`; one cut short, and one with a bit flipped
    /// (same size: on webdav, with no hash in its listings, only a download finds it) are
    /// `changed`. A dry run only says so; then each part, whole locally, is demoted (its receipt
    /// says failed), the next ship sends it again, and the check after that is clean.
    @Test(arguments: [RcloneServer.Kind.sftp, .webdav])
    func missingAndChangedFilesAreDemotedAndTheNextShipRepairsThem(_ kind: RcloneServer.Kind) async throws {
        try await ShipBench.with("check-repair-\(kind)") { bench in
            try await bench.makeParts([2, 2, 2])
            let parts = try bench.data.sealedParts()
            #expect(parts.count >= 3)
            let server = try await bench.server(kind)
            let remote = try await server.remote()
            #expect(try await bench.ship([], remote).exitCode == 0)
            let (deleted, truncated, altered) = (parts[0], parts[1], parts[2])
            #expect(unlink(await server.served("archive/" + deleted.segment)) == 0)
            #expect(truncate(await server.served("archive/" + truncated.segment), off_t(truncated.bytes / 2)) == 0)
            flipByte(await server.served("archive/" + altered.segment))
            let receipts = try bench.data.receiptFiles()

            let dry = try await bench.check(["--dry-run"], on: server, remote)
            #expect(dry.status == 1 && dry.count("would_demote") == 3 && dry.count("demoted") == 0, "\(dry)")
            #expect(try bench.data.receiptFiles() == receipts, "a dry run rewrote a receipt")

            let run = try await bench.check(on: server, remote)
            #expect(run.status == 1 && run.report["result"]?.string == "problems", "\(run)")
            #expect(run.count("missing") == 1 && run.count("changed") == 2 && run.count("demoted") == 3 && run.count("lost") == 0, "\(run)")
            #expect(run.count("intact") == parts.count - 3, "\(run)")
            let missing = run.file(deleted.name, "segment")
            #expect(missing?["category"]?.string == "missing" && missing?["remote_copies"]?.intValue == 0, "\(run)")
            let short = run.file(truncated.name, "segment")
            #expect(short?["category"]?.string == "changed" && short?["status"]?.string == "size_mismatch"
                    && short?["remote_bytes"]?.intValue == truncated.bytes / 2, "\(run)")
            let flipped = run.file(altered.name, "segment")
            #expect(flipped?["category"]?.string == "changed" && flipped?["status"]?.string == "hash_mismatch"
                    && flipped?["remote_bytes"]?.intValue == altered.bytes, "\(run)")
            if kind == .webdav {
                #expect(flipped?["remote_md5"] == .null && flipped?["remote_sha256"]?.string.map { $0 != altered.sha256 && $0.count == 64 } == true, "\(run)")
            } else {
                #expect(flipped?["remote_md5"]?.string.map { $0 != altered.md5 } == true, "\(run)")
            }
            for part in [deleted, truncated, altered] {
                #expect(run.part(part.name)?["action"]?.string == "demoted" && run.part(part.name)?["local"]?.string == "present", "\(run)")
                #expect(run.file(part.name, "manifest")?["category"]?.string == "intact", "\(run)")
                let receipt = try bench.data.receipt(part)
                #expect(receipt?["status"]?.string == "failed" && receipt?["error_class"]?.string == "verification", "\(part.name)")
                #expect(receipt?["files"]?.array?.first?["status"]?.string != "verified", "\(part.name)")
            }
            for part in parts.dropFirst(3) { #expect(try bench.data.receipt(part)?["status"]?.string == "verified") }
            let lines = run.outcome.stderr.split(separator: "\n")
            #expect(lines.contains { $0.contains("ship check: missing: \(remote.root)/\(deleted.segment)") }, "\(run.outcome.stderr)")
            #expect(lines.filter { $0.contains("ship check: changed: ") }.count == 2, "\(run.outcome.stderr)")
            #expect(lines.filter { $0.contains("ship check: demoted ") }.count == 3, "\(run.outcome.stderr)")

            let repaired = try await bench.ship([], remote)
            #expect(repaired.exitCode == 0, "\(repaired)")
            try await bench.expectShipped(parts, on: server, as: remote, method: kind == .sftp ? "remote-md5" : "download-sha256")
            let again = try await bench.check(on: server, remote)
            #expect(again.status == 0 && again.count("intact") == parts.count, "\(again)")
        }
    }

    /// A part prune deleted here whose remote segment is gone cannot be sent again: `lost`, with
    /// what its manifest said it held, and its receipt stays as it was. A part whose receipt is
    /// gone is still audited from its prune record.
    @Test func aPrunedPartWhoseRemoteFileIsGoneIsLostWithItsManifestDetails() async throws {
        try await ShipBench.with("check-lost") { bench in
            try await bench.makeParts([2, 2])
            let parts = try bench.data.sealedParts()
            #expect(parts.count >= 2)
            let sftp = try await bench.server(.sftp)
            let remote = try await sftp.remote()
            #expect(try await bench.ship([], remote).exitCode == 0)
            try await bench.waitForWindowsToEnd()
            let pruned = try await bench.ship(["prune", "--keep-days", "0"], remote)
            #expect(try pruned.exitCode == 0 && bench.data.sealedFiles().isEmpty, "\(pruned)")
            let (lost, recordOnly) = (parts[0], parts[1])
            #expect(unlink(await sftp.served("archive/" + lost.segment)) == 0)
            #expect(unlink(bench.data.root + "/receipts/" + recordOnly.day + "/" + recordOnly.name + ".receipt.json") == 0)
            let receipts = try bench.data.receiptFiles()

            let run = try await bench.check(on: sftp, remote)
            #expect(run.status == 1 && run.count("lost") == 1 && run.count("missing") == 1 && run.count("demoted") == 0, "\(run)")
            #expect(run.count("parts") == parts.count && run.count("pruned") == parts.count && run.count("intact") == parts.count - 1, "\(run)")
            let part = run.part(lost.name)
            #expect(part?["action"]?.string == "lost" && part?["local"]?.string == "absent" && part?["pruned"] == .bool(true), "\(run)")
            let segment = run.file(lost.name, "segment")
            #expect(segment?["category"]?.string == "missing" && segment?["bytes"]?.intValue == lost.bytes && segment?["sha256"]?.string == lost.sha256
                    && segment?["md5"]?.string == lost.md5 && segment?["remote_path"]?.string == remote.root + "/" + lost.segment, "\(run)")
            #expect(run.part(recordOnly.name) == nil, "\(run)")
            #expect(try bench.data.receiptFiles() == receipts, "a lost part's receipt was rewritten")
            #expect(run.outcome.stderr.split(separator: "\n").contains { $0.contains("ship check: lost: \(lost.name)") && $0.contains(lost.sha256) },
                    "\(run.outcome.stderr)")
        }
    }

    /// Remote files no record here accounts for are reported and left alone: a stray file in a
    /// day this host ships to and in one it has no record of (`unknown`), a probe a killed ship
    /// left, a part of another collector (counted apart). Identical extra copies of a file are a
    /// warning (0, receipt kept); copies that differ a problem (1, demoted).
    @Test func unknownFilesAndExtraCopiesAreReportedAndLeftAlone() async throws {
        try await ShipBench.with("check-strays") { bench in
            try await bench.makeParts([2])
            let part = try #require(try bench.data.sealedParts().first)
            let sftp = try await bench.server(.sftp)
            let remote = try await sftp.remote()
            #expect(try await bench.ship([], remote).exitCode == 0)
            let strays = [part.day + "/stray.bin", part.day + "/.orderbooks-probe-0123456789abcdef-w", "2001/02/03/notes.txt",
                          "2001/02/03/20010203T0000Z_60m_othercollector_part1.jsonl.gz"]
            for path in strays {
                try DurableFile.makeDirectories(await sftp.served("archive/" + String(path.prefix(10))))
                try DurableFile.create(Array("not ours\n".utf8), at: await sftp.served("archive/" + path), temporaryDirectory: bench.scratch)
            }
            let receipts = try bench.data.receiptFiles()

            let run = try await bench.check(on: sftp, remote)
            #expect(run.status == 0 && run.report["result"]?.string == "clean", "\(run)")
            #expect(run.count("unknown") == 2 && run.count("probes") == 1 && run.count("other_collector_files") == 1 && run.count("days") == 2, "\(run)")
            let unknown = Set((run.report["unknown"]?.array ?? []).compactMap { $0["remote_path"]?.string })
            #expect(unknown == [remote.root + "/" + strays[0], remote.root + "/" + strays[2]], "\(run)")
            #expect(run.report["probes"]?.array == [.string(remote.root + "/" + strays[1])], "\(run)")
            #expect(run.report["other_collectors"]?.array?.first?["collector"]?.string == "othercollector", "\(run)")
            #expect(run.outcome.stderr.split(separator: "\n").filter { $0.contains("ship check: unknown: ") }.count == 2, "\(run.outcome.stderr)")

            let name = String(part.segment.dropFirst(11))
            let identical = try await bench.check(on: sftp, remote, through: try bench.duplicatingRclone(name, differing: false))
            #expect(identical.status == 0 && identical.count("identical_copies") == 1 && identical.count("demoted") == 0, "\(identical)")
            #expect(identical.file(part.name, "segment")?["category"]?.string == "identical_copies" && identical.part(part.name)?["action"]?.string == "none")
            #expect(identical.outcome.stderr.contains("2 identical copies on the remote"), "\(identical.outcome.stderr)")
            #expect(try bench.data.receiptFiles() == receipts, "identical copies rewrote a receipt")

            let differing = try await bench.check(on: sftp, remote, through: try bench.duplicatingRclone(name, differing: true))
            #expect(differing.status == 1 && differing.count("duplicated") == 1 && differing.count("demoted") == 1, "\(differing)")
            #expect(differing.file(part.name, "segment")?["status"]?.string == "duplicate"
                    && differing.file(part.name, "segment")?["remote_copies"]?.intValue == 2, "\(differing)")
            #expect(try bench.data.receipt(part)?["status"]?.string == "failed")
        }
    }

    /// A remote that cannot be reached is 69 (`failed`, `unavailable`), a refused login 77; a
    /// remote that answers but whose listings fail is 69 too, each file counted `unchecked` and
    /// no part demoted or listed. No receipt is touched.
    @Test func anUnreachableRemoteIs69AndARefusedLogin77() async throws {
        try await ShipBench.with("check-down") { bench in
            try await bench.makeParts([2])
            let parts = try bench.data.sealedParts()
            let sftp = try await bench.server(.sftp)
            let remote = try await sftp.remote()
            #expect(try await bench.ship([], remote).exitCode == 0)
            let receipts = try bench.data.receiptFiles()
            await sftp.stop()
            let down = try await bench.check(on: sftp, remote)
            #expect(down.status == 69 && down.report["result"]?.string == "failed" && down.report["error_class"]?.string == "unavailable", "\(down)")
            #expect(down.report["error"]?.string?.contains("connect") == true, "\(down)")
            try await sftp.start()
            let refused = try await bench.check(on: sftp, try await sftp.remote(password: "not-the-password"))
            #expect(refused.status == 77 && refused.report["error_class"]?.string == "auth", "\(refused)")

            let failing = bench.scratch + "/rclone-no-listing"
            try DurableFile.create(Array("#!/bin/sh\ncase \" $* \" in *\" lsjson \"*) echo 'ERROR : dial tcp: i/o timeout' >&2; exit 1 ;; esac\nexec /usr/bin/rclone \"$@\"\n".utf8),
                                   at: failing, temporaryDirectory: bench.scratch)
            #expect(chmod(failing, 0o755) == 0)
            let unlisted = try await bench.check(on: sftp, try await sftp.remote(), through: failing)
            #expect(unlisted.status == 69 && unlisted.count("unchecked") == 2 * parts.count && unlisted.count("intact") == 0
                    && unlisted.report["parts"]?.array?.isEmpty == true && unlisted.count("demoted") == 0, "\(unlisted)")
            #expect(try bench.data.receiptFiles() == receipts)
        }
    }

    /// check shares ship's lock: while it is held, check exits 0 at once (`busy`, nothing
    /// checked); with --wait it blocks on it (the kernel's lock table shows it waiting) and runs
    /// once it is released.
    @Test func oneAtATimeWithShipAndPrune() async throws {
        try await ShipBench.with("check-lock") { bench in
            try await bench.makeParts([2])
            let parts = try bench.data.sealedParts()
            let sftp = try await bench.server(.sftp)
            let remote = try await sftp.remote()
            #expect(try await bench.ship([], remote).exitCode == 0)
            let lock = bench.data.root + "/state/ship.lock"
            let held = try await run("/usr/bin/flock", ["-n", lock, Paths.ship, "check", "--json", "--data-dir", bench.data.root, "--remote", remote.root],
                                     env: bench.environment(remote))
            #expect(held.exitCode == 0 && held.stderr.contains("another"), "\(held)")
            let report = try JSON.parse(Array(held.stdout.utf8))
            #expect(report["result"]?.string == "busy" && report["counts"]?["parts"]?.intValue == 0, "\(held.stdout)")

            let environment = bench.environment(remote).merging(["ORDERBOOKS_DATA_DIR": bench.data.root, "ORDERBOOKS_REMOTE": remote.root]) { $1 }
            let (waited, blocked) = try await runBlockedOnLock(lock, Paths.ship, ["check", "--wait"], env: environment) {}
            #expect(blocked, "ship check --wait never waited on the held lock")
            #expect(waited.exitCode == 0 && waited.stderr.contains("ship check: status=0 parts=\(parts.count) "), "\(waited)")
        }
    }
}
