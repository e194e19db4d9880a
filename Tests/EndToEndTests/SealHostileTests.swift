import Glibc
import Testing
@testable import OrderbooksCore
@testable import OrderbooksSealing

/// Issue 9 §6, each example as reported: a hostile entry in the data directory never wedges
/// the pipeline. Every run has a time limit (a hang is a failure) and an RSS bound.
@Suite struct SealHostileTests {
    /// A data directory with one sound snapshot in the spool, sealed an hour ago's window.
    private func spoolWithOneSnapshot(_ label: String) throws -> (DataDir, startedAt: Timestamp, rows: [String]) {
        let data = DataDir(label)
        try DurableFile.makeDirectories(data.root + "/spool")
        let startedAt = Timestamp(seconds: (Timestamp.now().seconds - 7200) / 3600 * 3600 + 5)
        let rows = syntheticRows(tag: "0123456789abcdef", startedAt: startedAt, count: 3)
        createFile(data.root + "/spool", Array(snapshotName(startedAt, collector: "c", runId: "0123456789abcdef").utf8),
                   try Gzip.compress(Array((rows.joined(separator: "\n") + "\n").utf8)))
        return (data, startedAt, rows)
    }

    private func sealFlush(_ data: DataDir) async throws -> BoundedOutcome {
        let result = try await runBounded(Paths.seal, ["--data-dir", data.root, "--flush"], seconds: 30)
        #expect(!result.timedOut, "seal hung: \(result)")
        #expect(result.maxRSSKiB < rssBoundKiB, "\(result)")
        return result
    }

    private func expectSealed(_ data: DataDir, _ rows: [String]) async throws {
        let lines = try await data.sealedLines()
        #expect(rows.allSatisfy(lines.contains), "\(lines)")
    }

    @Test func aFIFOOrALinkOrADirectoryInTheSpoolIsSetAside() async throws {
        for make in ["fifo", "zero", "null", "outside", "directory"] {
            let (data, startedAt, rows) = try spoolWithOneSnapshot("hostile-" + make)
            defer { data.remove() }
            let name = snapshotName(Timestamp(microseconds: startedAt.microseconds + 1_000_000), collector: "c", runId: "fedcba9876543210")
            let path = data.root + "/spool/" + name
            switch make {
            case "fifo": #expect(mkfifo(path, 0o640) == 0)
            case "zero": #expect(symlink("/dev/zero", path) == 0)
            case "null": #expect(symlink("/dev/null", path) == 0)
            case "outside":
                // A sound snapshot, but out of the tree: never followed, never sealed.
                createFile(data.parent, Array("elsewhere".utf8), try Gzip.compress(Array((syntheticRows(tag: "x", startedAt: startedAt, count: 1).joined(separator: "\n") + "\n").utf8)))
                #expect(symlink(data.parent + "/elsewhere", path) == 0)
            default: #expect(mkdir(path, 0o750) == 0)
            }
            let result = try await sealFlush(data)
            #expect(result.exitCode == 3 && result.outcome.stderr.contains("quarantined spool/\(name): not a regular file"), "\(make): \(result)")
            #expect(data.files("spool").isEmpty && data.files("quarantine") == [name, name + ".reason.json"], "\(make)")
            try await expectSealed(data, rows)
            if make == "outside" { #expect(access(data.parent + "/elsewhere", F_OK) == 0) }
            // The next run has nothing left to trip on.
            #expect(try await sealFlush(data).exitCode == 0)
        }
    }

    @Test func aFIFOManifestInSealedNeitherHangsVerifyNorShip() async throws {
        let (data, startedAt, _) = try spoolWithOneSnapshot("hostile-manifest")
        defer { data.remove() }
        #expect(try await sealFlush(data).exitCode == 0)
        let window = SealWindow(containing: startedAt, minutes: 60, collector: "c")
        let fifo = data.root + "/sealed/" + window.dayDirectory + "/" + window.partName(2) + SealWindow.manifestSuffix
        #expect(mkfifo(fifo, 0o640) == 0)
        let verify = try await runBounded(Paths.seal, ["verify", "--data-dir", data.root], seconds: 30)
        #expect(!verify.timedOut && verify.exitCode == 1 && verify.outcome.stdout.contains("not a regular file (a FIFO)"), "\(verify)")
        #expect(verify.outcome.stdout.contains("1 ok, 1 bad"), "\(verify)")
        for dry in [true, false] {
            let ship = try await runBounded(Paths.ship, ["--data-dir", data.root, "--remote", data.parent + "/remote"] + (dry ? ["--dry-run"] : []), seconds: 60)
            #expect(!ship.timedOut, "ship\(dry ? " --dry-run" : "") hung: \(ship)")
            #expect((ship.outcome.stdout + ship.outcome.stderr).contains("not a regular file (a FIFO)"), "\(ship)")
        }
        // ship left: its lock is free for prune.
        #expect(try await run("/usr/bin/flock", ["-n", data.root + "/state/ship.lock", "true"]).exitCode == 0)
    }

    @Test func aHugeLineInASmallGzipIsCutAndQuarantined() async throws {
        let (data, startedAt, rows) = try spoolWithOneSnapshot("hostile-line")
        defer { data.remove() }
        let name = snapshotName(Timestamp(microseconds: startedAt.microseconds + 1_000_000), collector: "c", runId: "fedcba9876543210")
        let before = #"{"kind":"book","slug":"s","token_id":"before"}"#
        // 400 MB of one line, some 400 KB of gzip; the rows before it are salvaged.
        let made = try await run("/bin/sh", ["-c", #"{ printf '%s\n' "$ROW"; head -c 400000000 /dev/zero | tr '\0' a; printf '\n{"kind":"run"}\n'; } | gzip -1 > "$P""#],
                                 env: ["ROW": before, "P": data.root + "/spool/" + name])
        #expect(made.exitCode == 0)
        let result = try await sealFlush(data)
        #expect(result.exitCode == 3 && result.outcome.stderr.contains("line 2 is longer than \(LineSplitter.maxLineBytes) bytes"), "\(result)")
        #expect(data.files("quarantine") == [name, name + ".reason.json"])
        try await expectSealed(data, rows + [before])
    }

    @Test func millionsOfEmptyLinesInASmallGzipAreCutAndQuarantined() async throws {
        let (data, startedAt, rows) = try spoolWithOneSnapshot("hostile-lines")
        defer { data.remove() }
        let name = snapshotName(Timestamp(microseconds: startedAt.microseconds + 1_000_000), collector: "c", runId: "fedcba9876543210")
        let before = #"{"kind":"book","slug":"s","token_id":"before"}"#
        // A row, then 20 million empty lines: some 20 KB of gzip, 20 MB of text.
        let made = try await run("/bin/sh", ["-c", #"{ printf '%s\n' "$ROW"; head -c 20000000 /dev/zero | tr '\0' '\n'; } | gzip -9 > "$P""#],
                                 env: ["ROW": before, "P": data.root + "/spool/" + name])
        #expect(made.exitCode == 0)
        let result = try await sealFlush(data)
        let reason = "more than \(SpoolSource.maxLines) lines; rows after it are not read"
        #expect(result.exitCode == 3 && result.outcome.stderr.contains("quarantined spool/\(name): \(reason)"), "\(result)")
        #expect(data.files("spool").isEmpty && data.files("quarantine") == [name, name + ".reason.json"])
        let note = String(decoding: try DurableFile.read(data.root + "/quarantine/" + name + ".reason.json") ?? [], as: UTF8.self)
        #expect(note.contains(#""reason":"\#(reason)""#) && note.contains(#""rows_salvaged":1"#), "\(note)")
        try await expectSealed(data, rows + [before])
    }

    /// A sealed part whose segment is replaced by `text` (gzipped by `gzip -9`, from a shell
    /// command) and whose manifest is edited to match its size and to claim `rows` rows: a
    /// segment damaged behind seal's back, as verify must read it.
    private func forgedPart(_ label: String, text command: String, rows: Int) async throws -> DataDir {
        let (data, startedAt, _) = try spoolWithOneSnapshot(label)
        #expect(try await sealFlush(data).exitCode == 0)
        let window = SealWindow(containing: startedAt, minutes: 60, collector: "c")
        let base = data.root + "/sealed/" + window.dayDirectory + "/" + window.partName(1)
        let segment = base + SealWindow.segmentSuffix, manifest = base + SealWindow.manifestSuffix
        let made = try await run("/bin/sh", ["-c", "{ \(command); } | gzip -9 > \"$P.new\" && mv -f \"$P.new\" \"$P\""], env: ["P": segment])
        #expect(made.exitCode == 0)
        var info = stat()
        #expect(stat(segment, &info) == 0)
        let text = String(decoding: try DurableFile.read(manifest) ?? [], as: UTF8.self)
        let forged = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            guard line.hasPrefix(#"  "files":["#) else { return String(line) }
            return String(line.replacing(try! Regex(#""bytes":[0-9]+"#), with: #""bytes":\#(info.st_size)"#)
                .replacing(try! Regex(#""rows":[0-9]+"#), with: #""rows":\#(rows)"#))
        }.joined(separator: "\n")
        #expect(unlink(manifest) == 0)
        try DurableFile.create(Array(forged.utf8), at: manifest, temporaryDirectory: data.root + "/tmp")
        return data
    }

    @Test func verifyOfMillionsOfBadLinesStaysSmall() async throws {
        // Every line bad, and as many rows claimed, so all of them are read.
        let data = try await forgedPart("hostile-badlines", text: "yes x | head -n 2000000", rows: 2_000_000)
        defer { data.remove() }
        let verify = try await runBounded(Paths.seal, ["verify", "--data-dir", data.root], seconds: 120)
        #expect(!verify.timedOut && verify.exitCode == 1, "\(verify)")
        #expect(verify.outcome.stdout.contains("line 3 is not a JSON object") && verify.outcome.stdout.contains("; 2000000 bad lines"), "\(verify)")
        #expect(verify.maxRSSKiB < rssBoundKiB, "\(verify)")
    }

    @Test func verifyStopsAtTheLinePastTheManifestsRows() async throws {
        // 20 million empty lines where the manifest says 4 rows: bad at the fifth line.
        let data = try await forgedPart("hostile-emptylines", text: "head -c 20000000 /dev/zero | tr '\\0' '\\n'", rows: 4)
        defer { data.remove() }
        let verify = try await runBounded(Paths.seal, ["verify", "--data-dir", data.root], seconds: 120)
        #expect(!verify.timedOut && verify.exitCode == 1, "\(verify)")
        #expect(verify.outcome.stdout.contains("more than 4 lines; the rest is not read"), "\(verify)")
        // Lines past the limit are neither read nor counted.
        #expect(verify.outcome.stdout.contains("; 4 bad lines;") && !verify.outcome.stdout.contains("rows, manifest says"), "\(verify)")
    }

    @Test func aNameThatIsNotUTF8IsQuarantinedByItsBytesOnce() async throws {
        let (data, startedAt, rows) = try spoolWithOneSnapshot("hostile-name")
        defer { data.remove() }
        let raw = Array("\(startedAt.compact)_c".utf8) + [0xFF] + Array("_fedcba9876543210.jsonl.gz".utf8)
        createFile(data.root + "/spool", raw, try Gzip.compress(Array("{\"kind\":\"run\"}\n".utf8)))
        let result = try await sealFlush(data)
        #expect(result.exitCode == 3 && result.outcome.stderr.contains("not valid UTF-8"), "\(result)")
        #expect(data.files("spool").isEmpty)
        let kept = DataDirectory.quarantineName(forSpoolName: raw)
        #expect(data.files("quarantine") == [kept, kept + ".reason.json"])
        try await expectSealed(data, rows)
        // No part claims it, and later runs are clean.
        let find = try await run("/usr/bin/find", [data.root + "/sealed", "-name", "*.manifest.json"])
        #expect(find.stdout.split(separator: "\n").count == 1)
        #expect(try await sealFlush(data).exitCode == 0)
    }

    @Test func verifyBeforeTheFirstSealSaysNothingIsSealed() async throws {
        let data = DataDir("hostile-nosealed")
        defer { data.remove() }
        try DurableFile.makeDirectories(data.root)
        let verify = try await runBounded(Paths.seal, ["verify", "--data-dir", data.root], seconds: 30)
        #expect(verify.exitCode == 0 && verify.outcome.stdout.contains("nothing sealed yet"), "\(verify)")
    }

    @Test func aClockRunningAheadIsSaid() async throws {
        let data = DataDir("hostile-future")
        defer { data.remove() }
        try DurableFile.makeDirectories(data.root + "/spool")
        let ahead = Timestamp(seconds: Timestamp.now().seconds + 86_400)
        createFile(data.root + "/spool", Array(snapshotName(ahead, collector: "c", runId: "0123456789abcdef").utf8),
                   try Gzip.compress(Array((syntheticRows(tag: "f", startedAt: ahead, count: 1).joined(separator: "\n") + "\n").utf8)))
        let result = try await runBounded(Paths.seal, ["--data-dir", data.root], seconds: 30)
        #expect(result.exitCode == 0 && result.outcome.stderr.contains("1 spool files are dated more than 300 s ahead"), "\(result)")
        #expect(result.outcome.stderr.contains("pending=1 future=1 windows=0 newest_snapshot=\(ahead.iso8601)"), "\(result)")
    }
}
