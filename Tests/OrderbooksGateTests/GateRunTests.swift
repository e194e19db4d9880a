import Glibc
import OrderbooksCore
@testable import OrderbooksGate
import TestSupport
import Testing

private func check(_ id: String, _ findings: [Finding], skipped: String? = nil) -> CheckResult {
    let now = Timestamp.now()
    return CheckResult(id: id, title: id.capitalized, startedAt: now, finishedAt: now, findings: findings, commands: [], skipped: skipped)
}

private func configuration(_ settings: [String: String] = [:], data: String = "/data") -> GateRunConfiguration {
    GateRunConfiguration(settings: settings, environmentFile: "/etc/orderbooks/orderbooks.env", dataDirectory: data, installDirectory: "/opt/orderbooks",
                         reportsDirectory: data + "/reports", user: "orderbooks", afterReboot: false, ship: false, disrupt: true,
                         captureWindow: 600, command: ["gate", "run"])
}

private let realHost = HostFacts(container: "none", virtualization: "kvm", clockSynchronized: true, pid1: "systemd", bootId: "b")
private let container = HostFacts(container: "systemd-nspawn", virtualization: "systemd-nspawn", clockSynchronized: false, pid1: "systemd", bootId: "b")

/// Two verified hourly parts: enough capture for PRODUCTION_READY.
private func twoHours() -> UploadCheck.RemoteFacts {
    let start = Timestamp(seconds: 1_796_608_800)  // 2026-12-07T02:00:00Z
    let windows = [SealWindow(start: start, minutes: 60, collector: "c"), SealWindow(start: start.adding(seconds: 3600), minutes: 60, collector: "c")]
    return UploadCheck.RemoteFacts(type: "drive", verifiedParts: windows.map { ($0, $0.partName(1)) })
}

@Suite struct GateVerdictTests {
    /// PRODUCTION_READY needs every check passed on the real host, endpoints and remote, with two
    /// full hours sealed and verified; each shortfall alone changes the verdict.
    @Test func eachConditionDecides() {
        let passing = [check("install", [.pass("ok")]), check("capture", [.pass("ok")])]
        let real = GateVerdict.conditions(configuration(["ORDERBOOKS_REMOTE": "gdrive:x"]), host: realHost, remote: twoHours())
        #expect(GateVerdict.decide(passing, real).0 == .productionReady)

        let inContainer = GateVerdict.conditions(configuration(["ORDERBOOKS_REMOTE": "gdrive:x"]), host: container, remote: twoHours())
        let (blocked, why) = GateVerdict.decide(passing, inContainer)
        #expect(blocked == .blockedNeedsVPSAccess)
        #expect(why.first?.hasPrefix("stand-in host: a container") == true, "\(why)")

        let fake = GateVerdict.conditions(configuration(["ORDERBOOKS_REMOTE": "gdrive:x", "ORDERBOOKS_CLOB_URL": "https://127.0.0.1:8443"]), host: realHost, remote: twoHours())
        #expect(GateVerdict.decide(passing, fake).0 == .blockedNeedsVPSAccess)
        let caFile = GateVerdict.conditions(configuration(["ORDERBOOKS_REMOTE": "gdrive:x", "ORDERBOOKS_CA_FILE": "/etc/ca.pem"]), host: realHost, remote: twoHours())
        #expect(GateVerdict.decide(passing, caFile).0 == .blockedNeedsVPSAccess)
        var sftp = twoHours()
        sftp.type = "sftp"
        #expect(GateVerdict.decide(passing, GateVerdict.conditions(configuration(), host: realHost, remote: sftp)).0 == .blockedNeedsVPSAccess)

        var oneHour = twoHours()
        oneHour.verifiedParts.removeLast()
        let (short, shortWhy) = GateVerdict.decide(passing, GateVerdict.conditions(configuration(), host: realHost, remote: oneHour))
        #expect(short == .notReady && shortWhy.first?.hasPrefix("capture length: 1 full clock hours") == true, "\(shortWhy)")
    }

    /// A failed or skipped check is NOT_READY whatever else holds, failing checks first.
    @Test func aFailedOrSkippedCheckIsNotReady() {
        let real = GateVerdict.conditions(configuration(), host: realHost, remote: twoHours())
        let failed = [check("install", [.pass("ok")]), check("capture", [.pass("ok"), .fail("only 3 of 600 slots")])]
        let (verdict, reasons) = GateVerdict.decide(failed, real)
        #expect(verdict == .notReady && reasons == ["Capture failed: only 3 of 600 slots"])
        let skipped = [check("install", [.pass("ok")]), check("restart", [], skipped: "--no-disruption")]
        #expect(GateVerdict.decide(skipped, real).0 == .notReady)
        let inContainer = GateVerdict.conditions(configuration(), host: container, remote: twoHours())
        let (stillNotReady, both) = GateVerdict.decide(failed, inContainer)
        #expect(stillNotReady == .notReady && both.count == 2 && both[0].hasPrefix("Capture failed"))
    }

    /// Full hours are whole UTC hours the windows cover, whatever their length.
    @Test func fullHoursCountsCoveredClockHours() {
        let start = Timestamp(seconds: 1_796_608_800)
        let quarters = (0..<7).map { SealWindow(start: start.adding(seconds: Int64($0) * 900), minutes: 15, collector: "c") }
        #expect(GateVerdict.fullHours(quarters) == 1)
        #expect(GateVerdict.fullHours(quarters + [SealWindow(start: start.adding(seconds: 6300), minutes: 15, collector: "c")]) == 2)
        #expect(GateVerdict.fullHours([SealWindow(start: start.adding(seconds: 1800), minutes: 60, collector: "c")]) == 0)
        #expect(GateVerdict.fullHours([SealWindow(start: start, minutes: 1440, collector: "c")]) == 24)
    }

    /// A clock that is not synchronised fails on a real host and is a stand-in's risk in a container.
    @Test func clock() {
        var host = realHost
        host.clockSynchronized = false
        #expect(host.clockFinding.status == .fail)
        #expect(container.clockFinding.status == .warn)
        #expect(realHost.clockFinding.status == .pass)
    }
}

@Suite struct GateRunPartsTests {
    /// The env file as systemd reads the package's: comments, quotes, blanks.
    @Test func environmentFile() {
        let values = EnvironmentFile.parse("""
            # comment
            ORDERBOOKS_REMOTE=gdrive:orderbooks/polymarket
            #ORDERBOOKS_KEEP_DAYS=7
            ORDERBOOKS_USER_AGENT="orderbooks-snap/0.2.0 (test)"
              ORDERBOOKS_SERIES = 5m,15m

            """)
        #expect(values == ["ORDERBOOKS_REMOTE": "gdrive:orderbooks/polymarket", "ORDERBOOKS_USER_AGENT": "orderbooks-snap/0.2.0 (test)",
                           "ORDERBOOKS_SERIES": "5m,15m"])
    }

    /// The disruption notice snap reads: only a whole one counts, only while it lasts.
    @Test func disruptionNotice() {
        let now = Timestamp.now()
        let notice = Disruption(gateRun: "20261207T030447Z", action: "network cut", from: now, until: now.adding(seconds: 90))
        #expect(Disruption.decode(notice.encoded()) == notice)
        #expect(notice.text == "gate run 20261207T030447Z: network cut")
        #expect(notice.isActive(at: now.adding(seconds: 10)) && !notice.isActive(at: now.adding(seconds: 91)) && !notice.isActive(at: now.adding(seconds: -1)))
        #expect(Disruption.decode(Array(#"{"kind":"disruption","gate_run":"x"}"#.utf8)) == nil)
        #expect(Disruption.decode(Array("not json".utf8)) == nil)
    }

    /// Before and after a disruption: an unchanged file passes, a spool file sealed with its
    /// sha256 and a part pruned with its record are the pipeline's doing; an edited or lost file is not.
    @Test func inventoryComparison() {
        let fixture = SealFixture()
        defer { fixture.remove() }
        let now = Timestamp.now()
        fixture.add(snapshot(startedAt: now.adding(seconds: -7200)))
        let kept = fixture.add(snapshot(startedAt: now.adding(seconds: -10)))
        let before = FileInventory.take(fixture.data)
        #expect(before.files.count == 2)
        #expect(fixture.seal(minutes: 60) == .complete)
        let sealed = FileInventory.take(fixture.data)
        let (unchanged, moved, problems) = before.compare(to: sealed, root: fixture.data)
        #expect(unchanged == 1 && moved == 1 && problems.isEmpty, "\(problems)")

        // An edit of a spool file, and a spool file gone into no segment.
        let path = fixture.data + "/spool/" + kept
        let fd = open(path, O_WRONLY | O_APPEND)
        _ = write(fd, "x", 1)
        close(fd)
        #expect(before.compare(to: FileInventory.take(fixture.data), root: fixture.data).problems.first?.hasPrefix("spool/\(kept) changed") == true)
        unlink(path)
        #expect(before.compare(to: FileInventory.take(fixture.data), root: fixture.data).problems == ["spool/\(kept) is gone and in no sealed segment"])
        #expect(FileInventory.decode(sealed.json)?.files == sealed.files)

        // The part pruned after verification (its two files gone, its record there): the spool
        // file sealed into it and the part's own files are the pipeline's doing too.
        let window = SealWindow(containing: now.adding(seconds: -7200), minutes: 60, collector: "c1")
        let base = fixture.data + "/sealed/" + window.dayDirectory + "/" + window.partName(1)
        unlink(base + SealWindow.segmentSuffix)
        unlink(base + SealWindow.manifestSuffix)
        try! DurableFile.makeDirectories(fixture.data + "/receipts/" + window.dayDirectory)
        let afterPrune = FileInventory.take(fixture.data)
        #expect(before.compare(to: afterPrune, root: fixture.data).problems.count == 2, "no prune record yet: lost")
        try! DurableFile.create(Array("{}".utf8), at: fixture.data + "/receipts/" + window.dayDirectory + "/" + window.partName(1) + ".pruned.json",
                                temporaryDirectory: fixture.data + "/receipts")
        let pruned = FileInventory.take(fixture.data)
        #expect(before.compare(to: pruned, root: fixture.data).problems == ["spool/\(kept) is gone and in no sealed segment"])
        #expect(sealed.compare(to: pruned, root: fixture.data).problems.allSatisfy { $0.hasPrefix("spool/\(kept)") })
    }

    /// seal gives a disrupted run's slot the gate as its reason, not its errors.
    @Test func sealNamesTheGateInGaps() throws {
        let fixture = SealFixture()
        defer { fixture.remove() }
        let start = Timestamp(seconds: Timestamp.now().seconds / 3600 * 3600 - 7200)
        var rows = snapshot(startedAt: start.adding(seconds: 1), outcome: "failed", failures: ["connect"], books: 0)
        var text = try Gzip.decompress(rows.bytes)
        let disruption = #","disruption":"gate run 20261207T030447Z: network cut"}"#
        text = Array(String(decoding: text, as: UTF8.self).replacing(#""outcome":"failed"}"#, with: #""outcome":"failed""# + disruption).utf8)
        rows.bytes = try Gzip.compress(text)
        fixture.add(rows)
        fixture.add(snapshot(startedAt: start.adding(seconds: 2), outcome: "failed", failures: ["connect"], books: 0))
        #expect(fixture.seal(minutes: 60) == .complete)
        let manifest = try DurableFile.read(fixture.data + "/sealed/" + SealWindow(start: start, minutes: 60, collector: "c1").dayDirectory + "/"
                                            + SealWindow(start: start, minutes: 60, collector: "c1").partName(1) + SealWindow.manifestSuffix) ?? []
        let gaps = try JSON.parse(manifest)["gaps"]?.array?.compactMap { $0["reason"]?.string } ?? []
        #expect(gaps.prefix(3) == ["no run", "gate run 20261207T030447Z: network cut", "connect"], "\(gaps)")
    }
}

@Suite struct GateReportTests {
    /// The report's files: written at once under their id, readable by all, gate.json parses and
    /// leads with the verdict, gate.md starts with it, and SHA256SUMS checks.
    @Test func reportFiles() async throws {
        let fixture = SealFixture()
        defer { fixture.remove() }
        let now = Timestamp.now()
        var record = CommandRecord(argv: ["systemctl", "show", "x"], startedAt: now, finishedAt: now.adding(seconds: 1), stdout: Array("a=b\n".utf8), stderr: [])
        record.exitStatus = 0
        var install = check("install", [.pass("binaries as built"), .fail("PID 1 | is init")])
        install.commands = [record]
        let report = GateReport(id: "20261207T030447Z", verdict: .notReady, reasons: ["Install failed: PID 1 | is init"], startedAt: now, finishedAt: now,
                                command: ["gate", "run"], host: container, hostname: "vps", conditions: [], checks: [install],
                                risks: [Risk(risk: "A single collector", evidence: "vps-a")])
        let directory = try report.write(to: fixture.data + "/reports", inventory: FileInventory.take(fixture.data), owner: "nobody-such-user")
        #expect(directory == fixture.data + "/reports/20261207T030447Z")
        #expect(DataDirectory.names(in: fixture.data + "/reports") == ["20261207T030447Z"])
        #expect(DataDirectory.names(in: directory) == ["SHA256SUMS", "gate.json", "gate.md", "inventory.json"])
        let json = try JSON.parse(try DurableFile.read(directory + "/gate.json") ?? [])
        #expect(json["verdict"]?.string == "NOT_READY" && json["schema"] == .number("1"))
        let command = json["checks"]?.array?.first?["commands"]?.array?.first
        #expect(command?["argv"]?.array == [.string("systemctl"), .string("show"), .string("x")])
        #expect(command?["stdout_sha256"]?.string == Digest.sha256Hex(Array("a=b\n".utf8)) && command?["exit_status"] == .number("0"))
        let md = String(decoding: try DurableFile.read(directory + "/gate.md") ?? [], as: UTF8.self)
        #expect(md.hasPrefix("# Production gate: NOT_READY\n"))
        #expect(md.contains("| fail | PID 1 ¦ is init |"))
        let sums = try await run(["/bin/sh", "-c", "cd '\(directory)' && sha256sum -c SHA256SUMS"])
        #expect(sums.exitStatus == 0, "\(sums.stdoutText)")
        var info = stat()
        #expect(stat(directory + "/gate.md", &info) == 0 && info.st_mode & 0o777 == 0o644)
    }

    private func run(_ argv: [String]) async throws -> CommandRecord { await Command.run(argv) }
}
