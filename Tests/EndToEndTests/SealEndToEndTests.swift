import Glibc
import Testing
@testable import OrderbooksCore

/// How many seal cycles the kill test makes: short in CI, long from scripts/soak.
private let killCycles = ProcessEnvironment.current["ORDERBOOKS_SEAL_KILL_CYCLES"].flatMap(Int.init) ?? 20

extension DataDir {
    /// Every line of every sealed segment, and the manifests, checked against each other by
    /// `seal verify` first.
    func sealedLines() async throws -> [String] {
        let verify = try await runSeal(["verify", "--data-dir", root])
        guard verify.exitCode == 0 else { throw TestFailure("seal verify failed: \(verify.stdout)\(verify.stderr)") }
        var lines: [String] = []
        let find = try await run("/usr/bin/find", [root + "/sealed", "-name", "*.jsonl.gz"])
        for path in find.stdout.split(separator: "\n").sorted() {
            let text = try Gzip.decompress(try DurableFile.read(String(path)) ?? [])
            lines += text.split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) }
        }
        return lines
    }

    /// The lines of the spool files, keyed by file name.
    func spoolLines() throws -> [String: [String]] {
        try validatedSpool().mapValues { rows in rows.map { String(decoding: $0.line, as: UTF8.self) } }
    }
}

private func snapRuns(_ fake: FakePolymarket, _ data: DataDir, count: Int) async throws {
    for _ in 0..<count {
        let result = try await runSnap(fake.arguments(dataDirectory: data.root, tls: false) + ["--collector-id", "e2e"])
        #expect(result.exitCode == 0, "\(result)")
    }
}

@Suite struct SealEndToEndTests {
    @Test func everySpoolRowEndsInASegmentExactlyOnce() async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("seal")
            defer { data.remove() }
            try await snapRuns(fake, data, count: 12)
            let spool = try data.spoolLines()
            let result = try await runSeal(["--data-dir", data.root, "--flush", "--segment-minutes", "1"])
            #expect(result.exitCode == 0, "\(result)")
            #expect(result.stderr.contains("seal: sealed ") && result.stderr.contains("status=0"))
            #expect(data.files("spool").isEmpty)
            // In time order: files by name (their start), each file's rows as snap wrote them.
            let sealed = try await data.sealedLines()
            #expect(sealed == spool.keys.sorted().flatMap { spool[$0]! })
            let verify = try await runSeal(["verify", "--data-dir", data.root])
            #expect(verify.stdout.contains("ok ") && verify.stdout.contains("0 bad"))
        }
    }

    /// Issue acceptance (§3): seal SIGKILLed at random instants, re-run each time, converges to
    /// every row exactly once, nothing half-written under a final name.
    @Test func killedSealsConvergeWithoutLossOrDuplicates() async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("sealkill")
            defer { data.remove() }
            var expected: [String] = []
            var kills = 0
            // Kill moments are drawn from [0, reach): reach shrinks when runs finish first and
            // grows when they are killed, so kills keep landing inside runs however fast they are.
            var reach = 20_000
            var midWrite = [0, 0]
            let args = ["--data-dir", data.root, "--flush", "--segment-minutes", "1"]
            for cycle in 0..<killCycles {
                try await snapRuns(fake, data, count: Int.random(in: 5...25))
                let spool = try data.spoolLines()
                expected += spool.keys.sorted().flatMap { spool[$0]! }
                // First a kill timed from seal's progress, alternately while it writes the
                // segment and while it writes the manifest (the segment then under its final
                // name without one), so both happen whatever the timing; then kills at random
                // moments, then one run allowed to finish.
                let (first, landed) = try await runAndKillMidWrite(Paths.seal, args, temporaryDirectory: data.root + "/tmp", nth: cycle % 2 + 1)
                #expect(first.exitCode == nil || first.exitCode == 0, "\(first)")
                if landed {
                    kills += 1
                    midWrite[cycle % 2] += 1
                }
                // Bounded: a seal that never recovers fails the test rather than hanging it.
                for attempt in 0... {
                    guard attempt < 200 else { throw TestFailure("seal did not converge in 200 runs: \(data.files("spool").count) spool files left") }
                    let outcome = try await runAndKill(Paths.seal, args, after: .microseconds(Int.random(in: 0..<reach)))
                    if outcome.exitCode == nil {
                        kills += 1
                        reach = min(200_000, reach * 5 / 4)
                    } else {
                        reach = max(1000, reach * 3 / 4)
                    }
                    if outcome.exitCode == 0 && data.files("spool").isEmpty { break }
                    #expect(outcome.exitCode == nil || outcome.exitCode == 0, "\(outcome)")
                }
            }
            let sealed = try await data.sealedLines()
            #expect(sealed.count == expected.count)
            #expect(Set(sealed).count == sealed.count, "a row was sealed twice")
            #expect(Set(sealed) == Set(expected), "rows lost or invented")
            #expect(midWrite[0] > 0 && midWrite[1] > 0, "kills mid-write: \(midWrite[0]) in a segment, \(midWrite[1]) in a manifest")
            print("seal kill test: \(killCycles) cycles, \(expected.count) rows, \(kills) seals SIGKILLed (\(midWrite[0]) writing a segment, "
                  + "\(midWrite[1]) writing a manifest); every row sealed exactly once")
        }
    }

    @Test func oneSealAtATime() async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("seallock")
            defer { data.remove() }
            try await snapRuns(fake, data, count: 2)
            let before = data.files("spool")
            // flock(1) holds the lock: the seal inside it stops cleanly and seals nothing.
            let lock = data.root + "/state/seal.lock"
            let inner = try await run("/usr/bin/flock", ["-n", lock, Paths.seal, "--data-dir", data.root, "--flush"])
            #expect(inner.exitCode == 0 && inner.stderr.contains("another seal is running"), "\(inner)")
            #expect(data.files("spool") == before)
            // With --wait, seal blocks on the lock (the kernel's lock table shows it) and seals once it is free.
            let (waited, blocked) = try await runBlockedOnLock(lock, Paths.seal, ["--data-dir", data.root, "--flush", "--wait"]) {
                #expect(data.files("spool") == before, "seal went on while the lock was held")
            }
            #expect(blocked, "seal --wait never waited on the held lock")
            #expect(waited.exitCode == 0 && data.files("spool").isEmpty, "\(waited)")
        }
    }

    @Test func aDamagedSpoolFileIsQuarantinedAndSealingGoesOn() async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("sealbad")
            defer { data.remove() }
            try await snapRuns(fake, data, count: 4)
            let victim = data.files("spool")[1]
            #expect(truncate(data.root + "/spool/" + victim, 2000) == 0)
            let result = try await runSeal(["--data-dir", data.root, "--flush"])
            #expect(result.exitCode == 3, "\(result)")
            #expect(result.stderr.contains("quarantined spool/\(victim)"))
            #expect(data.files("quarantine") == [victim, victim + ".reason.json"])
            #expect(data.files("spool").isEmpty)
            let find = try await run("/usr/bin/find", [data.root + "/sealed", "-name", "*.manifest.json"])
            let manifest = try Manifest(decoding: try DurableFile.read(find.stdout.trimmingWhitespace) ?? [])
            #expect(manifest.sources.count == 3 && manifest.quarantined.map(\.name) == [victim])
            #expect(try await data.sealedLines().count == manifest.files[0].rows)
        }
    }

    @Test func verifyReportsEveryMismatch() async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("sealverify")
            defer { data.remove() }
            try await snapRuns(fake, data, count: 3)
            #expect(try await runSeal(["--data-dir", data.root, "--flush"]).exitCode == 0)
            let find = try await run("/usr/bin/find", [data.root + "/sealed", "-name", "*.jsonl.gz"])
            let segment = find.stdout.trimmingWhitespace
            let original = try DurableFile.read(segment) ?? []
            func damaged(_ bytes: [UInt8]) async throws -> ProcessOutcome {
                #expect(unlink(segment) == 0)
                let fd = open(segment, O_WRONLY | O_CREAT, 0o640)
                _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                close(fd)
                return try await runSeal(["verify", segment])
            }
            var flipped = original
            flipped[original.count / 2] ^= 0x01
            for (bytes, words) in [(flipped, "sha256"), (Array(original.prefix(original.count - 100)), "size"), (original + original, "size")] {
                let result = try await damaged(bytes)
                #expect(result.exitCode == 1 && result.stdout.contains("BAD") && result.stdout.contains(words), "\(result.stdout)")
            }
            #expect(try await damaged(original).exitCode == 0)
            let missing = try await runSeal(["verify", data.root + "/nowhere"])
            #expect(missing.exitCode == 1 && missing.stdout.contains("No such file"))
        }
    }

    @Test func aFullDiskFailsCleanlyAndKeepsTheSpool() async throws {
        try await withFakePolymarket { fake in
            let scratch = Scratch("sealfull")
            defer { scratch.remove() }
            let script = """
                set -u
                mkdir -p "$D"
                # Nothing runs unless the small filesystem is in place: the loop below would fill the real one.
                mount -t tmpfs -o size=1m tmpfs "$D" && mountpoint -q "$D" || { echo "no tmpfs at $D" >&2; exit 97; }
                for i in 1 2 3 4 5 6; do "$SNAP" --data-dir "$D/data" --clob-url "$URL" --gamma-url "$URL" 2>/dev/null; done
                ls "$D/data/spool" | sort > "$OUT/before"
                i=0; while [ "$i" -lt 4096 ] && dd if=/dev/zero of="$D/fill.$i" bs=4096 count=1 2>/dev/null; do i=$((i+1)); done
                "$SEAL" --data-dir "$D/data" --flush; echo "exit=$?"
                ls "$D/data/spool" | sort > "$OUT/after"
                ls "$D/data/tmp" | wc -l
                rm -f "$D"/fill.*
                "$SEAL" --data-dir "$D/data" --flush; echo "exit=$?"
                cp -a "$D/data" "$OUT/data"
                """
            let result = try await run("/usr/bin/unshare", ["--mount", "--map-root-user", "--propagation", "private", "/bin/sh", "-c", script],
                                       env: ["D": scratch.path + "/mnt", "OUT": scratch.path, "SNAP": Paths.snap, "SEAL": Paths.seal, "URL": fake.http])
            #expect(result.stdout.split(separator: "\n") == ["exit=73", "0", "exit=0"], "\(result.stdout)\n\(result)")
            #expect(result.stderr.contains("No space left on device") && result.stderr.contains("kept"))
            let before = try DurableFile.read(scratch.path + "/before") ?? []
            let after = try DurableFile.read(scratch.path + "/after") ?? []
            #expect(!before.isEmpty && before == after)
            let data = DataDir(path: scratch.path + "/data")
            #expect(data.files("spool").isEmpty)
            #expect(try await data.sealedLines().count > 0)
        }
    }

    /// seal cannot write `sealed/`: it fails on that directory, not before it, and keeps the spool.
    /// As root (CI), seal runs as nobody with everything but `sealed/` its own, the lock file the
    /// root run made included; otherwise that lock alone would fail the run before `sealed/`.
    @Test func unwritableSealedDirectoryKeepsTheSpool() async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("sealro")
            defer { data.remove() }
            try await snapRuns(fake, data, count: 2)
            #expect(try await runSeal(["--data-dir", data.root]).exitCode == 0)  // creates the directories and the lock
            let before = data.files("spool")
            #expect(!before.isEmpty && access(data.root + "/state/seal.lock", F_OK) == 0)
            let args = ["--data-dir", data.root, "--flush"]
            let result: ProcessOutcome
            if geteuid() == 0 {
                #expect(chmod(data.parent, 0o755) == 0)
                #expect(try await run("/bin/chown", ["-R", "65534:65534", data.root]).exitCode == 0)
                #expect(chown(data.root + "/sealed", 0, 0) == 0 && chmod(data.root + "/sealed", 0o555) == 0)
                result = try await run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--", Paths.seal] + args)
                #expect(try await run("/bin/chown", ["-R", "0:0", data.root]).exitCode == 0)
            } else {
                #expect(chmod(data.root + "/sealed", 0o555) == 0)
                result = try await runSeal(args)
            }
            #expect(chmod(data.root + "/sealed", 0o750) == 0)
            #expect(result.exitCode == 73 && result.stderr.contains("Permission denied") && result.stderr.contains(data.root + "/sealed/"), "\(result)")
            #expect(!result.stderr.contains("seal.lock"), "\(result)")
            #expect(data.files("spool") == before)
            #expect(try await runSeal(args).exitCode == 0)
            #expect(data.files("spool").isEmpty)
        }
    }
}
