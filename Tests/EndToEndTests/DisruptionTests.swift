import Glibc
import Testing
@testable import OrderbooksCore

/// The real snap reads the notice `gate run` leaves in `state/disruption.json`: while it lasts,
/// its failure rows and run row name the gate (seal then gives their slots that reason); a
/// notice that has expired, or none, changes nothing.
@Suite struct DisruptionTests {
    @Test func failedRunsNameTheGateOnlyWhileTheNoticeLasts() async throws {
        try await withFakePolymarket { fake in
            let data = DataDir("disruption")
            defer { data.remove() }
            try DurableFile.makeDirectories(data.root + "/state")
            let now = Timestamp.now()
            let notice = Disruption(gateRun: "20261207T030447Z", action: "network cut", from: now.adding(seconds: -1), until: now.adding(seconds: 60))
            try DurableFile.replace(notice.encoded(), at: data.root + "/state/disruption.json", temporaryDirectory: data.root + "/state")
            try fake.fault("clob", "reset")
            let cut = try await runSnap(fake.arguments(dataDirectory: data.root))
            #expect(cut.exitCode == 4, "\(cut)")
            let rows = try data.onlySnapshot()
            #expect(rows.rows("failure").allSatisfy { $0["disruption"]?.string == notice.text } && !rows.rows("failure").isEmpty)
            #expect(rows.rows("run").first?["disruption"]?.string == notice.text)
            #expect(rows.rows("book").isEmpty)

            // Expired: the same failure is Polymarket's (or the network's) again.
            let expired = Disruption(gateRun: notice.gateRun, action: notice.action, from: now.adding(seconds: -120), until: now.adding(seconds: -60))
            try DurableFile.replace(expired.encoded(), at: data.root + "/state/disruption.json", temporaryDirectory: data.root + "/state")
            for name in data.files("spool") { try DurableFile.makeDirectories(data.parent + "/kept"); rename(data.root + "/spool/" + name, data.parent + "/kept/" + name) }
            let plain = try await runSnap(fake.arguments(dataDirectory: data.root))
            #expect(plain.exitCode == 4, "\(plain)")
            let after = try data.onlySnapshot()
            #expect(after.allSatisfy { $0["disruption"] == nil } && !after.rows("failure").isEmpty)
        }
    }
}
