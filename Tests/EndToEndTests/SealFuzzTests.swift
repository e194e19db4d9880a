import Glibc
import Testing
@testable import OrderbooksCore

/// How many generated cases the fuzz test runs: a few in CI, many from scripts/soak.
private let fuzzCases = ProcessEnvironment.current["ORDERBOOKS_FUZZ_CASES"].flatMap(Int.init) ?? 40
/// The seed of the first case (printed, so a failure can be replayed).
private let fuzzSeed = ProcessEnvironment.current["ORDERBOOKS_FUZZ_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
/// The peak RSS no case may reach (issue 9 §5, §8).
let rssBoundKiB = 64 * 1024

/// A run with a time limit (a hang is SIGKILLed and reported, never waited for) and its peak RSS.
struct BoundedOutcome: CustomStringConvertible {
    var outcome: ProcessOutcome
    var maxRSSKiB: Int
    /// Exit 137: `timeout` killed it.
    var timedOut: Bool { outcome.exitCode == 137 }
    var exitCode: Int32? { outcome.exitCode }
    var description: String { "exit \(String(describing: outcome.exitCode)), \(maxRSSKiB) KiB\nstdout: \(outcome.stdout)\nstderr: \(outcome.stderr)" }
}

func runBounded(_ program: String, _ arguments: [String], seconds: Int = 60, env: [String: String] = [:]) async throws -> BoundedOutcome {
    // time(1) waits for timeout(1), which waits for the program: %M is the largest of them.
    let result = try await run("/usr/bin/time", ["-f", "maxrss=%M", "/usr/bin/timeout", "-s", "KILL", String(seconds), program] + arguments, env: env)
    let rss = result.stderr.split(separator: "\n").last(where: { $0.hasPrefix("maxrss=") }).flatMap { Int($0.dropFirst(7)) } ?? 0
    return BoundedOutcome(outcome: result, maxRSSKiB: rss)
}

/// Creates a file under a name given as raw bytes (not always UTF-8).
func createFile(_ directory: String, _ name: [UInt8], _ bytes: [UInt8]) {
    let path = Array((directory + "/").utf8) + name + [0]
    let fd = path.withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_WRONLY | O_CREAT | O_EXCL, 0o640) } }
    precondition(fd >= 0, "cannot create \(String(decoding: name, as: UTF8.self))")
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
}

/// Deterministic by seed (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Rows of one generated snapshot: unique lines (the file's tag and the row's number), so
/// each can be traced into the segments.
func syntheticRows(tag: String, startedAt: Timestamp, count: Int) -> [String] {
    (0..<count).map { i in
        #"{"kind":"book","schema":1,"run_id":"\#(tag)","collector":"c","received_at":"\#(startedAt.iso8601)","slug":"btc-updown-5m-1","token_id":"t\#(i)","book":{"bids":[]}}"#
    } + [#"{"kind":"run","schema":1,"run_id":"\#(tag)","started_at":"\#(startedAt.iso8601)","outcome":"complete"}"#]
}

func snapshotName(_ startedAt: Timestamp, collector: String, runId: String) -> String {
    "\(startedAt.compact)_\(collector)_\(runId).jsonl.gz"
}

/// What one spool entry was made as, to check where it went.
private struct Entry {
    var name: [UInt8]
    /// The valid rows in it, and whether every one must be sealed (an intact file, or damage
    /// that does not stop the reading); otherwise they may be, at most once.
    var rows: [String]
    var allSealed: Bool
    /// A regular file's bytes (nil for FIFOs, links, directories).
    var bytes: [UInt8]?
}

@Suite struct SealFuzzTests {
    /// Issue 9 §8: seal and seal verify on generated hostile spools.
    @Test func sealSurvivesHostileSpools() async throws {
        print("seal fuzz: \(fuzzCases) cases, seed \(fuzzSeed) (ORDERBOOKS_FUZZ_SEED=\(fuzzSeed) ORDERBOOKS_FUZZ_CASES=\(fuzzCases) replays them)")
        let outside = Scratch("fuzz-outside")
        defer { outside.remove() }
        for n in 0..<fuzzCases {
            let seed = fuzzSeed &+ UInt64(n)
            var rng = SeededGenerator(state: seed)
            let data = DataDir("fuzz")
            defer { data.remove() }
            try DurableFile.makeDirectories(data.root + "/spool")
            let spool = data.root + "/spool"
            let hourAgo = Timestamp(seconds: (Timestamp.now().seconds - 7200) / 3600 * 3600)
            var entries: [Entry] = []
            for i in 0..<Int.random(in: 1...6, using: &rng) {
                var startedAt = Timestamp(microseconds: hourAgo.microseconds + Int64.random(in: 0..<3_600_000_000, using: &rng))
                if Int.random(in: 0..<8, using: &rng) == 0 { startedAt = Timestamp(seconds: Timestamp.now().seconds + 86_400 * Int64.random(in: 1...3000, using: &rng)) }
                let collectors = ["c", "vps-1", "ünï", String(repeating: "k", count: 180), "a b", "c.d"]
                let collector = collectors[Int.random(in: 0..<collectors.count, using: &rng)]
                let runId = String(format16(UInt64(n) << 8 | UInt64(i)))
                var name = Array(snapshotName(startedAt, collector: collector, runId: runId).utf8)
                if Int.random(in: 0..<10, using: &rng) == 0 { name.insert(UInt8.random(in: 0x80...0xFF, using: &rng), at: 21) }
                var rows = syntheticRows(tag: runId, startedAt: startedAt, count: Int.random(in: 0...8, using: &rng))
                var lines = rows
                var allSealed = true
                var members = 1
                switch Int.random(in: 0..<16, using: &rng) {
                case 0: lines.insert("not json", at: Int.random(in: 0...lines.count, using: &rng))
                case 1: lines.insert(#"[1,2,{"kind":"run"}]"#, at: Int.random(in: 0...lines.count, using: &rng))
                case 2: lines.insert(#"{"kind":{"deep":[[[[]]]]},"slug":[0,0,0]}"#, at: Int.random(in: 0...lines.count, using: &rng))
                case 3:  // no run row
                    lines.removeLast()
                    rows.removeLast()
                case 4: members = 2
                case 5:
                    // A line longer than the maximum: what follows it is not read.
                    let at = Int.random(in: 0...lines.count, using: &rng)
                    lines.insert(String(repeating: "a", count: LineSplitter.maxLineBytes + 1), at: at)
                    allSealed = false
                default: break
                }
                let text = Array(lines.joined(separator: "\n").utf8) + (Int.random(in: 0..<12, using: &rng) == 0 ? [] : [0x0A])
                var bytes: [UInt8]
                if members == 2, text.count > 2 {
                    let cut = Int.random(in: 1..<text.count, using: &rng)
                    bytes = try Gzip.compress(Array(text[..<cut])) + Gzip.compress(Array(text[cut...]))
                } else {
                    bytes = try Gzip.compress(text)
                }
                switch Int.random(in: 0..<10, using: &rng) {
                case 0:
                    bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng)))  // truncated
                    // A cut at the very end, or a flip in the header's time or OS byte, damages nothing.
                    allSealed = allSealed && (try? Gzip.decompress(bytes)) == text
                case 1:
                    for _ in 0..<Int.random(in: 1...4, using: &rng) { bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng) }
                    allSealed = allSealed && (try? Gzip.decompress(bytes)) == text
                case 2:
                    bytes += (0..<Int.random(in: 1...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }  // trailing junk
                default: break
                }
                let nameText = String(decoding: name, as: UTF8.self)
                let path = spool + "/" + nameText
                let kind = Int.random(in: 0..<14, using: &rng)
                // Special files are made through a String path: under the repaired name.
                if kind < 5 { name = Array(nameText.utf8) }
                switch kind {
                case 0: #expect(mkfifo(path, 0o640) == 0); entries.append(Entry(name: name, rows: [], allSealed: true, bytes: nil))
                case 1: #expect(symlink("/dev/zero", path) == 0); entries.append(Entry(name: name, rows: [], allSealed: true, bytes: nil))
                case 2: #expect(symlink("/dev/null", path) == 0); entries.append(Entry(name: name, rows: [], allSealed: true, bytes: nil))
                case 3:
                    let target = outside.path + "/\(n)-\(i)"
                    createFile(outside.path, Array("\(n)-\(i)".utf8), bytes)
                    #expect(symlink(target, path) == 0)
                    entries.append(Entry(name: name, rows: [], allSealed: true, bytes: nil))
                case 4: #expect(mkdir(path, 0o750) == 0); entries.append(Entry(name: name, rows: [], allSealed: true, bytes: nil))
                default:
                    guard !entries.contains(where: { $0.name == name }) else { continue }
                    createFile(spool, name, bytes)
                    let decodable = String(validating: name, as: UTF8.self) != nil
                    entries.append(Entry(name: name, rows: decodable ? rows : [], allSealed: decodable && allSealed, bytes: bytes))
                }
            }
            let seal = try await runBounded(Paths.seal, ["--data-dir", data.root, "--flush"], seconds: 60)
            let context = "case \(n) (seed \(seed)): \(seal)"
            #expect(!seal.timedOut && [0, 3].contains(seal.exitCode ?? -1), "\(context)")
            #expect(seal.maxRSSKiB < rssBoundKiB, "\(context)")
            let verify = try await runBounded(Paths.seal, ["verify", "--data-dir", data.root], seconds: 60)
            #expect(verify.exitCode == 0 && verify.maxRSSKiB < rssBoundKiB, "case \(n) (seed \(seed)): verify \(verify)")
            // Every part complete: a segment for each manifest and back, each a sound gzip file.
            let find = try await run("/usr/bin/find", [data.root + "/sealed", "-type", "f"])
            let files = find.stdout.split(separator: "\n").map(String.init)
            let segments = files.filter { $0.hasSuffix(".jsonl.gz") }, manifests = files.filter { $0.hasSuffix(".manifest.json") }
            #expect(Set(segments.map { $0.dropLast(9) }) == Set(manifests.map { $0.dropLast(14) }), "case \(n): \(files)")
            var sealed: [String: Int] = [:]
            for segment in segments {
                #expect(try await run("/bin/gzip", ["-t", segment]).exitCode == 0, "case \(n): gzip -t \(segment)")
                for line in try Gzip.decompress(try DurableFile.read(segment) ?? []).split(separator: 0x0A) {
                    #expect((try? JSON.parse(Array(line))) != nil, "case \(n): a sealed line is not JSON")
                    sealed[String(decoding: line, as: UTF8.self), default: 0] += 1
                }
            }
            #expect(sealed.values.allSatisfy { $0 == 1 }, "case \(n) (seed \(seed)): a row sealed twice")
            // Nothing lost: spool empty; each entry's rows sealed, or the entry kept in
            // quarantine (a regular file byte for byte).
            #expect(data.files("spool").isEmpty && DataDirectory.listing(spool)?.undecodable.isEmpty == true, "case \(n): \(data.files("spool"))")
            let quarantine = data.root + "/quarantine/"
            for entry in entries {
                let kept = DataDirectory.quarantineName(forSpoolName: entry.name)
                var info = stat()
                let inQuarantine = lstat(quarantine + kept, &info) == 0
                let label = "case \(n) (seed \(seed)): \(String(decoding: entry.name, as: UTF8.self).prefix(80))"
                if inQuarantine, let bytes = entry.bytes {
                    #expect(try DurableFile.read(quarantine + kept) == bytes, "\(label): changed in quarantine")
                }
                if entry.allSealed {
                    #expect(entry.rows.allSatisfy { sealed[$0] == 1 }, "\(label): rows lost")
                } else {
                    #expect(inQuarantine, "\(label): damaged but not in quarantine")
                }
                #expect(inQuarantine || !entry.rows.isEmpty || entry.bytes != nil, "\(label): lost")
            }
        }
    }
}

private func format16(_ value: UInt64) -> String { String(value, radix: 16).leftPadded(16) }
