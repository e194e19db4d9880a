import Glibc
import Synchronization
import Testing
@testable import OrderbooksCore
@testable import OrderbooksShipping

/// Seconds the ship pipeline runs: two minutes in CI, ten and more from scripts.
private let pipelineSeconds = ProcessEnvironment.current["ORDERBOOKS_SHIP_PIPELINE_SECONDS"].flatMap(Int64.init) ?? 120

/// A sealed part as its manifest describes it; paths are relative to `sealed/` (and to the
/// remote root, which has the same layout).
struct SealedPart: Sendable {
    var day: String
    var name: String
    var bytes: Int
    var md5: String
    var sha256: String
    var windowEnd: Timestamp

    var segment: String { day + "/" + name + ".jsonl.gz" }
    var manifest: String { day + "/" + name + ".manifest.json" }
    var files: [String] { [segment, manifest] }
}

extension DataDir {
    /// The parts under sealed/, read from their manifests.
    func sealedParts() throws -> [SealedPart] {
        try (filesUnder(root + "/sealed") ?? []).filter { $0.hasSuffix(".manifest.json") }.sorted().map { relative in
            let manifest = try JSON.parse(try DurableFile.read(root + "/sealed/" + relative) ?? [])
            let file = manifest["files"]?.array?.first
            return SealedPart(day: String(relative.prefix(10)), name: String(relative.dropFirst(11).dropLast(".manifest.json".count)),
                              bytes: file?["bytes"]?.intValue ?? -1, md5: file?["md5"]?.string ?? "", sha256: file?["sha256"]?.string ?? "",
                              windowEnd: Timestamp.parse(manifest["window_end"]?.string ?? "") ?? Timestamp(microseconds: 0))
        }
    }

    func receipt(_ part: SealedPart, _ suffix: String = ".receipt.json") throws -> JSONValue? {
        try DurableFile.read(root + "/receipts/" + part.day + "/" + part.name + suffix).map { try JSON.parse($0) }
    }

    /// Every file under sealed/ (by path below it) with its SHA-256: what ship must never change.
    func sealedFiles() throws -> [String: String] { try fileDigests(under: root + "/sealed") }

    /// Every receipt file's bytes: a verified receipt is never rewritten.
    func receiptFiles() throws -> [String: [UInt8]] {
        try (filesUnder(root + "/receipts") ?? []).reduce(into: [:]) { $0[$1] = try DurableFile.read(root + "/receipts/" + $1) }
    }
}

/// The files under a directory by path below it, hidden ones too; nil when it does not exist.
/// Read here rather than with find(1): fewer processes in tests that already run many.
private func filesUnder(_ directory: String) -> Set<String>? {
    guard let dir = opendir(directory) else { return nil }
    defer { closedir(dir) }
    var files = Set<String>()
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        guard name != "." && name != ".." else { continue }
        if let inner = filesUnder(directory + "/" + name) { files.formUnion(inner.map { name + "/" + $0 }) } else { files.insert(name) }
    }
    return files
}

/// Every file under a directory (by path below it, hidden ones too) with its SHA-256; none when
/// the directory does not exist.
func fileDigests(under directory: String) throws -> [String: String] {
    try (filesUnder(directory) ?? []).reduce(into: [:]) { $0[$1] = try FileDigests.of(directory + "/" + $1).sha256 }
}

/// A receipt in one line, for failure messages.
private func summary(_ receipt: JSONValue?) -> String {
    guard let receipt else { return "no receipt" }
    let files = (receipt["files"]?.array ?? []).map { "\($0["name"]?.string ?? "?")=\($0["status"]?.string ?? "?")" }
    return "status=\(receipt["status"]?.string ?? "?") error_class=\(receipt["error_class"]?.string ?? "null") "
        + "method=\(receipt["method"]?.string ?? "null") files=\(files) error=\(receipt["error"]?.string ?? "null")"
}

/// A receipt's file entry in one line, for failure messages.
private func summary(file: JSONValue?) -> String {
    ["name", "status", "bytes", "remote_copies", "remote_bytes", "remote_md5", "remote_sha256"].map { key in
        "\(key)=" + (file?[key].map { $0.string ?? $0.intValue.map(String.init) ?? "null" } ?? "absent")
    }.joined(separator: " ")
}

/// The receipt has every field docs/FORMAT.md names, and its enumerations only the documented
/// values; one issue per receipt lists every difference.
private func expectDocumentedShape(_ receipt: JSONValue, _ name: String, sourceLocation: SourceLocation) {
    var problems = Set<String>()
    func require(_ object: JSONValue, _ keys: [String], in what: String) {
        for key in keys where object[key] == nil { problems.insert("\(what) lacks \(key)") }
    }
    func allow(_ value: JSONValue?, _ allowed: [String], as what: String) {
        if value != .null && !allowed.contains(value?.string ?? "") { problems.insert("\(what) \(value?.string ?? "absent") is not documented (docs/FORMAT.md)") }
    }
    require(receipt, ["kind", "schema", "part", "status", "error_class", "error", "remote", "method", "files", "warnings", "rclone_version",
                      "commands", "started_at", "finished_at", "ship_version", "command"], in: "the receipt")
    if receipt["schema"]?.intValue != 1 { problems.insert("schema is not 1") }
    allow(receipt["status"] ?? .string(""), ["verified", "failed", "refused"], as: "status")
    allow(receipt["error_class"], ShipFailure.allCases.map(\.rawValue), as: "error_class")
    allow(receipt["method"], ["remote-md5", "download-sha256"], as: "method")
    for file in receipt["files"]?.array ?? [] {
        require(file, ["role", "name", "local_path", "remote_path", "bytes", "sha256", "md5", "status", "remote_copies", "remote_bytes",
                       "remote_md5", "remote_sha256"], in: "a file")
        allow(file["status"] ?? .string(""), ["verified", "missing", "size_mismatch", "hash_mismatch", "duplicate", "no_hash", "not_checked",
                                              "local_mismatch", "unreadable"], as: "file status")
    }
    for command in receipt["commands"]?.array ?? [] { require(command, ["argv", "files_from", "exit_code", "started_at", "milliseconds", "stderr_tail"], in: "a command") }
    #expect(problems.isEmpty, "\(name): \(problems.sorted().joined(separator: "; "))", sourceLocation: sourceLocation)
}

/// One test's world: a data directory holding real sealed parts, the servers the test starts
/// (in the same scratch directory, stopped whatever happens), and ship run with rclone kept
/// quick and self-contained.
final class ShipBench: Sendable {
    let data: DataDir
    private let stops = Mutex<[@Sendable () async -> Void]>([])

    private init(_ label: String) { data = DataDir(label) }

    static func with(_ label: String, _ body: @Sendable (ShipBench) async throws -> Void) async throws {
        let bench = ShipBench(label)
        defer { bench.data.remove() }
        do {
            try await body(bench)
        } catch {
            await bench.stopAll()
            throw error
        }
        await bench.stopAll()
    }

    private func stopAll() async {
        for stop in stops.withLock({ $0 }) { await stop() }
    }

    var scratch: String { data.parent }

    func server(_ kind: RcloneServer.Kind, tmpfsSize: String? = nil) async throws -> RcloneServer {
        let name = kind.rawValue + "remote"
        let server = RcloneServer(kind, name: name, directory: scratch + "/" + name, cache: scratch + "/" + name + "-cache")
        stops.withLock { $0.append { await server.stop() } }
        try await server.start(tmpfsSize: tmpfsSize)
        return server
    }

    func proxy(inFrontOf upstream: Remote) async throws -> FaultProxy {
        let proxy = FaultProxy(name: "faulty", directory: scratch + "/proxy")
        stops.withLock { $0.append { await proxy.stop() } }
        try await proxy.start(upstream: upstream)
        return proxy
    }

    /// Real parts: for each count, that many `snap` runs against the fake Polymarket, then a
    /// `seal --flush` that makes them one part (each batch starts early enough in its minute).
    /// One sealed part per batch of `batches` snap runs, in windows of `segmentMinutes`.
    func makeParts(_ batches: [Int], segmentMinutes: Int64 = 1) async throws {
        try await withFakePolymarket { fake in
            let window = segmentMinutes * 60_000_000
            for count in batches {
                let now = Timestamp.now().microseconds
                let left = window - now % window
                // Room for every run in one window (one part): a snap run takes up to about 0.6 s on
                // a quiet machine, over a second on a loaded one (a batch of eight straddled a minute).
                let room = min(Int64(count) * 1_500_000, 50_000_000)
                if left < room + 3_000_000 { try await Task.sleep(for: .microseconds(left + 200_000)) }
                for _ in 0..<count {
                    let snap = try await runSnap(fake.arguments(dataDirectory: self.data.root, tls: false) + ["--collector-id", "ship"])
                    #expect(snap.exitCode == 0, "\(snap)")
                }
                let seal = try await runSeal(["--data-dir", self.data.root, "--segment-minutes", String(segmentMinutes),
                                              "--grace-seconds", "0", "--flush", "--wait"])
                #expect(seal.exitCode == 0, "\(seal)")
            }
        }
    }

    /// The environment ship runs with: `remote` defined for rclone, one attempt, short
    /// timeouts, no config file, rclone's cache in scratch.
    func environment(_ remote: Remote?) -> [String: String] {
        var environment = ["RCLONE_CONFIG": "/dev/null", "RCLONE_CACHE_DIR": scratch + "/rclone-cache", "RCLONE_RETRIES": "1",
                           "RCLONE_LOW_LEVEL_RETRIES": "1", "RCLONE_RETRIES_SLEEP": "0", "RCLONE_CONTIMEOUT": "5s", "RCLONE_TIMEOUT": "30s"]
        environment.merge(remote?.environment ?? [:]) { $1 }
        return environment
    }

    /// `ship <arguments> --data-dir D --remote R` (`arguments` first, so it may name `prune`).
    func ship(_ arguments: [String] = [], _ remote: Remote?, env: [String: String] = [:]) async throws -> ProcessOutcome {
        try await runShip(arguments + ["--data-dir", data.root] + (remote.map { ["--remote", $0.root] } ?? []),
                          env: environment(remote).merging(env) { $1 })
    }

    /// Sleeps until the windows of all parts have ended, so that `--keep-days 0` may prune them.
    func waitForWindowsToEnd() async throws {
        let end = try data.sealedParts().map(\.windowEnd.microseconds).max() ?? 0
        let wait = end - Timestamp.now().microseconds + 1_000_000
        if wait > 0 { try await Task.sleep(for: .microseconds(wait)) }
    }

    /// Each part's receipt says verified by `method`; it lists the segment and the manifest as
    /// verified, with the manifest's digests and the same digests read back from the remote;
    /// and the remote holds exactly the local bytes of both (hashed here, on the served side).
    func expectShipped(_ parts: [SealedPart], on server: RcloneServer, as remote: Remote, method: String,
                       sourceLocation: SourceLocation = #_sourceLocation) async throws {
        #expect(!parts.isEmpty, sourceLocation: sourceLocation)
        for part in parts {
            guard let receipt = try data.receipt(part) else {
                Issue.record("\(part.name): no receipt", sourceLocation: sourceLocation)
                continue
            }
            expectDocumentedShape(receipt, part.name, sourceLocation: sourceLocation)
            #expect(receipt["kind"]?.string == "receipt" && receipt["part"]?.string == part.name, sourceLocation: sourceLocation)
            #expect(receipt["status"]?.string == "verified" && receipt["error_class"] == .null && receipt["method"]?.string == method
                    && receipt["remote"]?.string == remote.root + "/" + part.day, "\(part.name): \(summary(receipt))", sourceLocation: sourceLocation)
            let files = receipt["files"]?.array ?? []
            #expect(files.map { $0["role"]?.string ?? "" } == ["segment", "manifest"], "\(part.name): \(summary(receipt))", sourceLocation: sourceLocation)
            for (file, relative) in zip(files, part.files) {
                let local = try FileDigests.of(data.root + "/sealed/" + relative)
                if relative == part.segment {
                    #expect(local.sha256 == part.sha256 && local.md5 == part.md5 && Int(local.bytes) == part.bytes, sourceLocation: sourceLocation)
                }
                #expect(file["name"]?.string == String(relative.dropFirst(11)) && file["status"]?.string == "verified"
                        && file["bytes"]?.intValue == Int(local.bytes) && file["sha256"]?.string == local.sha256 && file["md5"]?.string == local.md5
                        && file["remote_copies"]?.intValue == 1 && file["remote_bytes"]?.intValue == Int(local.bytes),
                        "\(summary(file: file))", sourceLocation: sourceLocation)
                let remoteDigest = method == "remote-md5" ? file["remote_md5"]?.string == local.md5 : file["remote_sha256"]?.string == local.sha256
                #expect(remoteDigest, "\(summary(file: file))", sourceLocation: sourceLocation)
                let served = await server.served("archive/" + relative)
                #expect(try DurableFile.read(served) == DurableFile.read(data.root + "/sealed/" + relative), "\(served) differs",
                        sourceLocation: sourceLocation)
                #expect(try FileDigests.of(served).md5 == local.md5, sourceLocation: sourceLocation)
            }
        }
    }

    /// A failed run: `status`, a line on stderr naming the trouble (one of `words`), each of
    /// `parts` with a receipt that says `receiptStatus` for `errorClass`, and sealed/ as before.
    func expectFailure(_ outcome: ProcessOutcome, _ status: Int32, mentioning words: [String], parts: [SealedPart],
                       receiptStatus: String = "failed", errorClass: String, sealed: [String: String],
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(outcome.exitCode == status, "\(outcome)", sourceLocation: sourceLocation)
        let lines = outcome.stderr.lowercased().split(separator: "\n")
        #expect(lines.contains { $0.contains("ship") && words.contains(where: $0.contains) }, "no line mentions \(words): \(outcome.stderr)",
                sourceLocation: sourceLocation)
        for part in parts {
            let receipt = try data.receipt(part)
            #expect(receipt?["status"]?.string == receiptStatus && receipt?["error_class"]?.string == errorClass,
                    "\(part.name): \(summary(receipt))", sourceLocation: sourceLocation)
            if let receipt { expectDocumentedShape(receipt, part.name, sourceLocation: sourceLocation) }
        }
        #expect(try data.sealedFiles() == sealed, "sealed files changed", sourceLocation: sourceLocation)
    }
}

func size(_ path: String) -> Int? {
    var info = stat()
    return stat(path, &info) == 0 ? Int(info.st_size) : nil
}

/// Flips one bit in the middle of a file, size unchanged; flipping again restores it.
func flipByte(_ path: String) {
    let fd = open(path, O_RDWR)
    defer { close(fd) }
    var byte: UInt8 = 0
    let offset = off_t((size(path) ?? 0) / 2)
    #expect(pread(fd, &byte, 1, offset) == 1)
    byte ^= 0x01
    #expect(pwrite(fd, &byte, 1, offset) == 1)
}

/// Issue §6/§7: ship against real `rclone serve sftp|webdav` on loopback, with the faults a
/// real remote has; each failure leaves local files alone and the next run converges.
@Suite struct ShipEndToEndTests {
    /// A remote with md5 (sftp, like Drive) is verified from one listing; one without (webdav)
    /// by downloading. A second run finds nothing to do and rewrites nothing.
    @Test(arguments: [RcloneServer.Kind.sftp, .webdav])
    func cleanRunVerifiesEveryPartAndReRunsAsANoOp(_ kind: RcloneServer.Kind) async throws {
        try await ShipBench.with("ship-clean-\(kind)") { bench in
            try await bench.makeParts([3, 2])
            let parts = try bench.data.sealedParts()
            #expect(parts.count >= 2)
            let sealed = try bench.data.sealedFiles()
            let server = try await bench.server(kind)
            let remote = try await server.remote()
            let first = try await bench.ship([], remote)
            #expect(first.exitCode == 0, "\(first)")
            try await bench.expectShipped(parts, on: server, as: remote, method: kind == .sftp ? "remote-md5" : "download-sha256")
            let served = await server.served("archive")
            #expect(filesUnder(served) == Set(parts.flatMap(\.files)), "the remote holds other files")

            // A re-upload would change the served files' ctime, a new receipt the receipt bytes.
            func changeTimes() -> [String: Int] {
                (filesUnder(served) ?? []).reduce(into: [:]) { times, name in
                    var info = stat()
                    #expect(stat(served + "/" + name, &info) == 0)
                    times[name] = info.st_ctim.tv_sec * 1_000_000_000 + info.st_ctim.tv_nsec
                }
            }
            let (receipts, times) = (try bench.data.receiptFiles(), changeTimes())
            #expect(receipts.count == parts.count)
            let again = try await bench.ship([], remote)
            #expect(again.exitCode == 0, "\(again)")
            #expect(try bench.data.receiptFiles() == receipts, "a verified receipt was rewritten")
            #expect(changeTimes() == times, "a verified file was sent again")
            #expect(try bench.data.sealedFiles() == sealed)
        }
    }

    /// With the remote down: 69, and segments are not re-read meanwhile; once it is back, a
    /// changed local file is refused (65) before anything is sent and the others ship; once that
    /// is put right, everything ships.
    @Test func unreachableRemoteIs69AndTheRunAfterItShipsEverything() async throws {
        try await ShipBench.with("ship-down") { bench in
            try await bench.makeParts([2, 2])
            let parts = try bench.data.sealedParts()
            #expect(parts.count >= 2)
            let sftp = try await bench.server(.sftp)
            let remote = try await sftp.remote()
            await sftp.stop()
            let down = try await bench.ship([], remote)
            try bench.expectFailure(down, 69, mentioning: ["refused", "unreachable", "connect"], parts: parts,
                                    errorClass: "unavailable", sealed: try bench.data.sealedFiles())

            let segment = bench.data.root + "/sealed/" + parts[0].segment
            flipByte(segment)
            let stillDown = try await bench.ship([], remote)
            try bench.expectFailure(stillDown, 69, mentioning: ["refused", "connect"], parts: parts,
                                    errorClass: "unavailable", sealed: try bench.data.sealedFiles())
            try await sftp.start()
            let back = try await bench.ship([], remote)
            try bench.expectFailure(back, 65, mentioning: ["local", "manifest", "match", "changed"], parts: [parts[0]],
                                    receiptStatus: "refused", errorClass: "local_integrity", sealed: try bench.data.sealedFiles())
            for part in parts.dropFirst() {
                let receipt = try bench.data.receipt(part)
                #expect(receipt?["status"]?.string == "verified", "\(summary(receipt))")
            }
            flipByte(segment)
            let repaired = try await bench.ship([], remote)
            #expect(repaired.exitCode == 0, "\(repaired)")
            try await bench.expectShipped(parts, on: sftp, as: remote, method: "remote-md5")
        }
    }

    @Test func wrongPasswordIs77() async throws {
        try await ShipBench.with("ship-auth") { bench in
            try await bench.makeParts([2])
            let parts = try bench.data.sealedParts()
            let sealed = try bench.data.sealedFiles()
            let sftp = try await bench.server(.sftp)
            let refused = try await bench.ship([], try await sftp.remote(password: "not-the-password"))
            try bench.expectFailure(refused, 77, mentioning: ["auth", "password", "permission"], parts: parts,
                                          errorClass: "auth", sealed: sealed)
            #expect(await filesUnder(sftp.served("archive")) == nil)
            let remote = try await sftp.remote()
            let fixed = try await bench.ship([], remote)
            #expect(fixed.exitCode == 0, "\(fixed)")
            try await bench.expectShipped(parts, on: sftp, as: remote, method: "remote-md5")
        }
    }

    /// A remote whose disk is full: sftp over a 16 KiB tmpfs. Served again from a plain
    /// directory on the same port, as after the operator made room.
    @Test func fullRemoteDiskIs75() async throws {
        try await ShipBench.with("ship-full") { bench in
            // Eight snapshots: four made a part just over 16 KiB, and on a loaded machine (fewer books) under it.
            try await bench.makeParts([8])
            let parts = try bench.data.sealedParts()
            #expect(parts.allSatisfy { $0.bytes > 16 << 10 })
            let sealed = try bench.data.sealedFiles()
            let sftp = try await bench.server(.sftp, tmpfsSize: "16k")
            let remote = try await sftp.remote()
            let full = try await bench.ship([], remote)
            try bench.expectFailure(full, 75, mentioning: ["space", "quota", "full"], parts: parts, errorClass: "quota", sealed: sealed)
            await sftp.stop()
            try await sftp.start()
            let roomy = try await bench.ship([], remote)
            #expect(roomy.exitCode == 0, "\(roomy)")
            try await bench.expectShipped(parts, on: sftp, as: remote, method: "remote-md5")
        }
    }

    /// What an HTTP remote answers when it throttles, is full, refuses the login, is down or
    /// drops the upload (webdav behind the fault proxy), and then a clean run through the same proxy.
    @Test func httpRefusalsHaveTheirOwnStatus() async throws {
        try await ShipBench.with("ship-http") { bench in
            try await bench.makeParts([2])
            let parts = try bench.data.sealedParts()
            let sealed = try bench.data.sealedFiles()
            let webdav = try await bench.server(.webdav)
            let proxy = try await bench.proxy(inFrontOf: try await webdav.remote())
            let remote = await proxy.remote
            let cases: [(fault: String, status: Int32, words: [String], errorClass: String)] = [
                (#"{"mode":"fail_puts","status":429,"retry_after":1}"#, 75, ["429", "rate", "quota"], "quota"),
                (#"{"mode":"fail_puts","status":507}"#, 75, ["507", "storage", "quota", "space"], "quota"),
                (#"{"mode":"fail_all","status":401}"#, 77, ["401", "auth"], "auth"),
                (#"{"mode":"fail_all","status":403}"#, 77, ["403", "auth", "permission", "forbidden"], "auth"),
                (#"{"mode":"fail_all","status":503}"#, 69, ["503", "unavailable"], "unavailable"),
                (#"{"mode":"drop_put_after","bytes":4096}"#, 69, ["eof", "connection", "unavailable"], "unavailable"),
            ]
            for fault in cases {
                try await proxy.set(fault.fault)
                let outcome = try await bench.ship([], remote)
                try bench.expectFailure(outcome, fault.status, mentioning: fault.words, parts: parts, errorClass: fault.errorClass, sealed: sealed)
            }
            try await proxy.set("{}")
            let clean = try await bench.ship([], remote)
            #expect(clean.exitCode == 0, "\(clean)")
            try await bench.expectShipped(parts, on: webdav, as: remote, method: "download-sha256")
        }
    }

    /// The sftp server SIGKILLed while the segment is half sent (rclone slowed to 100 kB/s;
    /// the served file grows in steps of 124 KiB, 252 KiB, ..., hence a segment of some 300 KB):
    /// rclone 1.60 leaves the truncated file under its final name, and the run after the outage
    /// must replace it.
    @Test func connectionDroppedMidUploadIs69AndTheTruncatedFileIsReplaced() async throws {
        try await ShipBench.with("ship-cut") { bench in
            // An hour's window: 60 runs under load can outlast a minute and split into two small parts.
            try await bench.makeParts([60], segmentMinutes: 60)
            let parts = try bench.data.sealedParts()
            #expect(parts.contains { $0.bytes > 200_000 }, "\(parts)")
            let sealed = try bench.data.sealedFiles()
            let sftp = try await bench.server(.sftp)
            let remote = try await sftp.remote()
            async let cut = bench.ship([], remote, env: ["RCLONE_BWLIMIT": "100k"])
            var truncated: (path: String, bytes: Int)?
            for _ in 0..<1000 where truncated == nil {
                for part in parts {
                    let served = await sftp.served("archive/" + part.segment)
                    if let bytes = size(served), bytes > 0, bytes < part.bytes { truncated = (served, part.bytes) }
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            await sftp.stop(.kill)
            let outcome = try await cut
            let victim = try #require(truncated, "no segment was seen half sent: \(outcome)")
            #expect(size(victim.path).map { $0 > 0 && $0 < victim.bytes } == true, "rclone no longer leaves the partial file")
            try bench.expectFailure(outcome, 69, mentioning: ["connection", "lost", "eof", "unavailable"], parts: parts,
                                          errorClass: "unavailable", sealed: sealed)
            try await sftp.start()
            let again = try await bench.ship([], remote)
            #expect(again.exitCode == 0, "\(again)")
            try await bench.expectShipped(parts, on: sftp, as: remote, method: "remote-md5")
        }
    }

    /// A bit flipped in every PUT: rclone says all is well (webdav has no hash to compare),
    /// ship's download check does not. The manifest is never sent after a bad segment.
    @Test func corruptionInFlightIs1AndRepairedOnceItStops() async throws {
        try await ShipBench.with("ship-corrupt") { bench in
            try await bench.makeParts([2])
            let parts = try bench.data.sealedParts()
            let sealed = try bench.data.sealedFiles()
            let webdav = try await bench.server(.webdav)
            let proxy = try await bench.proxy(inFrontOf: try await webdav.remote())
            let remote = await proxy.remote
            try await proxy.set(#"{"mode":"corrupt_put"}"#)
            let corrupt = try await bench.ship([], remote)
            try bench.expectFailure(corrupt, 1, mentioning: ["verif", "mismatch", "sha256", "differ"], parts: parts,
                                          errorClass: "verification", sealed: sealed)
            for part in parts {
                let segment = try bench.data.receipt(part)?["files"]?.array?.first { $0["role"]?.string == "segment" }
                #expect(segment?["status"]?.string == "hash_mismatch" && segment?["remote_sha256"]?.string != part.sha256, "\(summary(file: segment))")
                #expect(size(await webdav.served("archive/" + part.manifest)) == nil, "\(part.name): manifest sent after a bad segment")
            }
            try await proxy.set("{}")
            let clean = try await bench.ship([], remote)
            #expect(clean.exitCode == 0, "\(clean)")
            try await bench.expectShipped(parts, on: webdav, as: remote, method: "download-sha256")
        }
    }

    /// Remote files damaged after they verified (one segment bit-flipped, one manifest cut
    /// short): prune finds out from a fresh listing, keeps those parts and demotes their
    /// receipts; ship sends them again; then prune deletes everything local, receipts stay.
    @Test func pruneRefusesWhatTheRemoteNoLongerHoldsAndShipRepairsIt() async throws {
        try await ShipBench.with("ship-prune-bad") { bench in
            try await bench.makeParts([2, 2, 2])
            let parts = try bench.data.sealedParts()
            #expect(parts.count >= 3)
            let sftp = try await bench.server(.sftp)
            let remote = try await sftp.remote()
            #expect(try await bench.ship([], remote).exitCode == 0)
            try await bench.waitForWindowsToEnd()
            let (flipped, cut, intact) = (parts[0], parts[1], Array(parts[2...]))
            flipByte(await sftp.served("archive/" + flipped.segment))
            let manifest = await sftp.served("archive/" + cut.manifest)
            #expect(truncate(manifest, off_t(size(manifest)! - 10)) == 0)
            let sealed = try bench.data.sealedFiles()

            let refused = try await bench.ship(["prune", "--keep-days", "0"], remote)
            try bench.expectFailure(refused, 1, mentioning: ["verif", "mismatch", "differ", "md5", "size"], parts: [flipped, cut],
                                          errorClass: "verification", sealed: sealed.filter { path, _ in !intact.flatMap(\.files).contains(path) })
            for part in [flipped, cut] {
                #expect(try bench.data.receipt(part, ".pruned.json") == nil)
                #expect(part.files.allSatisfy { size(bench.data.root + "/sealed/" + $0) != nil })
            }
            for part in intact {
                #expect(try bench.data.receipt(part, ".pruned.json")?["kind"]?.string == "pruned", "\(part.name) was not pruned")
                #expect(part.files.allSatisfy { size(bench.data.root + "/sealed/" + $0) == nil })
            }

            let repaired = try await bench.ship([], remote)
            #expect(repaired.exitCode == 0, "\(repaired)")
            try await bench.expectShipped([flipped, cut], on: sftp, as: remote, method: "remote-md5")
            let pruned = try await bench.ship(["prune", "--keep-days", "0"], remote)
            #expect(pruned.exitCode == 0, "\(pruned)")
            for part in parts {
                #expect(try bench.data.receipt(part, ".pruned.json")?["kind"]?.string == "pruned", "\(part.name) was not pruned")
                #expect(try bench.data.receipt(part)?["status"]?.string == "verified", "\(part.name): the receipt went")
                #expect(part.files.allSatisfy { size(bench.data.root + "/sealed/" + $0) == nil }, "\(part.name) still on disk")
            }
            #expect(await filesUnder(sftp.served("archive")) == Set(parts.flatMap(\.files)), "prune touched the remote")
        }
    }

    /// Prune deletes only parts that are verified and old enough, never in a dry run, and
    /// never what ship has not sent yet (here over webdav: a downloaded sha256 listing).
    @Test func pruneKeepsYoungUnverifiedAndDryRunParts() async throws {
        try await ShipBench.with("ship-prune") { bench in
            try await bench.makeParts([2, 2])
            let webdav = try await bench.server(.webdav)
            let remote = try await webdav.remote()
            #expect(try await bench.ship([], remote).exitCode == 0)
            let shipped = try bench.data.sealedParts()
            try await bench.makeParts([2])
            let parts = try bench.data.sealedParts()
            let unshipped = parts.filter { part in !shipped.contains { $0.name == part.name && $0.day == part.day } }
            #expect(!unshipped.isEmpty)
            let sealed = try bench.data.sealedFiles()

            let young = try await bench.ship(["prune"], remote, env: ["ORDERBOOKS_KEEP_DAYS": "1"])
            #expect(young.exitCode == 0, "\(young)")
            #expect(try bench.data.sealedFiles() == sealed, "prune deleted a part younger than a day")
            try await bench.waitForWindowsToEnd()
            let dry = try await bench.ship(["prune", "--keep-days", "0", "--dry-run"], remote)
            #expect(dry.exitCode == 0, "\(dry)")
            #expect(try bench.data.sealedFiles() == sealed, "a dry run deleted files")
            #expect(try bench.data.receipt(shipped[0], ".pruned.json") == nil)

            let pruned = try await bench.ship(["prune", "--keep-days", "0"], remote)
            #expect(pruned.exitCode == 0, "\(pruned)")
            for part in shipped {
                #expect(try bench.data.receipt(part, ".pruned.json")?["kind"]?.string == "pruned", "\(part.name) was not pruned")
                #expect(part.files.allSatisfy { size(bench.data.root + "/sealed/" + $0) == nil }, "\(part.name) still on disk")
            }
            for part in unshipped {
                #expect(try bench.data.receipt(part, ".pruned.json") == nil)
                #expect(part.files.allSatisfy { sealed[$0] == (try? FileDigests.of(bench.data.root + "/sealed/" + $0).sha256) },
                        "\(part.name) was never shipped, yet prune touched it")
            }
        }
    }

    /// A segment changed after sealing is refused and never sent; the other parts still ship.
    @Test func aLocalFileChangedAfterSealingIs65AndNotSent() async throws {
        try await ShipBench.with("ship-local") { bench in
            try await bench.makeParts([2, 2])
            let parts = try bench.data.sealedParts()
            #expect(parts.count >= 2)
            let sftp = try await bench.server(.sftp)
            let remote = try await sftp.remote()
            let segment = bench.data.root + "/sealed/" + parts[0].segment
            flipByte(segment)
            let sealed = try bench.data.sealedFiles()
            let refused = try await bench.ship([], remote)
            try bench.expectFailure(refused, 65, mentioning: ["local", "manifest", "sha256", "match", "changed"], parts: [parts[0]],
                                          receiptStatus: "refused", errorClass: "local_integrity", sealed: sealed)
            let served = await filesUnder(sftp.served("archive")) ?? []
            #expect(served == Set(parts.dropFirst().flatMap(\.files)), "remote holds \(served.sorted())")
            try await bench.expectShipped(Array(parts.dropFirst()), on: sftp, as: remote, method: "remote-md5")

            flipByte(segment)
            let restored = try await bench.ship([], remote)
            #expect(restored.exitCode == 0, "\(restored)")
            try await bench.expectShipped(parts, on: sftp, as: remote, method: "remote-md5")
        }
    }

    @Test func configurationErrorsAre78AndBadFlags64() async throws {
        try await ShipBench.with("ship-config") { bench in
            try await bench.makeParts([2])
            let parts = try bench.data.sealedParts()
            let sealed = try bench.data.sealedFiles()
            let sftp = try await bench.server(.sftp)
            let remote = try await sftp.remote()
            let missing = try await bench.ship(["--rclone", "/nonexistent/rclone"], remote)
            try bench.expectFailure(missing, 78, mentioning: ["rclone"], parts: parts, errorClass: "configuration", sealed: sealed)
            let noRemote = try await bench.ship([], nil)
            #expect(noRemote.exitCode == 78 && noRemote.stderr.contains("remote"), "\(noRemote)")
            let badConfig = try await bench.ship(["--rclone-config", bench.scratch + "/no-such-rclone.conf"], remote)
            #expect(badConfig.exitCode == 78 && badConfig.stderr.contains("no-such-rclone.conf"), "\(badConfig)")
            #expect(try await bench.ship(["--no-such-flag"], remote).exitCode == 64)
            #expect(await filesUnder(sftp.served("archive")) == nil)
            #expect(try bench.data.sealedFiles() == sealed)
            // The same run, configured right (and the config file given by flag), ships.
            let fixed = try await bench.ship(["--rclone-config", "/dev/null"], remote)
            #expect(fixed.exitCode == 0, "\(fixed)")
            try await bench.expectShipped(parts, on: sftp, as: remote, method: "remote-md5")
        }
    }

    /// A dry run lists what it would send, checks the local files, and runs no rclone (an
    /// rclone that logs its calls says so) and writes nothing.
    @Test func dryRunListsUploadsAndTouchesNothing() async throws {
        try await ShipBench.with("ship-dry") { bench in
            try await bench.makeParts([2])
            let parts = try bench.data.sealedParts()
            let sealed = try bench.data.sealedFiles()
            let sftp = try await bench.server(.sftp)
            let remote = try await sftp.remote()
            let spy = bench.scratch + "/rclone-spy"
            try DurableFile.create(Array("#!/bin/sh\necho \"$@\" >> '\(spy).log'\nexec /usr/bin/rclone \"$@\"\n".utf8), at: spy, temporaryDirectory: bench.scratch)
            #expect(chmod(spy, 0o755) == 0)
            let dry = try await bench.ship(["--dry-run", "--rclone", spy], remote)
            #expect(dry.exitCode == 0, "\(dry)")
            let lines = dry.stdout.split(separator: "\n").filter { $0.hasPrefix("would upload ") }
            #expect(lines.count == parts.count * 2, "\(dry.stdout)")
            for part in parts {
                for file in part.files {
                    let bytes = size(bench.data.root + "/sealed/" + file)!
                    #expect(lines.contains { $0 == "would upload \(bench.data.root)/sealed/\(file) -> \(remote.root)/\(file) (\(bytes) bytes)" },
                            "\(file) missing from: \(dry.stdout)")
                }
            }
            #expect(size(spy + ".log") == nil, "a dry run ran rclone")
            #expect(try bench.data.receiptFiles().isEmpty)
            #expect(await filesUnder(sftp.served("archive")) == nil)

            flipByte(bench.data.root + "/sealed/" + parts[0].segment)
            let refused = try await bench.ship(["--dry-run"], remote, env: ["ORDERBOOKS_RCLONE": spy])
            // The dry run's report is on stdout, with the lines it would upload.
            #expect(refused.exitCode == 65 && (refused.stdout + refused.stderr).contains(parts[0].name), "\(refused.stdout)\n\(refused)")
            #expect(size(spy + ".log") == nil)
            #expect(try bench.data.receiptFiles().isEmpty)
            #expect(try bench.data.sealedFiles().count == sealed.count)
        }
    }

    /// While flock(1) holds ship's lock, ship leaves at once with 0. With --wait it blocks on the
    /// lock (the kernel's lock table shows it waiting), ships nothing until the lock is released,
    /// then ships (configured by the environment alone this time).
    @Test func oneShipAtATime() async throws {
        try await ShipBench.with("ship-lock") { bench in
            try await bench.makeParts([2])
            let parts = try bench.data.sealedParts()
            let sftp = try await bench.server(.sftp)
            let remote = try await sftp.remote()
            // flock(1) holds the lock while a plain ship runs: it leaves at once, shipping nothing.
            let lock = bench.data.root + "/state/ship.lock"
            let inner = try await run("/usr/bin/flock", ["-n", lock, Paths.ship, "--data-dir", bench.data.root, "--remote", remote.root],
                                      env: bench.environment(remote))
            #expect(inner.exitCode == 0 && inner.stderr.contains("another"), "\(inner)")
            #expect(try parts.allSatisfy { try bench.data.receipt($0) == nil })

            let environment = bench.environment(remote).merging(["ORDERBOOKS_DATA_DIR": bench.data.root, "ORDERBOOKS_REMOTE": remote.root]) { $1 }
            let (waited, blocked) = try await runBlockedOnLock(lock, Paths.ship, ["--wait"], env: environment) {
                let receipts = try parts.compactMap { try bench.data.receipt($0) }
                #expect(receipts.isEmpty, "ship went on while the lock was held")
            }
            #expect(blocked, "ship --wait never waited on the held lock")
            #expect(waited.exitCode == 0, "\(waited)")
            try await bench.expectShipped(parts, on: sftp, as: remote, method: "remote-md5")
        }
    }
}

private func sleep(until instant: Int64) async throws {
    let wait = instant - Timestamp.now().microseconds
    if wait > 0 { try await Task.sleep(for: .microseconds(wait)) }
}

/// The next instant (µs) that is `offset` µs past a whole minute.
private func nextMinute(at offset: Int64) -> Int64 {
    let now = Timestamp.now().microseconds
    let next = now - now % 60_000_000 + offset
    return next > now ? next : next + 60_000_000
}

private let sealEveryMinute = ["--segment-minutes", "1", "--grace-seconds", "10"]

/// The pipeline's three timers and its outage, each until `deadline` (µs).
private enum Pipeline {
    /// snap on each whole second.
    static func snaps(_ fake: FakePolymarket, _ data: DataDir, until deadline: Int64) async throws -> Int {
        var runs = 0
        while Timestamp.now().microseconds < deadline {
            try await Task.sleep(for: .microseconds(1_000_000 - Timestamp.now().microseconds % 1_000_000))
            let outcome = try await runSnap(fake.arguments(dataDirectory: data.root, tls: false) + ["--collector-id", "shipsoak"])
            #expect(outcome.exitCode == 0, "\(outcome)")
            runs += 1
        }
        return runs
    }

    /// The minute (µs) of the last seal run that finished, so a ship run of the same minute can
    /// wait for it: under load a seal may outlast the 5 s between them, and the ship run in the
    /// outage would then find nothing to send and never fail.
    actor Sealed {
        private var minute: Int64 = 0
        func finished(_ at: Int64) { minute = at - at % 60_000_000 }
        func has(_ at: Int64) -> Bool { minute >= at - at % 60_000_000 }
    }

    /// seal at :12.5 each minute, past the grace of the window that just closed.
    static func seals(_ data: DataDir, _ sealed: Sealed, until deadline: Int64) async throws -> Int {
        var runs = 0
        while true {
            try await sleep(until: min(deadline, nextMinute(at: 12_500_000)))
            let started = Timestamp.now().microseconds
            guard started < deadline else { return runs }
            let outcome = try await runSeal(["--data-dir", data.root] + sealEveryMinute)
            #expect(outcome.exitCode == 0, "\(outcome)")
            await sealed.finished(started)
            runs += 1
        }
    }

    static func outage(_ server: RcloneServer, _ down: Range<Int64>) async throws {
        try await sleep(until: down.lowerBound)
        await server.stop()
        try await sleep(until: down.upperBound)
        try await server.start()
    }

    /// ship at :17.5 each minute, once that minute's seal has finished; it must fail (69) exactly when the remote is down and a part
    /// waits to be sent. Returns the runs, the failed ones, and every sealed file seen.
    static func ships(_ bench: ShipBench, _ remote: Remote, _ sealed: Sealed, _ down: Range<Int64>, until deadline: Int64) async throws
        -> (runs: Int, failed: Int, seen: Set<String>) {
        var (runs, failed, seen) = (0, 0, Set<String>())
        while true {
            try await sleep(until: min(deadline, nextMinute(at: 17_500_000)))
            guard Timestamp.now().microseconds < deadline else { return (runs, failed, seen) }
            while await !sealed.has(Timestamp.now().microseconds), Timestamp.now().microseconds % 60_000_000 < 45_000_000 {
                try await Task.sleep(for: .milliseconds(100))
            }
            let now = Timestamp.now().microseconds
            var pending = false
            for part in try bench.data.sealedParts() where try bench.data.receipt(part)?["status"]?.string != "verified" { pending = true }
            let nearChange = abs(now - down.lowerBound) < 3_000_000 || abs(now - down.upperBound) < 3_000_000
            seen.formUnion(try bench.data.sealedFiles().keys)
            let outcome = try await bench.ship([], remote)
            #expect(nearChange ? [0, 69].contains(outcome.exitCode) : outcome.exitCode == (down.contains(now) && pending ? 69 : 0), "\(outcome)")
            runs += 1
            if outcome.exitCode != 0 { failed += 1 }
        }
    }
}

/// Issue acceptance (ship): snap every second, seal every minute with 1-minute segments (at
/// :12.5, past a 10 s grace), ship every minute five seconds later, to a loopback sftp remote
/// that is down for 30% of the run. The outage is centred on the ship run nearest 35% of the
/// way that has a part to send (so about 20% in when the run is long), hence at least one ship
/// fails with the remote down. After a last seal and ship with the remote back, every part is
/// verified on the remote and nothing local was deleted.
@Suite(.serialized) struct ShipPipelineTests {
    @Test func everyPartShipsAndVerifiesThroughAnOutage() async throws {
        try await ShipBench.with("ship-pipeline") { bench in
            try await withFakePolymarket { fake in
                let sftp = try await bench.server(.sftp)
                let remote = try await sftp.remote()
                let (start, length) = (Timestamp.now().microseconds, pipelineSeconds * 1_000_000)
                let deadline = start + length
                // The first ship run with a part to send follows the end of the first minute; when
                // the run began late in a minute (under 30 s before that ship), that part holds a few
                // seconds and its seal may come late on a loaded machine: a ship centred there found
                // nothing to send in a fresh-clone run. Then the ship after the first whole minute.
                var firstShip = (start / 60_000_000 + 1) * 60_000_000 + 17_500_000
                if firstShip - start < 30_000_000 { firstShip += 60_000_000 }
                let centre = firstShip + max(0, (start + length * 35 / 100 - firstShip + 30_000_000) / 60_000_000) * 60_000_000
                let downAt = max(start + 2_000_000, centre - length * 15 / 100)
                let down = downAt..<(downAt + length * 30 / 100)
                #expect(centre < deadline, "ORDERBOOKS_SHIP_PIPELINE_SECONDS=\(pipelineSeconds) is too short for a ship run during the outage")

                async let snaps = Pipeline.snaps(fake, bench.data, until: deadline)
                let sealClock = Pipeline.Sealed()
                async let seals = Pipeline.seals(bench.data, sealClock, until: deadline)
                async let outage: Void = Pipeline.outage(sftp, down)
                async let ships = Pipeline.ships(bench, remote, sealClock, down, until: deadline)
                let (snapRuns, sealRuns, shipRuns, _) = try await (snaps, seals, ships, outage)

                let final = try await runSeal(["--data-dir", bench.data.root, "--flush"] + sealEveryMinute)
                #expect(final.exitCode == 0 && bench.data.files("spool").isEmpty, "\(final)")
                let last = try await bench.ship([], remote)
                #expect(last.exitCode == 0, "\(last)")
                let parts = try bench.data.sealedParts()
                try await bench.expectShipped(parts, on: sftp, as: remote, method: "remote-md5")
                let sealed = try bench.data.sealedFiles()
                #expect(shipRuns.seen.isSubset(of: sealed.keys), "local files went: \(shipRuns.seen.subtracting(sealed.keys).sorted())")
                #expect(shipRuns.failed >= 1, "no ship ran while the remote was down")
                #expect(await filesUnder(sftp.served("archive")) == Set(parts.flatMap(\.files)))
                print("ship pipeline: \(pipelineSeconds) s, parts \(parts.count), snap runs \(snapRuns), seal runs \(sealRuns), "
                      + "ship runs \(shipRuns.runs + 1) (\(shipRuns.failed) failed while the remote was down, from "
                      + "\((down.lowerBound - start) / 1_000_000) s to \((down.upperBound - start) / 1_000_000) s), all verified")
            }
        }
    }
}
