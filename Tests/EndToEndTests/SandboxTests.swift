import Glibc
import Testing
@testable import OrderbooksCapture
@testable import OrderbooksCore

/// snap's own sandbox (Sources/OrderbooksCapture/Sandbox.swift): with Landlock it writes only in
/// its data directory and cannot read the Drive token, and a run under it still captures
/// everything. Where the kernel has no Landlock, the run says so in its run row.
@Suite struct SandboxTests {
    /// Whether this kernel runs Landlock (landlock_create_ruleset's version query).
    static let landlock: Bool = Sandbox.kernelABI >= 1

    /// A token snap's user can read by its mode, so only the sandbox can keep it out.
    private func token(_ data: DataDir) throws -> String {
        let path = data.parent + "/rclone.conf"
        try DurableFile.create(Array("[gdrive]\ntoken = {\"access_token\":\"SECRET\"}\n".utf8), at: path, temporaryDirectory: data.parent)
        return path
    }

    @Test(.enabled(if: landlock)) func theCheckFindsWritesOutsideAndTheTokenDenied() async throws {
        let data = DataDir("sandbox-check")
        defer { data.remove() }
        let token = try token(data)
        let result = try await runSnap(["--data-dir", data.root, "--check-sandbox", "--probe-read", token])
        #expect(result.exitCode == 0, "\(result)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("sandbox: landlock v") == true, "\(result)")
        #expect(lines.contains { $0.hasPrefix("read \(token): denied") }, "\(result)")
        #expect(lines.contains { $0.hasPrefix("write \(data.parent)/.orderbooks-sandbox-check-") && $0.contains(": denied") }, "\(result)")
        #expect(lines.contains { $0.hasPrefix("write /tmp/.orderbooks-sandbox-check-") && $0.contains(": denied") }, "\(result)")
        #expect(lines.contains { $0.hasPrefix("write \(data.root)/tmp/.orderbooks-sandbox-check-") && $0.hasSuffix(": allowed") }, "\(result)")
    }

    /// The check is not a formality: with the sandbox off the same probes get through, and it fails.
    @Test func theCheckFailsWithTheSandboxOff() async throws {
        let data = DataDir("sandbox-off")
        defer { data.remove() }
        let token = try token(data)
        let result = try await runSnap(["--data-dir", data.root, "--check-sandbox", "--probe-read", token], env: ["ORDERBOOKS_SANDBOX": "off"])
        #expect(result.exitCode == 1, "\(result)")
        #expect(result.stdout.hasPrefix("sandbox: off\n") && result.stdout.contains("read \(token): allowed  <- must be denied"), "\(result)")
        #expect(access(data.parent + "/rclone.conf", R_OK) == 0)
    }

    /// A whole run under the sandbox: every book captured over HTTPS with a CA file from outside
    /// the data directory, the state saved, and the run row saying which sandbox it ran under.
    @Test func aRunUnderTheSandboxCapturesEverythingAndSaysSo() async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("sandbox-run")
            defer { data.remove() }
            for _ in 0..<2 {  // the second run reads the cache and state the first one saved
                let result = try await runSnap(fake.arguments(dataDirectory: data.root))
                #expect(result.exitCode == 0, "\(result)")
            }
            let runs = try data.validatedSpool().values.flatMap { $0.rows("run") }
            #expect(runs.count == 2)
            let expected = Self.landlock ? "landlock v" : "unavailable: "
            #expect(runs.allSatisfy { $0["sandbox"]?.string?.hasPrefix(expected) == true && $0["outcome"]?.string == "complete" }, "\(runs)")
        }
    }
}
