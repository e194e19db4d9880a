import Glibc
import Testing
@testable import OrderbooksCore

/// Every file ship and prune leave under the data directory, by path, with its text.
func recordedTexts(_ root: String) -> [String: String] {
    var texts: [String: String] = [:]
    func walk(_ relative: String) {
        guard let dir = opendir(root + relative) else {
            if let bytes = try? DurableFile.read(root + relative) { texts[relative] = String(decoding: bytes, as: UTF8.self) }
            return
        }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." && name != "sealed" && name != "spool" { walk(relative + "/" + name) }
        }
    }
    walk("")
    return texts
}

/// Issue 9 §3 and §4 through the real binary: a password in the remote's spelling reaches no
/// record, and a remote that is the data directory is refused.
@Suite(.serialized) struct ShipSecretsTests {
    @Test func aPasswordInTheRemoteReachesNoReceiptPrunedRecordOrLogLine() async throws {
        try await ShipBench.with("ship-secrets") { bench in
            try await bench.makeParts([2])
            let parts = try bench.data.sealedParts()
            let sftp = try await bench.server(.sftp)
            let named = try await sftp.remote()
            let port = named.environment["RCLONE_CONFIG_SFTPREMOTE_PORT"] ?? ""
            let obscured = try #require(named.environment["RCLONE_CONFIG_SFTPREMOTE_PASS"])
            let wrong = try await run("/usr/bin/rclone", ["obscure", "not-the-password"]).stdout.trimmingWhitespace
            let secrets = [obscured, wrong, RcloneServer.password, "not-the-password"]
            var outputs: [String] = []
            func ship(_ arguments: [String], remote: String, env: [String: String]) async throws -> ProcessOutcome {
                let outcome = try await runShip(arguments + ["--data-dir", bench.data.root, "--remote", remote], env: env)
                outputs += [outcome.stdout, outcome.stderr]
                return outcome
            }
            // A password override on a config remote, wrong: refused (77), and rclone's error echoes the remote.
            let refused = try await ship([], remote: "sftpremote,pass=\(wrong):archive", env: bench.environment(named))
            #expect(refused.exitCode == 77, "\(refused)")
            // A connection-string remote with the right password: shipped, then pruned.
            let spec = ":sftp,host=127.0.0.1,port=\(port),user=\(RcloneServer.user),pass=\(obscured),shell_type=unix,md5sum_command=md5sum,"
                + "sha1sum_command=sha1sum:archive"
            let shipped = try await ship([], remote: spec, env: bench.environment(nil))
            #expect(shipped.exitCode == 0, "\(shipped)")
            #expect(try bench.data.receipt(parts[0])?["status"]?.string == "verified")
            try await bench.waitForWindowsToEnd()
            let pruned = try await ship(["prune", "--keep-days", "0"], remote: spec, env: bench.environment(nil))
            #expect(pruned.exitCode == 0, "\(pruned)")
            #expect(try bench.data.receipt(parts[0], ".pruned.json") != nil)
            let dry = try await ship(["--dry-run"], remote: spec, env: bench.environment(nil))
            #expect(dry.exitCode == 0, "\(dry)")

            let records = recordedTexts(bench.data.root)
            #expect(records.keys.contains { $0.hasSuffix(".receipt.json") } && records.keys.contains { $0.hasSuffix(".pruned.json") })
            #expect(records.values.contains { $0.contains("pass=***") }, "the remote is recorded, masked")
            for secret in secrets {
                for (path, text) in records { #expect(!text.contains(secret), "\(path) holds a secret") }
                for output in outputs { #expect(!output.contains(secret), "ship's output holds a secret: \(output)") }
            }
        }
    }

    @Test func aLocalRemoteThatIsTheDataDirectoryIsRefusedByShipAndPrune() async throws {
        try await ShipBench.with("ship-self") { bench in
            try await bench.makeParts([2])
            let sealed = try bench.data.sealedFiles()
            let env = bench.environment(nil)
            let remote = bench.scratch + "/remote"
            // A union that writes elsewhere but lists sealed/, with filters in the environment that
            // would hide ship's probes (and age and size limits that hide a fresh or small file):
            // the variables are dropped, said, and the union refused.
            let union = env.merging(["RCLONE_CONFIG_UN_TYPE": "union", "RCLONE_CONFIG_UN_UPSTREAMS": bench.data.root + "/sealed:ro " + remote,
                                     "RCLONE_EXCLUDE": ".*", "RCLONE_MIN_SIZE": "1", "RCLONE_MIN_AGE": "2s", "RCLONE_VERBOSE": "2"]) { $1 }
            let selves = [(":local:" + bench.data.root + "/sealed", env), (":local:" + bench.data.root, env), ("un:", union)]
            for (remote, env) in selves {
                let ship = try await runShip(["--data-dir", bench.data.root, "--remote", remote], env: env)
                #expect(ship.exitCode == 78 && (ship.stderr.contains("is the data directory") || ship.stderr.contains("lists the data directory")), "\(ship)")
            }
            let said = try await runShip(["--data-dir", bench.data.root, "--remote", "un:"], env: union)
            #expect(said.stderr.contains("ignoring RCLONE_EXCLUDE, RCLONE_MIN_AGE, RCLONE_MIN_SIZE, RCLONE_VERBOSE"), "\(said.stderr)")
            // Shipped for real, the windows ended: prune through the data directory itself deletes nothing.
            #expect(try await runShip(["--data-dir", bench.data.root, "--remote", remote], env: env).exitCode == 0)
            try await bench.waitForWindowsToEnd()
            for (remote, env) in selves {
                let prune = try await runShip(["prune", "--keep-days", "0", "--data-dir", bench.data.root, "--remote", remote], env: env)
                #expect(prune.exitCode == 78 && (prune.stderr.contains("is the data directory") || prune.stderr.contains("lists the data directory")),
                        "\(prune)")
                #expect(try bench.data.sealedFiles() == sealed)
            }
        }
    }
}
