import Glibc
import Testing
@testable import OrderbooksCore
@testable import OrderbooksCapture

/// Issue 9 §4: user info in an API URL is sent to the server and never recorded.
@Suite struct CredentialTests {
    static let secret = "sekrit"

    /// Every byte snap left behind (rows, uncompressed) and said.
    private func everything(_ data: DataDir, _ outcome: ProcessOutcome) throws -> String {
        var text = outcome.stdout + outcome.stderr
        for name in data.files("spool") {
            text += String(decoding: try Gzip.decompress(try DurableFile.read(data.root + "/spool/" + name) ?? []), as: UTF8.self)
        }
        for sub in ["cache", "state"] {
            for name in data.files(sub) { text += String(decoding: try DurableFile.read(data.root + "/\(sub)/" + name) ?? [], as: UTF8.self) }
        }
        return text
    }

    @Test func userInfoIsSentButNeverRecorded() async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("credentials")
            defer { data.remove() }
            let withUser = "http://user:\(Self.secret)@" + fake.http.dropFirst("http://".count)
            let args = ["--data-dir", data.root, "--series", "5m,15m", "--gamma-url", withUser]
            let env = ["ORDERBOOKS_CLOB_URL": withUser]

            let captured = try await runSnap(args, env: env)
            #expect(captured.exitCode == 0 || captured.exitCode == 3, "\(captured)")
            let rows = try data.onlySnapshot()
            #expect(!rows.rows("book").isEmpty, "capture must still work")
            #expect(rows.rows("market").allSatisfy { $0["url"]?.string?.hasPrefix("http://***@127.0.0.1:") == true })

            // Failure rows and log lines carry URLs too: make both APIs fail.
            try fake.fault("any", "status", #""status":502"#)
            let failed = try await runSnap(args + ["--discovery-ttl", "0"], env: env)
            #expect(failed.exitCode == 4, "\(failed)")
            #expect(failed.stderr.contains("url=http://***@127.0.0.1:"), "\(failed.stderr)")

            let recorded = try everything(data, captured) + everything(data, failed)
            #expect(!recorded.contains(Self.secret) && !recorded.contains("user:"))

            // The requests did carry the credentials.
            let auth = "Basic " + base64(Array("user:\(Self.secret)".utf8))
            let log = try controlRequests(fake)
            #expect(!log.isEmpty && log.allSatisfy { $0 == auth }, "\(log)")
        }
    }

    @Test func aRefusedURLIsQuotedWithoutItsUserInfo() async throws {
        let result = try await runSnap(["--data-dir", "/nonexistent", "--clob-url", "https://user:\(Self.secret)@host/?token=x"])
        #expect(result.exitCode == 64, "\(result)")
        #expect(result.stderr.contains("--clob-url") && !result.stderr.contains(Self.secret), "\(result.stderr)")
        let env = try await runSnap(["--data-dir", "/nonexistent"], env: ["ORDERBOOKS_GAMMA_URL": "https://user:\(Self.secret)@host#x"])
        #expect(env.exitCode == 78 && !env.stderr.contains(Self.secret), "\(env)")
        // User info with a raw '/' is not user info to a URL parser, so it is not quoted at all.
        let slash = try await runSnap(["--data-dir", "/nonexistent", "--gamma-url", "https://user:se/\(Self.secret)@host"])
        #expect(slash.exitCode == 64 && !slash.stderr.contains(Self.secret), "\(slash)")
    }

    /// The Authorization header of every request the fake logged.
    private func controlRequests(_ fake: FakePolymarket) throws -> [String?] {
        let client = HTTPClient(settings: HTTPSettings(connectTimeoutMilliseconds: 2000, timeoutMilliseconds: 10_000,
                                                       maxBodyBytes: 64 << 20, userAgent: "orderbooks-tests", caFile: nil))
        let response = try client.perform([HTTPRequest(url: fake.http + "/_control/requests")])[0].result.get()
        return (try JSON.parse(response.body).array ?? []).map { $0["authorization"]?.string }
    }

    private func base64(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var out = ""
        for i in stride(from: 0, to: bytes.count, by: 3) {
            let chunk = Array(bytes[i..<min(i + 3, bytes.count)]) + [0, 0]
            let n = Int(chunk[0]) << 16 | Int(chunk[1]) << 8 | Int(chunk[2])
            for k in 0..<4 { out.append(k <= (bytes.count - i) ? alphabet[(n >> (18 - 6 * k)) & 63] : "=") }
        }
        return out
    }
}
