import Glibc
import Subprocess
import SystemPackage
import Testing
@testable import OrderbooksCore

/// Kill cycles per remote: a few in CI, hundreds from scripts/soak (SHIP_KILL_CYCLES).
private let killCycles = ProcessEnvironment.current["ORDERBOOKS_SHIP_KILL_CYCLES"].flatMap(Int.init) ?? 12

/// Where the kill test ships to. Both write uploads in place on rclone 1.60 (rclone.md §2.7), so
/// a killed upload leaves a truncated file under the final name, which the next ship must repair.
enum KillRemote: String, Sendable, CaseIterable {
    /// rclone's local backend: the remote is a plain directory, md5 read from the file.
    case local
    /// `rclone serve sftp` on loopback, md5 from the server's md5sum.
    case sftp
}

/// A file of a sealed part as seal wrote it: ship and prune may copy it or delete it, never change it.
private struct Sealed: Equatable {
    var bytes: Int64
    var sha256: String
}

private struct KillPart {
    var day: String
    var name: String
    var window: SealWindow
    /// Paths below sealed/, the same below the remote root: the segment, then the manifest.
    var files: [String] { [day + "/" + name + SealWindow.segmentSuffix, day + "/" + name + SealWindow.manifestSuffix] }
}

/// When a run is SIGKILLed.
private enum Kill {
    /// Never: the run goes to its end.
    case never
    case after(Duration)
    /// Once the remote file (path below the remote root) holds some bytes: mid-upload, at a
    /// slow enough link, however long the run took to get there.
    case midUpload(String)
}

/// Issue acceptance (ship): ship and `ship prune --keep-days 0` SIGKILLed at random moments, with
/// their rclone or without it, against a real rclone remote; after every run nothing sealed is
/// lost, changed or wrongly marked, and a last clean ship and prune converge. The scenarios the
/// kills are for are each also made to happen once (`scenarios()`), and counted.
@Suite struct ShipKillTests {
    @Test(arguments: KillRemote.allCases)
    func killedShipsAndPrunesLoseNothing(_ kind: KillRemote) async throws {
        let world = ShipKillWorld(kind)
        var keep = false
        defer {
            world.killOrphans()
            if keep { print("ship kill test (\(kind.rawValue)): data kept in \(world.scratch.path)") } else { world.scratch.remove() }
        }
        do {
            try await world.start()
            try await world.scenarios()
            try await world.cycles()
            try await world.converge()
        } catch {
            keep = true
            await world.server?.stop()
            throw error
        }
        keep = world.broken > 0
        await world.server?.stop()
    }
}

/// One kill test's world: a data directory, the real snapshots its parts are made of, the remote
/// (its files seen directly on this disk), and what the test knows of every part ever sealed.
private final class ShipKillWorld {
    let kind: KillRemote
    let scratch = Scratch("shipkill")
    let data: DataDirectory
    private(set) var server: RcloneServer?
    /// The remote root as a directory here.
    private var remoteFiles = ""
    private var remote = ""
    private var environment: [String: String] = [:]
    private var pool: [String] = []
    private var parts: [KillPart] = []
    /// Every sealed file by its path below sealed/, as seal wrote it.
    private var expected: [String: Sealed] = [:]
    /// Verified receipts as first seen: ship never rewrites one; only prune may demote it.
    private var verifiedReceipts: [String: [UInt8]] = [:]
    private var digests: [String: (stamp: [Int], sealed: Sealed)] = [:]
    /// Process groups of killed ships whose rclone was left running.
    private var orphans: [pid_t] = []
    /// Kill moments are drawn from [0, reach) µs: reach shrinks when runs finish first and grows
    /// when they are killed, so kills keep landing inside runs however long they are.
    private var reach = (ship: 1_500_000, prune: 400_000)
    private var counts = (ships: 0, shipsKilled: 0, groupKills: 0, orphaned: 0, orphansKilled: 0, truncated: 0, repaired: 0,
                          met: 0, prunes: 0, prunesKilled: 0, demoted: 0, disturbed: 0)
    private(set) var broken = 0
    private var step = ""

    init(_ kind: KillRemote) {
        self.kind = kind
        data = DataDirectory(root: scratch.path + "/data")
    }

    /// Snapshots for the parts, the remote, and the environment ship runs with.
    func start() async throws {
        let poolData = scratch.path + "/pool"
        try await withFakePolymarket { fake in
            for _ in 0..<60 {
                let snap = try await runSnap(fake.arguments(dataDirectory: poolData, tls: false) + ["--collector-id", "pool"])
                #expect(snap.exitCode == 0, "\(snap)")
            }
        }
        pool = (DataDirectory.names(in: poolData + "/spool") ?? []).filter { $0.hasSuffix(".jsonl.gz") }.map { poolData + "/spool/" + $0 }
        #expect(pool.count == 60)
        // RCLONE_BWLIMIT stretches uploads over most of a run, so that kills land mid-transfer.
        environment = ["RCLONE_CONFIG": "/dev/null", "RCLONE_CACHE_DIR": scratch.path + "/rclone-cache", "RCLONE_RETRIES": "1",
                       "RCLONE_LOW_LEVEL_RETRIES": "1", "RCLONE_RETRIES_SLEEP": "0", "RCLONE_CONTIMEOUT": "5s", "RCLONE_TIMEOUT": "30s",
                       "RCLONE_BWLIMIT": "2M"]
        switch kind {
        case .local:
            remoteFiles = scratch.path + "/remote"
            remote = remoteFiles
        case .sftp:
            let server = RcloneServer(.sftp, name: "killsftp", directory: scratch.path + "/sftp", cache: scratch.path + "/sftp-cache")
            self.server = server
            try await server.start()
            let client = try await server.remote()
            environment.merge(client.environment) { $1 }
            remote = client.root
            remoteFiles = await server.served("archive")
        }
    }

    /// Each scenario the random kills are for, made to happen once: a ship SIGKILLed while its
    /// segment is partly on the remote (a bandwidth limit makes that last), with its rclone (a
    /// truncated file, which the next ship must replace) or without it (its rclone still sending,
    /// which the next ship must end before it looks at the remote); then a verified part's remote
    /// manifest deleted, which the next prune must notice and demote the receipt for.
    func scenarios() async throws {
        step = "scenarios"
        for group in [true, false] {
            let part = try await addPart(old: true, snapshots: 150)
            try await ship(.midUpload(part.files[0]), group: group)
            let leftover = liveOrphans()
            #expect(group || !leftover.isEmpty, "ship killed alone mid-upload: its rclone did not run on")
            // ship ends the leftover before it looks at the remote: nothing disturbs it, and the
            // leftover, slow enough to still be sending after the watch in ship(), is gone.
            let met = try await ship(.never)
            #expect(group || met.exitCode == 0, "the ship after one killed alone: \(met)")
            #expect(leftover.allSatisfy { members(ofGroup: $0).isEmpty }, "a ship left a killed ship's rclone running")
        }
        guard let part = parts.first(where: { verifiedReceipts[$0.name] != nil }) else { return fail("no part verified after two clean ships") }
        #expect(unlink(remoteFiles + "/" + part.files[1]) == 0)
        let (outcome, _) = try await runKilled(["prune", "--data-dir", data.root, "--remote", remote, "--keep-days", "0"], group: true, kill: .never)
        counts.prunes += 1
        #expect(outcome.exitCode == ExitStatus.mismatch.rawValue, "prune with a verified part's remote manifest gone: \(outcome)")
        try check("after a prune that found a verified part's remote manifest gone")
    }

    /// Each cycle: a new part or two, or now and then a backlog (as after an outage: more files
    /// than rclone's 4 transfers, so a leftover rclone still has some to start when the next ship
    /// runs); one ship killed at a random moment (or finishing); sometimes a prune killed the same
    /// way; every invariant checked after each run.
    func cycles() async throws {
        for cycle in 1...killCycles {
            step = "cycle \(cycle)"
            let new = Int.random(in: 0..<8) == 0 ? Int.random(in: 5...8) : Int.random(in: 1...2)
            for _ in 0..<new { try await addPart() }
            try await ship()
            if Bool.random() { try await prune() }
            // A reboot: whatever rclone a killed ship left behind dies mid-transfer too.
            if Int.random(in: 0..<4) == 0 { killOrphans() }
        }
    }

    /// One more part of real snapshots in an old window (days ago: prunable), a young one (days
    /// ahead: kept), or a young window sealed before (its part 2, 3...). seal files a snapshot by the
    /// time in its name, so pool files linked under names in that minute make a part of it, of
    /// some hundreds of KB, unlike any other part.
    @discardableResult
    private func addPart(old: Bool = Bool.random(), snapshots count: Int = Int.random(in: 40...150)) async throws -> KillPart {
        let now = Timestamp.now().seconds
        let young = parts.filter { $0.window.end.seconds > now + 3600 }
        let start = !old && Bool.random() && !young.isEmpty ? young.randomElement()!.window.start
            : Timestamp(seconds: (now + (old ? -1 : 1) * Int64.random(in: 86_400...20 * 86_400)) / 60 * 60)
        try DurableFile.makeDirectories(data.spool)
        for i in 0..<count {
            let at = Timestamp(microseconds: start.microseconds + Int64(i) * 59_000_000 / Int64(count))
            let name = "\(at.compact)_kill_\(String(UInt64.random(in: 0...UInt64.max), radix: 16).leftPadded(16)).jsonl.gz"
            #expect(link(pool.randomElement()!, data.spool + "/" + name) == 0)
        }
        let seal = try await runSeal(["--data-dir", data.root, "--segment-minutes", "1", "--grace-seconds", "0", "--flush", "--wait"])
        #expect(seal.exitCode == 0, "\(seal)")
        let window = SealWindow(start: start, minutes: 1, collector: "kill")
        let before = parts.count
        for name in DataDirectory.names(in: data.sealed + "/" + window.dayDirectory) ?? [] where name.hasSuffix(SealWindow.manifestSuffix) {
            let part = KillPart(day: window.dayDirectory, name: String(name.dropLast(SealWindow.manifestSuffix.count)), window: window)
            guard expected[part.files[1]] == nil else { continue }
            let manifest = try JSON.parse(try DurableFile.read(data.sealed + "/" + part.files[1]) ?? [])
            let file = manifest["files"]?.array?.first
            let segment = Sealed(bytes: Int64(file?["bytes"]?.intValue ?? -1), sha256: file?["sha256"]?.string ?? "")
            #expect(try digest(data.sealed + "/" + part.files[0]) == segment, "\(part.name): seal wrote a segment unlike its manifest")
            #expect(!expected.values.contains(segment), "\(part.name): same bytes as another part")
            expected[part.files[0]] = segment
            expected[part.files[1]] = try digest(data.sealed + "/" + part.files[1]) ?? Sealed(bytes: -1, sha256: "")
            parts.append(part)
        }
        guard parts.count == before + 1 else { throw TestFailure("seal made \(parts.count - before) new parts of \(count) snapshots, not one") }
        return parts[before]
    }

    /// One ship, killed at a random moment unless `kill` says otherwise.
    @discardableResult
    private func ship(_ kill: Kill? = nil, group: Bool = Int.random(in: 0..<3) != 0) async throws -> ProcessOutcome {
        let damaged = try remoteDamage()
        let crowded = !liveOrphans().isEmpty
        let random = kill == nil
        // The link's speed varies from run to run, so the rclone a killed ship leaves behind may
        // be outpaced by the next ship's; a kill mid-upload has a slow link, to see one.
        let bandwidth: [String: String] = switch kill {
        case nil: ["RCLONE_BWLIMIT": ["1M", "2M", "4M"].randomElement()!]
        case .midUpload?: ["RCLONE_BWLIMIT": "64k"]
        default: [:]
        }
        let (outcome, pgid) = try await runKilled(["--data-dir", data.root, "--remote", remote], group: group,
                                                  kill: kill ?? .after(.microseconds(Int.random(in: 0..<reach.ship))), env: bandwidth)
        counts.ships += 1
        if outcome.exitCode == nil {
            counts.shipsKilled += 1
            if random { reach.ship = min(20_000_000, reach.ship * 5 / 4) }
            if group {
                counts.groupKills += 1
            } else if !members(ofGroup: pgid).isEmpty {
                counts.orphaned += 1
                orphans.append(pgid)
            }
            if try remoteDamage().truncated.contains(where: { damaged.truncated[$0.key] != $0.value }) { counts.truncated += 1 }
        } else {
            if random { reach.ship = max(10_000, reach.ship * 3 / 4) }
            expectClean(outcome, "ship", crowded: crowded)
            if crowded { counts.met += 1 }
            // A run that succeeded verified every waiting part: the truncated files it found are whole.
            if outcome.exitCode == 0 { counts.repaired += try damaged.truncated.keys.filter { try remoteCopy($0) == expected[$0] }.count }
        }
        let when = "after a ship " + (outcome.exitCode.map { "that exited \($0)" } ?? (group ? "killed with its rclone" : "killed alone"))
        try check(when)
        // A leftover rclone may still open files this ship just verified: watch it for a while.
        for _ in 0..<20 where outcome.exitCode != nil && !liveOrphans().isEmpty {
            try await Task.sleep(for: .milliseconds(100))
            try check(when + ", while a killed ship's rclone still runs")
        }
        return outcome
    }

    private func prune() async throws {
        let crowded = !liveOrphans().isEmpty
        let (outcome, _) = try await runKilled(["prune", "--data-dir", data.root, "--remote", remote, "--keep-days", "0"], group: Bool.random(),
                                               kill: .after(.microseconds(Int.random(in: 0..<reach.prune))))
        counts.prunes += 1
        if outcome.exitCode == nil {
            counts.prunesKilled += 1
            reach.prune = min(20_000_000, reach.prune * 5 / 4)
        } else {
            reach.prune = max(10_000, reach.prune * 3 / 4)
            expectClean(outcome, "prune", crowded: crowded)
        }
        try check("after a prune \(outcome.exitCode.map { "that exited \($0)" } ?? "killed")")
    }

    /// A run that was not killed must succeed: the remote is healthy. Only when the rclone of a
    /// killed ship was still writing the same files as it started may it find a transfer cut
    /// (69) or a copy that does not verify (1); that is counted.
    private func expectClean(_ outcome: ProcessOutcome, _ what: String, crowded: Bool) {
        guard outcome.exitCode != 0 else { return }
        if crowded && [1, 69].contains(outcome.exitCode) {
            counts.disturbed += 1
        } else {
            fail("\(what) exited \(outcome.exitCode ?? -1)\(crowded ? "" : " with no other rclone running"): \(outcome.stderr)")
        }
    }

    /// The end: leftover rclones finish (or die), one clean ship verifies every part, and one clean
    /// prune deletes exactly the verified parts whose window has ended.
    func converge() async throws {
        step = "final"
        for _ in 0..<600 where !liveOrphans().isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        killOrphans()
        let last = try await runShip(["--data-dir", data.root, "--remote", remote], env: environment)
        #expect(last.exitCode == 0, "\(last)")
        try check("after the clean ship")
        for part in parts {
            let receipt = try DurableFile.read(data.receipts + "/" + part.day + "/" + part.name + DataDirectory.receiptSuffix).map { try JSON.parse($0) }
            #expect(receipt?["status"]?.string == "verified", "\(part.name): \(receipt.map { "\($0)" } ?? "no receipt")")
        }
        let before = Timestamp.now()
        let prune = try await runShip(["prune", "--data-dir", data.root, "--remote", remote, "--keep-days", "0"], env: environment)
        #expect(prune.exitCode == 0, "\(prune)")
        try check("after the clean prune")
        var pruned = 0
        for part in parts {
            let gone = part.files.map { access(data.sealed + "/" + $0, F_OK) != 0 }
            let record = access(data.receipts + "/" + part.day + "/" + part.name + ".pruned.json", F_OK) == 0
            if part.window.end <= before {
                #expect(gone == [true, true] && record, "\(part.name): old and verified, not pruned")
                pruned += 1
            } else {
                #expect(gone == [false, false] && !record, "\(part.name): young, pruned")
            }
        }
        #expect(Set(try filesUnder(remoteFiles)) == Set(parts.flatMap(\.files)), "the remote holds other files than the parts")
        let damage = try remoteDamage()
        #expect(damage.truncated.isEmpty && damage.other.isEmpty, "damaged on the remote after the clean ship: \(damage)")
        let c = counts
        // What the test is for happened, at least in scenarios().
        #expect(c.truncated > 0, "no killed ship left a truncated file on the remote")
        #expect(c.repaired > 0, "no ship repaired a truncated file")
        #expect(c.met > 0, "no ship ran while a killed ship's rclone still did")
        #expect(c.demoted > 0, "no prune demoted a receipt")
        print("ship kill test (\(kind.rawValue)): \(killCycles) cycles, \(c.shipsKilled) of \(c.ships) ships SIGKILLed "
              + "(\(c.groupKills) with their rclone, \(c.orphaned) leaving it running, \(c.orphansKilled) of those killed later; "
              + "\(c.truncated) left a truncated file under the final name, \(c.repaired) truncated files repaired by a later ship), "
              + "\(c.met) ships ran while a killed ship's rclone did, \(c.prunesKilled) of \(c.prunes) prunes SIGKILLed, "
              + "\(c.demoted) receipts demoted by prune, \(c.disturbed) runs upset by a leftover rclone; parts \(parts.count) "
              + "(\(pruned) old ones pruned, \(parts.count - pruned) young kept): "
              + (broken == 0 ? "every part verified once, nothing lost" : "\(broken) INVARIANTS BROKEN"))
    }

    // MARK: Invariants

    /// Checks everything that must hold between runs, even with a leftover rclone writing.
    private func check(_ when: String) throws {
        let receiptFiles = try filesUnder(data.receipts)
        var receipts: [String: JSONValue] = [:]
        var prunedRecords = Set<String>()
        let byName = Dictionary(uniqueKeysWithValues: parts.map { ($0.day + "/" + $0.name, $0) })
        for path in receiptFiles {
            let suffix = path.hasSuffix(DataDirectory.receiptSuffix) ? DataDirectory.receiptSuffix : path.hasSuffix(".pruned.json") ? ".pruned.json" : ""
            guard !suffix.isEmpty, let part = byName[String(path.dropLast(suffix.count))] else {
                fail("\(when): unexpected file receipts/\(path)")
                continue
            }
            let bytes = try DurableFile.read(data.receipts + "/" + path) ?? []
            guard let value = try? JSON.parse(bytes), value["kind"]?.string == (suffix == DataDirectory.receiptSuffix ? "receipt" : "pruned"),
                  value["part"]?.string == part.name else {
                fail("\(when): receipts/\(path) is torn or not a \(suffix) of \(part.name): \(String(decoding: bytes, as: UTF8.self))")
                continue
            }
            if suffix == DataDirectory.receiptSuffix {
                receipts[part.name] = value
                try checkReceipt(part, value, bytes, when)
            } else {
                prunedRecords.insert(part.name)
            }
        }
        for part in parts {
            let local = try part.files.map { try digest(data.sealed + "/" + $0) }
            for (file, sealed) in zip(part.files, local) where sealed != nil && sealed != expected[file] {
                fail("\(when): sealed/\(file) changed: \(sealed!), sealed as \(expected[file]!)")
            }
            let pruned = prunedRecords.contains(part.name)
            if local.contains(nil) && !pruned { fail("\(when): sealed file(s) of \(part.name) deleted without a .pruned.json") }
            if local.contains(nil) || pruned {
                if receipts[part.name]?["status"]?.string != "verified" { fail("\(when): \(part.name) pruned without a verified receipt") }
                if part.window.end > Timestamp.now() { fail("\(when): \(part.name) pruned before its window ended") }
                for file in part.files {
                    let copy = try remoteCopy(file)
                    if copy != expected[file] { fail("\(when): \(part.name) pruned, but the remote copy of \(file) is \(copy.map { "\($0)" } ?? "missing")") }
                }
            }
            // ship's order: a manifest reaches the remote only after its segment verified.
            if try remoteCopy(part.files[1]) == expected[part.files[1]], try remoteCopy(part.files[0]) != expected[part.files[0]] {
                fail("\(when): \(part.name): the remote has the manifest but not the whole segment")
            }
        }
        let known = Set(parts.flatMap(\.files))
        for path in try filesUnder(remoteFiles) where !known.contains(path) { fail("\(when): junk on the remote: \(path)") }
    }

    /// A receipt agrees with the manifest; a verified one with the remote too, and it stays as
    /// it is unless prune demotes it.
    private func checkReceipt(_ part: KillPart, _ receipt: JSONValue, _ bytes: [UInt8], _ when: String) throws {
        let files = receipt["files"]?.array ?? []
        let recorded = files.map { Sealed(bytes: Int64($0["bytes"]?.intValue ?? -1), sha256: $0["sha256"]?.string ?? "") }
        let status = receipt["status"]?.string ?? ""
        // Nothing local is ever damaged here, so nothing may be refused.
        guard ["verified", "failed"].contains(status) else { return fail("\(when): \(part.name): receipt says \(status): \(receipt)") }
        if recorded != part.files.map({ expected[$0]! }) {
            fail("\(when): \(part.name): the receipt's digests are not the manifest's: \(recorded)")
        }
        if let first = verifiedReceipts[part.name], first != bytes {
            if status == "failed" && receipt["error_class"]?.string == "verification" && (receipt["error"]?.string ?? "").contains("ship prune") {
                counts.demoted += 1
                verifiedReceipts[part.name] = nil
            } else {
                fail("\(when): \(part.name): a verified receipt was rewritten: now \(String(decoding: bytes, as: UTF8.self))")
            }
        }
        guard status == "verified" else { return }
        verifiedReceipts[part.name] = verifiedReceipts[part.name] ?? bytes
        if !files.allSatisfy({ $0["status"]?.string == "verified" && $0["remote_copies"]?.intValue == 1 }) {
            fail("\(when): \(part.name): a verified receipt with a file not verified once: \(receipt)")
        }
        for file in part.files {
            let copy = try remoteCopy(file)
            if copy != expected[file] { fail("\(when): \(part.name) verified, but the remote copy of \(file) is \(copy.map { "\($0)" } ?? "missing")") }
        }
    }

    /// Remote files under a part's name that are not (yet) the part's bytes, the shorter ones
    /// with their size: what killed uploads leave, and what the next ship repairs.
    private func remoteDamage() throws -> (truncated: [String: Int64], other: Set<String>) {
        var damage = (truncated: [String: Int64](), other: Set<String>())
        for path in try filesUnder(remoteFiles) {
            guard let want = expected[path], let have = try remoteCopy(path), have != want else { continue }
            if have.bytes < want.bytes { damage.truncated[path] = have.bytes } else { damage.other.insert(path) }
        }
        return damage
    }

    private func remoteCopy(_ file: String) throws -> Sealed? { try digest(remoteFiles + "/" + file) }

    /// Size and SHA-256 of a file (nil when there is none), hashed again only when its inode, size
    /// or times changed, so that hundreds of cycles over a growing remote stay quick.
    private func digest(_ path: String) throws -> Sealed? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw FileError("stat", path)
        }
        let stamp = [Int(info.st_ino), Int(info.st_size), info.st_mtim.tv_sec, info.st_mtim.tv_nsec, info.st_ctim.tv_sec, info.st_ctim.tv_nsec]
        if let known = digests[path], known.stamp == stamp { return known.sealed }
        do {
            let file = try FileDigests.of(path, md5: false)
            let sealed = Sealed(bytes: file.bytes, sha256: file.sha256)
            digests[path] = (stamp, sealed)
            return sealed
        } catch {
            guard error.code == ENOENT else { throw error }
            return nil  // deleted since the stat: a leftover rclone removing its failed copy
        }
    }

    private func fail(_ message: String) {
        broken += 1
        Issue.record("ship kill test (\(kind.rawValue)), \(step): \(message)")
    }

    // MARK: Processes

    /// Runs ship in a process group of its own, as systemd starts a service, and SIGKILLs it when
    /// `kill` says unless it finished first: the whole group (ship and its rclone, as systemd
    /// stopping the unit or a power cut does) or ship alone (kill -9 of its pid), its rclone left running.
    private func runKilled(_ arguments: [String], group: Bool, kill: Kill, env: [String: String] = [:]) async throws -> (ProcessOutcome, pid_t) {
        var options = PlatformOptions()
        options.processGroupID = 0
        let result = try await Subprocess.run(.path(FilePath(Paths.ship)), arguments: Arguments(arguments),
                                              environment: cleanEnvironment(environment.merging(env) { $1 }),
                                              platformOptions: options, input: .none, output: .discarded, error: .string(limit: 1 << 20)) { [remoteFiles] execution in
            switch kill {
            case .never: return
            case .after(let delay): try await Task.sleep(for: delay)
            case .midUpload(let file): try await written(remoteFiles + "/" + file)
            }
            try? execution.send(signal: .kill, toProcessGroup: group)
        }
        return (ProcessOutcome(status: result.terminationStatus, stdout: "", stderr: result.standardError), result.processIdentifier.value)
    }

    private func liveOrphans() -> [pid_t] {
        orphans = orphans.filter { !members(ofGroup: $0).isEmpty }
        return orphans
    }

    func killOrphans() {
        for group in liveOrphans() {
            kill(-group, SIGKILL)
            counts.orphansKilled += 1
        }
        orphans = []
    }
}

/// Live processes of a process group, zombies left out (nothing may reap them in a container).
private func members(ofGroup group: pid_t) -> [pid_t] {
    (DataDirectory.names(in: "/proc") ?? []).compactMap { name in
        guard let pid = pid_t(name), let stat = try? DurableFile.read("/proc/\(name)/stat"),
              let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        // "pid (comm) state ppid pgrp ...": comm may hold anything, so fields count from the last ')'.
        let fields = String(decoding: stat[(close + 1)...], as: UTF8.self).split(separator: " ")
        return fields.count > 2 && fields[0] != "Z" && pid_t(fields[2]) == group ? pid : nil
    }
}

/// Returns once the file at `path` holds some bytes, or after a minute (it never came).
private func written(_ path: String) async throws {
    for _ in 0..<30_000 {
        var info = stat()
        if stat(path, &info) == 0 && info.st_size > 0 { return }
        try await Task.sleep(for: .milliseconds(2))
    }
}

/// Paths of the files under a directory, relative to it; none when it does not exist.
private func filesUnder(_ directory: String) throws -> [String] {
    var files: [String] = []
    for name in DataDirectory.names(in: directory) ?? [] {
        var info = stat()
        guard lstat(directory + "/" + name, &info) == 0 else {
            if errno == ENOENT { continue }  // removed since the listing
            throw FileError("stat", directory + "/" + name)
        }
        if info.st_mode & S_IFMT == S_IFDIR {
            files += try filesUnder(directory + "/" + name).map { name + "/" + $0 }
        } else {
            files.append(name)
        }
    }
    return files
}
