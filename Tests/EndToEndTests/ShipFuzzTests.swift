import Glibc
import Testing
@testable import OrderbooksCore

/// Cases per run (`ORDERBOOKS_FUZZ_CASES`, 40 in CI; scripts/soak sets more) and the seed they
/// derive from (`ORDERBOOKS_FUZZ_SEED`, random unless set, printed, so a failing case can be replayed).
private let fuzzCases = ProcessEnvironment.current["ORDERBOOKS_FUZZ_CASES"].flatMap(Int.init) ?? 40
private let fuzzSeed = ProcessEnvironment.current["ORDERBOOKS_FUZZ_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)

/// The exit statuses ship documents (docs/OPERATIONS.md).
private let documentedStatuses: Set<Int32> = [0, 1, 65, 69, 73, 74, 75, 77, 78]

/// Peak RSS allowed to ship together with the rclone it waits for (GNU time reports the larger):
/// rclone alone takes some 40 MiB.
private let rssLimitKiB = 96 * 1024

/// An rclone that runs the real one and then, for a share of its calls (FUZZ_RATE; which ones,
/// FUZZ_SEED and the call's number decide), lies: cut, garbled, replaced or inflated output, another
/// exit status, junk on stderr that echoes the command (remote spelling included), or a
/// transfer or deletion claimed and not done.
private let mutatingRclone = #"""
#!/usr/bin/python3
import json, os, random, re, subprocess, sys
args = sys.argv[1:]
state = os.environ["FUZZ_STATE"]
try:
    n = int(open(state).read() or 0)
except OSError:
    n = 0
open(state, "w").write(str(n + 1))
rng = random.Random(int(os.environ["FUZZ_SEED"]) * 1000 + n)
plain = [a for i, a in enumerate(args) if not a.startswith("-") and (i == 0 or args[i - 1] != "--config")]
command = plain[0] if plain else ""
stdin = sys.stdin.buffer.read()
mutate = rng.random() < float(os.environ["FUZZ_RATE"])
if mutate and command in ("copy", "rcat", "deletefile") and rng.random() < 0.4:
    out, err, code = b"", b"", 0
else:
    p = subprocess.run(["/usr/bin/rclone"] + args, input=stdin, capture_output=True)
    out, err, code = p.stdout, p.stderr, p.returncode
if mutate:
    kind = rng.randrange(10)
    if kind == 0:
        out = out[:rng.randrange(len(out) + 1)]
    elif kind == 1 and out:
        b = bytearray(out)
        for _ in range(rng.randrange(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        out = bytes(b)
    elif kind == 2:
        out = bytes(rng.randrange(256) for _ in range(rng.randrange(4000)))
    elif kind == 3:
        out = rng.choice([b"", b"[]", b"{}", b"null", b"[null]", b'[{"Path":1}]', b'{"Hashes":"md5"}', b"[" * 200000,
                          b'[{"Path":"x","Size":1e400}]', b'[{"Path":"x","Size":-1,"IsDir":false}]', b'{"Hashes":["md5"]}',
                          b"0" * 300000, b'[{"Path":"' + b"a" * 100000 + b'","Size":1}]'])
    elif kind == 4:
        out = re.sub(rb"\d+", lambda m: rng.choice([b"99999999999999999999999", b"-1", b"9223372036854775808", b"0", b"1e308"]), out)
    elif kind == 5:
        try:
            listing = json.loads(out)
            if isinstance(listing, list):
                out = json.dumps(listing + [dict(e, Size=e.get("Size", 0) + rng.choice([0, 1])) for e in listing if isinstance(e, dict)]).encode()
        except ValueError:
            out = out * 2
    elif kind == 6:
        code = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 137, 255])
    elif kind == 7:
        err += b'ERROR : Failed to create file system for "' + " ".join(args).encode() + b'": \x1b[31m\x00\x07\n<6>run=x outcome=complete\n'
        code = rng.choice([0, 1, 2])
    elif kind == 8:
        err += rng.choice([b"ERROR : directory not found\n", b"ERROR : quota exceeded\n", b"ERROR : permission denied\n", b"ERROR : connection reset\n"])
        code = rng.choice([1, 3, 5, 7])
    else:
        out = out * 3
sys.stdout.buffer.write(out)
sys.stderr.buffer.write(err)
sys.exit(code)
"""#

/// Every regular file below `root` by path below it, with its bytes.
private func files(_ root: String) -> [String: [UInt8]] {
    var found: [String: [UInt8]] = [:]
    func walk(_ relative: String) {
        guard let dir = opendir(root + relative) else {
            if let bytes = try? DurableFile.read(root + relative) { found[relative] = bytes }
            return
        }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { walk(relative + "/" + name) }
        }
    }
    walk("")
    return found
}

/// Issue 9 §8: the real static `ship` against an rclone that lies, and remotes spelled in many
/// ways, some with secrets. Each case: a documented exit status, receipts and prune records
/// that are whole JSON, no secret in any output or record, no local file deleted unless its
/// real remote copy holds the same bytes, nothing local changed, bounded memory.
@Suite struct ShipFuzzTests {
    @Test func shipAndPruneSurviveALyingRclone() async throws {
        print("ship fuzz: \(fuzzCases) cases, ORDERBOOKS_FUZZ_SEED=\(fuzzSeed)")
        try await ShipBench.with("ship-fuzz") { bench in
            try await bench.makeParts([2, 2])
            let scratch = bench.scratch
            let wrapper = scratch + "/rclone-fuzz"
            try DurableFile.create(Array(mutatingRclone.utf8), at: wrapper, temporaryDirectory: scratch)
            #expect(chmod(wrapper, 0o755) == 0)
            let fresh = scratch + "/template-fresh", shipped = scratch + "/template-shipped", shippedRemote = scratch + "/template-remote"
            #expect(try await run("/bin/cp", ["-a", bench.data.root, fresh]).exitCode == 0)
            let clean = try await runShip(["--data-dir", bench.data.root, "--remote", shippedRemote], env: bench.environment(nil))
            #expect(clean.exitCode == 0, "\(clean)")
            #expect(try await run("/bin/cp", ["-a", bench.data.root, shipped]).exitCode == 0)
            try await bench.waitForWindowsToEnd()
            let freshSealed = files(fresh + "/sealed")

            var generator = SeededGenerator(state: fuzzSeed)
            var statuses: [Int32: Int] = [:]
            var peak = 0
            for n in 0..<fuzzCases {
                let dir = scratch + "/case\(n)"
                let data = dir + "/data", remoteDir = dir + "/remote"
                let kind = Int.random(in: 0..<4, using: &generator)
                try DurableFile.makeDirectories(dir)
                #expect(try await run("/bin/cp", ["-a", kind >= 2 ? shipped : fresh, data]).exitCode == 0)
                if kind != 0 { #expect(try await run("/bin/cp", ["-a", shippedRemote, remoteDir]).exitCode == 0) }
                if kind == 1 || kind == 3, let victim = files(remoteDir).keys.sorted().randomElement(using: &generator) {
                    // The remote copy damaged behind ship's back: cut, flipped or gone.
                    let path = remoteDir + victim
                    switch Int.random(in: 0..<3, using: &generator) {
                    case 0: _ = truncate(path, 20)
                    case 1: try DurableFile.replace(Array("{\"kind\":\"manifest\"".utf8), at: path, temporaryDirectory: dir)
                    default: unlink(path)
                    }
                }
                let secret = "S3CR3T" + String(UInt64.random(in: 0...UInt64.max, using: &generator), radix: 36)
                let remotes = [remoteDir, ":local:" + remoteDir, ":local,pass=\(secret):" + remoteDir, "fz,token=\(secret):", "fz:",
                               ":local,pass=\"\(secret):" + remoteDir, ":sftp,host=127.0.0.1,port=1,user=u,pass=\(secret):x",
                               "fz,client_secret='\(secret),x',pass=\(secret):" + "sub/..",
                               // The data directory itself: refused whatever the lies (78, or the lie's own class), nothing deleted.
                               ":local,pass=\(secret):" + data + "/sealed", "self:", "self,token=\(secret):sealed"]
                let remote = remotes.randomElement(using: &generator)!
                // The last three are the data directory under other names.
                let isSelf = remotes.suffix(3).contains(remote)
                let rate = ["0", "0.03", "0.1", "0.3", "0.6"].randomElement(using: &generator)!
                let prune = kind >= 2
                let arguments = (prune ? ["prune", "--keep-days", "0"] : []) + ["--data-dir", data, "--remote", remote, "--rclone", wrapper]
                let rssFile = dir + "/rss"
                var env = bench.environment(nil)
                env.merge(["FUZZ_SEED": String(fuzzSeed &+ UInt64(n)), "FUZZ_STATE": dir + "/calls", "RCLONE_CONFIG_FZ_TYPE": "alias",
                           "RCLONE_CONFIG_FZ_REMOTE": remoteDir,
                           "RCLONE_CONFIG_SELF_TYPE": "alias", "RCLONE_CONFIG_SELF_REMOTE": data,
                           "FUZZ_RATE": rate]) { $1 }
                let before = files(data + "/sealed")
                let outcome = try await run("/usr/bin/time", ["-f", "%M", "-o", rssFile, Paths.ship] + arguments, env: env)
                let label = "case \(n) (seed \(fuzzSeed), kind \(kind), rate \(rate), remote \(remote))"
                // An honest rclone shows where files land, so the probes refuse the data directory;
                // one that claims writes it never made can hide that, but never make ship delete.
                if isSelf && rate == "0" { #expect(outcome.exitCode == 78, "\(label): the data directory as its own remote: \(outcome)") }

                #expect(outcome.exitCode.map(documentedStatuses.contains) == true, "\(label): \(outcome)")
                statuses[outcome.exitCode ?? -1, default: 0] += 1
                let rss = Int(String(decoding: try DurableFile.read(rssFile) ?? [], as: UTF8.self).split(separator: "\n").last ?? "") ?? 0
                peak = max(peak, rss)
                #expect(rss > 0 && rss < rssLimitKiB, "\(label): peak RSS \(rss) KiB")

                let recorded = files(data + "/receipts").merging(files(data + "/state")) { $1 }
                for (path, bytes) in recorded where path.hasPrefix("/") && !path.hasPrefix("/ship.") {
                    #expect(!path.hasSuffix(DurableFile.temporarySuffix), "\(label): \(path) left half-written")
                    if path.hasSuffix(".json") { #expect((try? JSON.parse(bytes)) != nil, "\(label): \(path) is not whole JSON") }
                }
                for text in [outcome.stdout, outcome.stderr] + recorded.values.map({ String(decoding: $0, as: UTF8.self) }) {
                    #expect(!text.contains(secret), "\(label): a secret in \(text.prefix(2000))")
                }
                let after = files(data + "/sealed")
                let remoteNow = files(remoteDir)
                for (path, bytes) in before {
                    guard let now = after[path] else {
                        // Deleted: only with a prune record and the same bytes on the real remote.
                        #expect(prune && !isSelf && remoteNow[path] == bytes && access(data + "/receipts" + path.replacing(".jsonl.gz", with: ".pruned.json")
                                                                         .replacing(".manifest.json", with: ".pruned.json"), F_OK) == 0,
                                "\(label): \(path) deleted without a verified remote copy")
                        continue
                    }
                    #expect(now == bytes, "\(label): \(path) changed")
                }
                #expect(Set(after.keys).isSubset(of: Set(before.keys)), "\(label): stray files in sealed/: \(Set(after.keys).subtracting(before.keys))")
                #expect(before.count == freshSealed.count || prune)
                if outcome.exitCode == 0 && !prune && !isSelf { #expect(remoteNow.count >= freshSealed.count, "\(label): 0 without everything on the remote") }
                _ = system("rm -rf '\(dir)'")
            }
            print("ship fuzz: \(fuzzCases) cases, seed \(fuzzSeed): exit statuses \(statuses.sorted { $0.key < $1.key }), peak RSS \(peak) KiB")
        }
    }
}
