import Glibc
import Testing
@testable import OrderbooksCore
@testable import OrderbooksShipping
import TestSupport

private let segment = ShippedFile(role: .segment, directory: "2026/11/21", name: "a_part1.jsonl.gz", bytes: 10,
                                  sha256: String(repeating: "ab", count: 32), md5: "0123456789abcdef0123456789abcdef")

/// The verifier: only a hash that is present and equal verifies, and duplicates are caught.
@Suite struct RemoteCheckTests {
    func entry(_ bytes: Int64 = 10, md5: String? = segment.md5, path: String = segment.name) -> RemoteEntry {
        RemoteEntry(path: path, bytes: bytes, md5: md5)
    }

    @Test func md5ListingVerdicts() {
        func status(_ listing: [RemoteEntry]) -> RemoteCheck.Status { RemoteCheck.of(segment, listing: listing, method: .remoteMD5).status }
        #expect(status([entry(), entry(path: "other")]) == .verified)
        #expect(status([entry(path: "other")]) == .missing)
        #expect(status([entry(9)]) == .sizeMismatch)
        #expect(status([entry(md5: "ffffffffffffffffffffffffffffffff")]) == .hashMismatch)
        #expect(status([entry(md5: nil)]) == .noHash)
        // Drive allows two files of one name: identical copies hold the right bytes, differing ones need a person.
        #expect(status([entry(), entry()]) == .verified)
        #expect(RemoteCheck.of(segment, listing: [entry(), entry()], method: .remoteMD5).copies == 2)
        #expect(status([entry(), entry(md5: "ffffffffffffffffffffffffffffffff")]) == .duplicate)
        #expect(status([entry(), entry(9)]) == .duplicate)
        #expect(status([entry(), entry(md5: nil)]) == .noHash)
    }

    @Test func downloadVerdicts() {
        func status(_ listing: [RemoteEntry], _ sums: [String]?) -> RemoteCheck.Status {
            RemoteCheck.of(segment, listing: listing, method: .downloadSHA256, sha256s: sums).status
        }
        #expect(status([entry(md5: nil)], [segment.sha256]) == .verified)
        #expect(status([entry(md5: nil)], [String(repeating: "cd", count: 32)]) == .hashMismatch)
        #expect(status([entry(md5: nil)], nil) == .noHash)
        #expect(status([entry(md5: nil)], []) == .noHash)
        #expect(status([entry(md5: nil), entry(md5: nil)], [segment.sha256]) == .noHash)
    }

    @Test func listingsKeepDuplicatesAndToleratePartialEntries() throws {
        let text = #"""
            [
            {"Path":"a_part1.jsonl.gz","Name":"a_part1.jsonl.gz","Size":10,"MimeType":"application/gzip","ModTime":"2026-11-21T10:00:00Z","IsDir":false,"Hashes":{"md5":"0123456789ABCDEF0123456789ABCDEF"},"ID":"x1"},
            {"Path":"a_part1.jsonl.gz","Name":"a_part1.jsonl.gz","Size":10,"IsDir":false,"Hashes":{"md5":"0123456789abcdef0123456789abcdef"},"ID":"x2"},
            {"Path":"sub","Name":"sub","Size":-1,"IsDir":true},
            {"Path":"b.manifest.json","Size":7,"IsDir":false},
            {"Path":"c","Size":7,"IsDir":false,"Hashes":{"md5":""}}
            ]
            """#
        let listing = try Rclone.parseListing(Array(text.utf8))
        #expect(listing == [entry(), entry(), RemoteEntry(path: "b.manifest.json", bytes: 7, md5: nil), RemoteEntry(path: "c", bytes: 7, md5: nil)])
        #expect(RemoteCheck.of(segment, listing: listing, method: .remoteMD5).status == .verified)
        #expect(throws: JSONError.self) { try Rclone.parseListing(Array("{\"Path\":1}".utf8)) }
    }
}

/// rclone 1.60 exits 1 for nearly everything, so its words decide (reference: rclone.md §5).
@Suite struct ShipFailureTests {
    @Test(arguments: [
        ("ERROR : x: Failed to copy: googleapi: Error 403: User rate limit exceeded., userRateLimitExceeded", ShipFailure.quota),
        ("Failed to copy: googleapi: Error 403: The user's Drive storage quota has been exceeded., storageQuotaExceeded", .quota),
        ("googleapi: Error 403: Service Accounts do not have storage quota. Leverage shared drives", .quota),
        ("Failed to copy: 507 Insufficient Storage", .quota),
        ("Failed to copy: 429 Too Many Requests", .quota),
        ("Failed to copy: Update Create failed: sftp: \"no space left on device\" (SSH_FX_FAILURE)", .quota),
        ("Failed to copy: Update Close failed: sftp: \"preallocate: file too big for remaining disk space\" (SSH_FX_FAILURE)", .quota),
        ("Failed to create file system: couldn't fetch token: invalid_grant: maybe token expired? - try refreshing with \"rclone config reconnect gdrive:\"", .auth),
        ("couldn't connect SSH: ssh: handshake failed: ssh: unable to authenticate, attempted methods [none password]", .auth),
        ("Failed to copy: mkdir \"/x\" failed: permission denied", .auth),
        ("read metadata failed: 401 Unauthorized", .auth),
        ("Failed to create file system for \"gdrive:x\": didn't find section in config file", .configuration),
        ("Error: unknown flag: --bogus", .configuration),
        ("couldn't connect SSH: dial tcp 127.0.0.1:1: connect: connection refused", .unavailable),
        ("Failed to copy: Update ReadFrom failed: connection lost", .unavailable),
        ("Failed to copy: 503 Service Unavailable", .unavailable),
        ("corrupted on transfer: sizes differ 40123 vs 1000", .unavailable),
        ("2026/12/01/x.jsonl.gz: Source and destination exist but do not match: immutable file modified", .conflict),
    ])
    func classifies(stderr: String, expected: ShipFailure) {
        let call = RcloneCall(argv: ["rclone"], exitCode: 1, startedAt: .now(), microseconds: 0, stderr: "2026/11/21 10:00:00 ERROR : " + stderr)
        #expect(ShipFailure.classify(call) == expected)
    }

    /// rclone's DEBUG and INFO lines (at -vv, "pacer: Rate limited" while it retries a refused
    /// connection) do not classify a failure.
    @Test func onlyProblemLinesClassify() {
        let stderr = """
            2026/11/21 10:00:00 DEBUG : pacer: low level retry 1/10 (error googleapi: Error 403: Rate Limit Exceeded, rateLimitExceeded)
            2026/11/21 10:00:00 INFO  : quota check skipped
            2026/11/21 10:00:01 ERROR : couldn't connect SSH: dial tcp 127.0.0.1:1: connect: connection refused
            """
        #expect(ShipFailure.classify(RcloneCall(argv: ["rclone"], exitCode: 1, startedAt: .now(), microseconds: 0, stderr: stderr)) == .unavailable)
    }

    /// What a `copy -v` wrote, from its INFO lines; the tail a receipt keeps leaves them out.
    @Test func aCopyNamesTheFilesItWrote() {
        let stderr = """
            2026/12/06 10:48:08 INFO  : 2026/12/01/a.jsonl.gz: Copied (new)
            2026/12/06 10:48:08 INFO  : 2026/12/01/b c.jsonl.gz: Copied (replaced existing)
            2026/12/06 10:48:08 INFO  : 2026/12/01/d.jsonl.gz: Multi-thread Copied (new)
            2026/12/06 10:48:08 ERROR : 2026/12/01/e.jsonl.gz: Source and destination exist but do not match: immutable file modified
            2026/12/06 10:48:08 Failed to copy: immutable file modified
            """
        let call = RcloneCall(argv: ["rclone"], exitCode: 6, startedAt: .now(), microseconds: 0, stderr: stderr)
        #expect(call.copied == ["2026/12/01/a.jsonl.gz", "2026/12/01/b c.jsonl.gz", "2026/12/01/d.jsonl.gz"])
        #expect(call.stderrTail.count == 2 && call.errorLine.hasSuffix("Failed to copy: immutable file modified"))
    }

    /// Variables that would hide files from ship's listings, skip copies or move the log are not
    /// passed to rclone; remotes and tuning are.
    @Test func rcloneIsNotGivenVariablesThatHideFiles() {
        let environment = ["RCLONE_EXCLUDE": ".*", "RCLONE_FILTER_FROM": "f", "RCLONE_MIN_AGE": "2s", "RCLONE_MAX_SIZE": "1", "RCLONE_DRY_RUN": "true",
                           "RCLONE_IGNORE_ERRORS": "true", "RCLONE_LOG_FILE": "/x", "RCLONE_VERBOSE": "2", "RCLONE_FILES_FROM_RAW": "f",
                           "RCLONE_CONFIG": "/etc/x", "RCLONE_CONFIG_GD_TYPE": "drive", "RCLONE_TRANSFERS": "2", "RCLONE_BWLIMIT": "1M",
                           "RCLONE_DRIVE_CHUNK_SIZE": "8M", "PATH": "/bin"]
        #expect(Rclone.ignoredVariables(environment) == ["RCLONE_DRY_RUN", "RCLONE_EXCLUDE", "RCLONE_FILES_FROM_RAW", "RCLONE_FILTER_FROM",
                                                         "RCLONE_IGNORE_ERRORS", "RCLONE_LOG_FILE", "RCLONE_MAX_SIZE", "RCLONE_MIN_AGE", "RCLONE_VERBOSE"])
    }

    @Test func aMissingRcloneIsConfigurationAndStatusesFollowTheDocumentedOrder() {
        var call = RcloneCall(argv: ["rclone"], exitCode: nil, startedAt: .now(), microseconds: 0)
        call.spawnError = "cannot run rclone"
        #expect(ShipFailure.classify(call) == .configuration)
        let order = ShipFailure.allCases.sorted { $0.rank > $1.rank }.map { $0.status.rawValue }
        #expect(order.enumerated().filter { $0.offset == 0 || order[$0.offset - 1] != $0.element }.map(\.element) == [78, 73, 65, 77, 75, 69, 1, 74])
        var worst: ShipFailure?
        for failure in [ShipFailure.verification, .quota, .unavailable] { worst.worsen(failure) }
        #expect(worst == .quota)
    }
}

/// A data directory with sealed parts and a remote that is a local directory: rclone's local
/// backend has md5, so the whole ship protocol runs with the real rclone and no server.
private struct ShipFixture {
    let seal = SealFixture()
    var remote: String { seal.scratch + "/remote" }
    let base = Timestamp(seconds: (Timestamp.now().seconds - 7200) / 60 * 60)

    init(windows: Int) {
        for w in 0..<windows {
            for s in 0..<3 { seal.add(snapshot(startedAt: Timestamp(seconds: base.seconds + Int64(60 * w + s)))) }
        }
        #expect(seal.seal() == .complete)
    }

    func configuration(program: String = "rclone", keepDays: Int = 0, remote: String? = nil, configFile: String = "/dev/null") -> ShipConfiguration {
        ShipConfiguration(dataDirectory: seal.data, remote: remote ?? self.remote, rclone: Rclone(program: program, configFile: configFile),
                          dryRun: false, waitForLock: true, keepDays: keepDays, command: ["ship"])
    }

    func ship(program: String = "rclone", remote: String? = nil, configFile: String = "/dev/null") async -> OrderbooksCore.ExitStatus {
        await ShipRun(configuration: configuration(program: program, remote: remote, configFile: configFile), log: Log(environment: [:])).run()
    }

    func prune(keepDays: Int = 0, program: String = "rclone", remote: String? = nil, configFile: String = "/dev/null") async -> OrderbooksCore.ExitStatus {
        await ShipPrune(configuration: configuration(program: program, keepDays: keepDays, remote: remote, configFile: configFile),
                        log: Log(environment: [:])).run()
    }

    /// An rclone whose `command` (cat, lsjson, …) fails with `status` and a line of stderr; every
    /// other call passes through.
    func failingRclone(_ command: String, status: Int = 1) -> String {
        let path = seal.scratch + "/rclone-fail-\(command)"
        let script = """
            #!/bin/sh
            case " $* " in
            *" \(command) "*) echo "ERROR : injected failure of \(command)" >&2; exit \(status) ;;
            *) exec rclone "$@" ;;
            esac
            """
        try! DurableFile.create(Array(script.utf8), at: path, temporaryDirectory: seal.scratch)
        chmod(path, 0o755)
        return path
    }

    /// Everything under the data directory with its bytes: what a refused run must leave as it was.
    func contents() -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        func walk(_ relative: String) {
            let path = seal.data + relative
            guard let dir = opendir(path) else {
                files[relative] = (try? DurableFile.read(path)) ?? nil
                return
            }
            defer { closedir(dir) }
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if name != "." && name != ".." && name != "state" && name != "tmp" { walk(relative + "/" + name) }
            }
        }
        walk("")
        return files
    }

    var window: SealWindow { SealWindow(containing: base, minutes: 1, collector: "c1") }
    var day: String { window.dayDirectory }

    func receipt(_ part: String) throws -> (text: String, summary: Receipt.Summary) {
        let bytes = try DurableFile.read(seal.data + "/receipts/" + day + "/" + part + DataDirectory.receiptSuffix) ?? []
        return (String(decoding: bytes, as: UTF8.self), try Receipt.decode(bytes, directory: day))
    }

    /// An rclone that lists every file twice, the second copy's md5 changed when `differing`
    /// (failures, such as a folder not there yet, pass through unchanged).
    func duplicatingRclone(differing: Bool) -> String {
        let path = seal.scratch + "/rclone-dup-\(differing)"
        let script = """
            #!/bin/sh
            case " $* " in
            *" lsjson "*) listing=$(rclone "$@") || { status=$?; printf '%s' "$listing"; exit $status; }
                printf '%s' "$listing" | python3 -c 'import json, sys
            listing = json.load(sys.stdin)
            copies = [dict(e, Hashes={"md5": "f" * 32} if \(differing ? "True" : "False") else e.get("Hashes")) for e in listing]
            json.dump(listing + copies, sys.stdout)' ;;
            *) exec rclone "$@" ;;
            esac
            """
        try! DurableFile.create(Array(script.utf8), at: path, temporaryDirectory: seal.scratch)
        chmod(path, 0o755)
        return path
    }
}

@Suite struct ShipRunTests {
    @Test func shipsVerifiesConvergesAndPrunesOnlyWhatTheRemoteStillHolds() async throws {
        let f = ShipFixture(windows: 2)
        defer { f.seal.remove() }
        let parts = [f.window.partName(1), SealWindow(containing: Timestamp(seconds: f.base.seconds + 60), minutes: 1, collector: "c1").partName(1)]
        #expect(await f.ship() == .complete)
        let sealed = f.seal.data + "/sealed/" + f.day + "/", shipped = f.remote + "/" + f.day + "/"
        for part in parts {
            let receipt = try f.receipt(part)
            #expect(receipt.summary.status == .verified)
            #expect(receipt.text.contains("\"method\":\"remote-md5\""))
            for suffix in [SealWindow.segmentSuffix, SealWindow.manifestSuffix] {
                #expect(try DurableFile.read(shipped + part + suffix) == DurableFile.read(sealed + part + suffix))
            }
        }
        // A re-run ships nothing and leaves verified receipts alone.
        let before = try f.receipt(parts[0]).text
        #expect(await f.ship() == .complete)
        #expect(try f.receipt(parts[0]).text == before)

        // Too young to prune with a week's keep.
        #expect(await f.prune(keepDays: 7) == .complete)
        #expect(access(sealed + parts[0] + SealWindow.segmentSuffix, F_OK) == 0)

        // The remote copy changes behind our back (same size): prune refuses, the receipt turns
        // failed, the next ship sends the part again, and only then does prune delete.
        let remoteSegment = shipped + parts[0] + SealWindow.segmentSuffix
        let fd = open(remoteSegment, O_WRONLY)
        _ = pwrite(fd, [0x58], 1, 40)
        close(fd)
        #expect(await f.prune() == .mismatch)
        #expect(try f.receipt(parts[0]).summary.status == .failed)
        #expect(try f.receipt(parts[0]).text.contains("\"status\":\"hash_mismatch\""))
        #expect(access(sealed + parts[0] + SealWindow.segmentSuffix, F_OK) == 0)
        #expect(access(sealed + parts[1] + SealWindow.segmentSuffix, F_OK) != 0, "the intact part was pruned")
        #expect(await f.ship() == .complete)
        #expect(try DurableFile.read(remoteSegment) == DurableFile.read(sealed + parts[0] + SealWindow.segmentSuffix))
        #expect(await f.prune() == .complete)
        #expect(f.seal.names("sealed/" + f.day).isEmpty)
        #expect(f.seal.names("receipts/" + f.day).sorted() == parts.flatMap { [$0 + ".pruned.json", $0 + DataDirectory.receiptSuffix] }.sorted())

        // A late snapshot of a pruned window becomes part 2: a shipped name is never reused.
        f.seal.add(snapshot(startedAt: Timestamp(seconds: f.base.seconds + 30)))
        #expect(f.seal.seal() == .complete)
        #expect(f.seal.names("sealed/" + f.day).contains(f.window.partName(2) + SealWindow.manifestSuffix))
        #expect(await f.ship() == .complete)
    }

    @Test func aChangedLocalFileIsRefusedAndTheOthersStillShip() async throws {
        let f = ShipFixture(windows: 2)
        defer { f.seal.remove() }
        let path = f.seal.data + "/sealed/" + f.day + "/" + f.window.partName(1) + SealWindow.segmentSuffix
        let fd = open(path, O_WRONLY)
        _ = pwrite(fd, [0x58], 1, 30)
        close(fd)
        #expect(await f.ship() == .localMismatch)
        #expect(try f.receipt(f.window.partName(1)).summary.status == .refused)
        #expect(access(f.remote + "/" + f.day + "/" + f.window.partName(1) + SealWindow.segmentSuffix, F_OK) != 0)
        let other = SealWindow(containing: Timestamp(seconds: f.base.seconds + 60), minutes: 1, collector: "c1").partName(1)
        #expect(try f.receipt(other).summary.status == .verified)
    }

    @Test func identicalDuplicatesVerifyWithAWarningDifferingOnesDoNot() async throws {
        let f = ShipFixture(windows: 1)
        defer { f.seal.remove() }
        #expect(await f.ship(program: f.duplicatingRclone(differing: true)) == .mismatch)
        let failed = try f.receipt(f.window.partName(1))
        #expect(failed.summary.status == .failed && failed.text.contains("\"status\":\"duplicate\"") && failed.text.contains("\"remote_copies\":2"))
        // Differing copies are never "repaired" by another upload: one copy call only.
        #expect(failed.text.ranges(of: "\"copy\"").count == 1)

        #expect(await f.ship(program: f.duplicatingRclone(differing: false)) == .complete)
        let verified = try f.receipt(f.window.partName(1))
        #expect(verified.summary.status == .verified && verified.text.contains("identical copies on the remote"))
    }

    @Test func anotherPartUnderTheSameNameOnTheRemoteIsNeverOverwritten() async throws {
        // Two data directories with the same collector id: the same part names, other rows.
        let mine = ShipFixture(windows: 1), theirs = ShipFixture(windows: 1)
        defer { mine.seal.remove(); theirs.seal.remove() }
        #expect(await theirs.ship() == .complete)
        let remoteSegment = theirs.remote + "/" + theirs.day + "/" + theirs.window.partName(1) + SealWindow.segmentSuffix
        let before = try DurableFile.read(remoteSegment)
        let other = ShipConfiguration(dataDirectory: mine.seal.data, remote: theirs.remote, rclone: Rclone(program: "rclone", configFile: "/dev/null"),
                                      dryRun: false, waitForLock: true, keepDays: 0, command: ["ship"])
        #expect(await ShipRun(configuration: other, log: Log(environment: [:])).run() == .mismatch)
        #expect(try DurableFile.read(remoteSegment) == before)
        let receipt = try mine.receipt(mine.window.partName(1))
        #expect(receipt.summary.status == .failed && receipt.text.contains("\"error_class\":\"conflict\""))
    }

    /// Issue 9 §2: a remote manifest that cannot be read, or read whole, is never taken for "no
    /// conflict"; only one provably ours (a prefix of ours: our own upload cut short) is replaced.
    @Test func aRemoteManifestThatCannotBeReadIsNeverOverwritten() async throws {
        let mine = ShipFixture(windows: 1), theirs = ShipFixture(windows: 1)
        defer { mine.seal.remove(); theirs.seal.remove() }
        #expect(await theirs.ship() == .complete)
        let remoteDay = theirs.remote + "/" + theirs.day + "/" + theirs.window.partName(1)
        let before = try DurableFile.read(remoteDay + SealWindow.segmentSuffix)
        let manifestBefore = try DurableFile.read(remoteDay + SealWindow.manifestSuffix)
        // A failed download of their manifest (a Drive download quota, a blip): unavailable, 69.
        #expect(await mine.ship(program: mine.failingRclone("cat"), remote: theirs.remote) == .remoteUnavailable)
        let receipt = try mine.receipt(mine.window.partName(1))
        #expect(receipt.summary.status == .failed && receipt.text.contains("\"error_class\":\"unavailable\""), "\(receipt.text)")
        #expect(receipt.text.contains("could not be read"))
        // A failed listing: the same.
        #expect(await mine.ship(program: mine.failingRclone("lsjson"), remote: theirs.remote) == .remoteUnavailable)
        #expect(try DurableFile.read(remoteDay + SealWindow.segmentSuffix) == before)
        #expect(try DurableFile.read(remoteDay + SealWindow.manifestSuffix) == manifestBefore)

        // Their manifest, cut short (unparseable and not a prefix of ours: it holds their sha256):
        // a conflict, kept.
        let cut = Array((manifestBefore ?? []).dropLast(10))
        try DurableFile.replace(cut, at: remoteDay + SealWindow.manifestSuffix, temporaryDirectory: theirs.seal.scratch)
        #expect(await mine.ship(remote: theirs.remote) == .mismatch)
        #expect(try DurableFile.read(remoteDay + SealWindow.manifestSuffix) == cut)
        #expect(try DurableFile.read(remoteDay + SealWindow.segmentSuffix) == before)

        // Our own manifest cut short (a prefix of ours) is our upload, killed: replaced.
        let local = mine.seal.data + "/sealed/" + mine.day + "/" + mine.window.partName(1)
        let ours = try DurableFile.read(local + SealWindow.manifestSuffix) ?? []
        try DurableFile.replace(Array(ours.prefix(ours.count / 2)), at: remoteDay + SealWindow.manifestSuffix, temporaryDirectory: theirs.seal.scratch)
        #expect(await mine.ship(remote: theirs.remote) == .complete)
        #expect(try DurableFile.read(remoteDay + SealWindow.manifestSuffix) == ours)
    }

    /// A listing that misses another part's files (an outage's "directory not found", an
    /// eventually consistent Drive listing) never lets ship replace them: what no listing of the
    /// run showed is sent `--immutable`, and rclone's refusal is a conflict.
    @Test func aListingThatMissesAnotherPartNeverLetsShipOverwriteIt() async throws {
        let mine = ShipFixture(windows: 1), theirs = ShipFixture(windows: 1)
        defer { mine.seal.remove(); theirs.seal.remove() }
        #expect(await theirs.ship() == .complete)
        let remoteDay = theirs.remote + "/" + theirs.day + "/" + theirs.window.partName(1)
        let before = try DurableFile.read(remoteDay + SealWindow.segmentSuffix), manifestBefore = try DurableFile.read(remoteDay + SealWindow.manifestSuffix)
        // The first md5 listing (the conflict check's) says the day folder does not exist.
        let lying = mine.seal.scratch + "/rclone-lying"
        try DurableFile.create(Array("""
            #!/bin/sh
            case " $* " in
            *" lsjson "*"--hash-type"*) if [ ! -e "\(mine.seal.scratch)/lied" ]; then
                    touch "\(mine.seal.scratch)/lied"; echo "ERROR : error listing: directory not found" >&2; exit 3
                fi ;;
            esac
            exec rclone "$@"
            """.utf8), at: lying, temporaryDirectory: mine.seal.scratch)
        chmod(lying, 0o755)
        #expect(await mine.ship(program: lying, remote: theirs.remote) == .mismatch)
        #expect(access(mine.seal.scratch + "/lied", F_OK) == 0, "the lie was told")
        #expect(try DurableFile.read(remoteDay + SealWindow.segmentSuffix) == before)
        #expect(try DurableFile.read(remoteDay + SealWindow.manifestSuffix) == manifestBefore)
        let receipt = try mine.receipt(mine.window.partName(1))
        #expect(receipt.summary.status == .failed && receipt.text.contains("\"error_class\":\"conflict\"") && receipt.text.contains("--immutable"),
                "\(receipt.text)")
    }

    /// Another host's segment, sent but not yet followed by its manifest, is not ours to replace;
    /// our own upload cut short (a prefix of ours) is.
    @Test func aSegmentWithoutAManifestIsReplacedOnlyWhenItIsOurUploadCutShort() async throws {
        let mine = ShipFixture(windows: 1), theirs = ShipFixture(windows: 1)
        defer { mine.seal.remove(); theirs.seal.remove() }
        #expect(await theirs.ship() == .complete)
        let remoteDay = theirs.remote + "/" + theirs.day + "/" + theirs.window.partName(1)
        #expect(unlink(remoteDay + SealWindow.manifestSuffix) == 0)
        let before = try DurableFile.read(remoteDay + SealWindow.segmentSuffix)
        #expect(await mine.ship(remote: theirs.remote) == .mismatch)
        #expect(try DurableFile.read(remoteDay + SealWindow.segmentSuffix) == before)
        let receipt = try mine.receipt(mine.window.partName(1))
        #expect(receipt.text.contains("\"error_class\":\"conflict\"") && receipt.text.contains("cut short"), "\(receipt.text)")
        // Ours, cut short: replaced, verified.
        let ours = try DurableFile.read(mine.seal.data + "/sealed/" + mine.day + "/" + mine.window.partName(1) + SealWindow.segmentSuffix) ?? []
        try DurableFile.replace(Array(ours.prefix(ours.count / 2)), at: remoteDay + SealWindow.segmentSuffix, temporaryDirectory: theirs.seal.scratch)
        #expect(await mine.ship(remote: theirs.remote) == .complete)
        #expect(try DurableFile.read(remoteDay + SealWindow.segmentSuffix) == ours)
    }

    /// A listing that cannot show a file ship just wrote (a filter, an age limit, a union writing
    /// elsewhere) could hide another part's manifest or the data directory's own files: refused.
    @Test func aListingThatHidesFilesIsRefused() async throws {
        let f = ShipFixture(windows: 1)
        defer { f.seal.remove() }
        // An rclone whose own settings (not ship's environment) hide dot files.
        let hiding = f.seal.scratch + "/rclone-hiding"
        try DurableFile.create(Array("#!/bin/sh\nRCLONE_EXCLUDE='.*' exec rclone \"$@\"\n".utf8), at: hiding, temporaryDirectory: f.seal.scratch)
        chmod(hiding, 0o755)
        let before = f.contents()
        #expect(await f.ship(program: hiding) == .configuration)
        let receipt = try f.receipt(f.window.partName(1))
        #expect(receipt.text.contains("does not appear in the remote's listing"), "\(receipt.text)")
        #expect(f.contents().filter { !$0.key.hasPrefix("/receipts/") } == before.filter { !$0.key.hasPrefix("/receipts/") })
        #expect(access(f.remote + "/" + f.day + "/" + f.window.partName(1) + SealWindow.segmentSuffix, F_OK) != 0, "nothing sent")
        // Shipped for real: prune through the hiding rclone deletes nothing.
        #expect(await f.ship() == .complete)
        let shipped = f.contents()
        #expect(await f.prune(program: hiding) == .configuration)
        #expect(f.contents() == shipped)
    }

    /// Issue 9 §3: however the remote is spelled, if files sent to it land in the data directory
    /// (or its listing shows the data directory), ship and prune refuse with 78 and change nothing.
    @Test func aRemoteThatIsTheDataDirectoryIsRefusedHoweverItIsSpelled() async throws {
        let f = ShipFixture(windows: 1)
        defer { f.seal.remove() }
        let elsewhere = f.seal.scratch + "/elsewhere"
        try DurableFile.makeDirectories(elsewhere)
        #expect(symlink(f.seal.data + "/sealed", f.seal.scratch + "/link-sealed") == 0)
        #expect(symlink(f.seal.data, f.seal.scratch + "/link-data") == 0)
        let config = f.seal.scratch + "/rclone.conf"
        try DurableFile.create(Array("""
            [selflocal]
            type = local

            [selfalias]
            type = alias
            remote = \(f.seal.data)/sealed

            [dataalias]
            type = alias
            remote = \(f.seal.data)

            [readsself]
            type = union
            upstreams = \(f.seal.data)/sealed:ro \(elsewhere)

            [cryptnames]
            type = crypt
            remote = \(f.seal.data)/sealed
            password = PFzUQZ8KUN4eQOPWHROWIma_BRqZIx5MThnlVLdC3A
            filename_encryption = obfuscate

            [cryptfiles]
            type = crypt
            remote = \(f.seal.data)
            password = PFzUQZ8KUN4eQOPWHROWIma_BRqZIx5MThnlVLdC3A
            directory_name_encryption = false

            """.utf8), at: config, temporaryDirectory: f.seal.scratch)
        let remotes = [
            ":local:" + f.seal.data + "/sealed", ":local,case_insensitive=false:" + f.seal.data, "selflocal:" + f.seal.data + "/sealed",
            "selfalias:", "dataalias:sealed", "dataalias:", f.seal.scratch + "/link-sealed", f.seal.scratch + "/link-data/sealed",
            "readsself:", "cryptnames:backup", "cryptfiles:sealed",
        ]
        for remote in remotes {
            let before = f.contents()
            #expect(await f.ship(remote: remote, configFile: config) == .configuration, "\(remote)")
            let receipt = try f.receipt(f.window.partName(1))
            #expect(receipt.summary.status == .failed && receipt.text.contains("\"error_class\":\"configuration\"")
                    && receipt.text.contains("data directory"), "\(remote): \(receipt.text)")
            var after = f.contents()
            after = after.filter { !$0.key.hasPrefix("/receipts/") }
            #expect(after == before.filter { !$0.key.hasPrefix("/receipts/") }, "\(remote): the data directory changed")
        }
        // Shipped for real, then pruned through each spelling: nothing deleted.
        #expect(await f.ship() == .complete)
        let shipped = f.contents()
        for remote in remotes {
            #expect(await f.prune(remote: remote, configFile: config) == .configuration, "\(remote)")
            #expect(f.contents() == shipped, "\(remote): prune changed the data directory")
        }
        #expect(await f.prune() == .complete)
        #expect(f.seal.names("sealed/" + f.day).isEmpty)
    }

    @Test func aVanishedRemoteFolderSendsThePartAgainAndAHalfPrunedPartKeepsItsEvidence() async throws {
        let f = ShipFixture(windows: 2)
        defer { f.seal.remove() }
        #expect(await f.ship() == .complete)
        // The whole day's folder is gone from the remote: prune keeps everything and demotes.
        _ = system("rm -rf '\(f.remote)/\(f.day)'")
        #expect(await f.prune() == .mismatch)
        #expect(try f.receipt(f.window.partName(1)).summary.status == .failed)
        #expect(try f.receipt(f.window.partName(1)).text.contains("\"status\":\"missing\""))
        #expect(await f.ship() == .complete)

        // A prune that deleted the segment and was killed before the manifest, then the remote
        // copy changed: nothing can be sent again, so the receipt stays and the manifest remains.
        let sealed = f.seal.data + "/sealed/" + f.day + "/" + f.window.partName(1)
        #expect(unlink(sealed + SealWindow.segmentSuffix) == 0)
        let fd = open(f.remote + "/" + f.day + "/" + f.window.partName(1) + SealWindow.segmentSuffix, O_WRONLY | O_APPEND)
        _ = write(fd, "x", 1)
        close(fd)
        #expect(await f.prune() == .mismatch)
        #expect(try f.receipt(f.window.partName(1)).summary.status == .verified)
        #expect(access(sealed + SealWindow.manifestSuffix, F_OK) == 0)
    }

    @Test func aLocalRemoteInsideTheDataDirectoryIsRefused() throws {
        let f = SealFixture()
        defer { f.remove() }
        for remote in [f.data + "/sealed", f.data + "/x/../sealed/new", f.data] {
            let options = try ShipOptions.parse(["--data-dir", f.data, "--remote", remote])
            #expect(throws: ConfigurationError.self) { try options.configuration(environment: [:], command: []) }
        }
        for remote in [f.scratch + "/remote", "gdrive:" + f.data + "/sealed"] {
            let options = try ShipOptions.parse(["--data-dir", f.data, "--remote", remote])
            #expect(try options.configuration(environment: [:], command: []).remote == remote)
        }
    }

    @Test func aMissingRcloneLeavesFailedReceiptsAndEverythingLocal() async throws {
        let f = ShipFixture(windows: 1)
        defer { f.seal.remove() }
        #expect(await f.ship(program: f.seal.scratch + "/no-such-rclone") == .configuration)
        let receipt = try f.receipt(f.window.partName(1))
        #expect(receipt.summary.status == .failed && receipt.text.contains("\"error_class\":\"configuration\""))
        #expect(f.seal.names("sealed/" + f.day).count == 2)
        #expect(await f.ship() == .complete)
    }
}

/// A ship killed alone leaves its rclone running; the next run must end it, and nothing else.
@Suite struct RcloneRecordTests {
    @Test func endsTheNotedProcessOnlyIfItIsStillTheSameOne() throws {
        let scratch = SealFixture()
        defer { scratch.remove() }
        let record = RcloneRecord(path: scratch.scratch + "/ship.rclone", temporaryDirectory: scratch.scratch)
        func spawnSleeper() throws -> pid_t {
            let pidFile = scratch.scratch + "/pid"
            #expect(system("sleep 60 >/dev/null 2>&1 & echo $! > '\(pidFile)'") == 0)
            let pid = try #require(pid_t(String(decoding: try DurableFile.read(pidFile) ?? [], as: UTF8.self).trimmingWhitespace))
            // The background child is a forked shell until it execs sleep: note it only as sleep,
            // or the record would name "sh" and rightly be refused as another process.
            for _ in 0..<200 where RcloneRecord.identity(of: pid)?.name != "sleep" { usleep(10_000) }
            try #require(RcloneRecord.identity(of: pid)?.name == "sleep")
            return pid
        }
        let leftover = try spawnSleeper()
        record.note(leftover)
        #expect(record.endLeftover().map { $0.pid == leftover && $0.ended } == true)
        #expect(RcloneRecord.identity(of: leftover).map { $0.zombie } ?? true, "the leftover still runs")
        #expect(access(record.path, F_OK) != 0)

        // Another process under a noted pid (another start time) is left alone.
        let other = try spawnSleeper()
        let identity = try #require(RcloneRecord.identity(of: other))
        try DurableFile.replace(Array("\(other) \(identity.startTime + 1) \(identity.name)\n".utf8), at: record.path, temporaryDirectory: scratch.scratch)
        #expect(record.endLeftover() == nil)
        #expect(RcloneRecord.identity(of: other)?.zombie == false)
        kill(other, SIGKILL)
        #expect(record.endLeftover() == nil, "no record, nothing to end")
    }
}
