import Glibc
import OrderbooksCore
@testable import OrderbooksGate
import TestSupport
import Testing

/// A sealed part's receipt (or prune record) as ship writes it: only `status` matters here.
private func receipt(_ fixture: SealFixture, _ window: SealWindow, part: Int = 1, status: String?, pruned: Bool = false) {
    let directory = fixture.data + "/receipts/" + window.dayDirectory
    try! DurableFile.makeDirectories(directory)
    let base = directory + "/" + window.partName(part)
    if let status {
        try! DurableFile.replace(Array(#"{"kind":"receipt","schema":1,"status":"\#(status)","files":[{"status":"verified"}]}"#.utf8),
                                 at: base + DataDirectory.receiptSuffix, temporaryDirectory: directory)
    }
    if pruned { try! DurableFile.replace(Array(#"{"kind":"pruned"}"#.utf8), at: base + ".pruned.json", temporaryDirectory: directory) }
}

private func configuration(_ data: String = "/data", shipping: Bool = true) -> HealthConfiguration {
    HealthConfiguration(dataDirectory: data, thresholds: HealthThresholds(), shipping: shipping, timers: false, json: false, prometheusFile: nil)
}

private func check(_ verdict: HealthVerdict, _ name: String) -> HealthCheck? { verdict.checks.first { $0.name == name } }

@Suite struct HealthFactsTests {
    /// The newest complete run is found behind newer failed ones, by its run row, not its name.
    @Test func lastCompleteIsTheNewestCompleteRunRow() {
        let fixture = SealFixture()
        defer { fixture.remove() }
        let now = Timestamp.now()
        let complete = fixture.add(snapshot(startedAt: now.adding(seconds: -20)))
        let oldest = fixture.add(snapshot(startedAt: now.adding(seconds: -30)))
        let failed = fixture.add(snapshot(startedAt: now.adding(seconds: -5), outcome: "failed", failures: ["connect"], books: 0))
        fixture.add(snapshot(startedAt: now.adding(seconds: -10), outcome: "partial", failures: ["timeout"]))
        let facts = HealthFacts.gather(DataDirectory(root: fixture.data), now: now)
        #expect(facts.lastComplete?.name == complete)
        #expect(facts.lastSnapshot?.name == failed)
        #expect(facts.spoolFiles == 4)
        #expect(facts.oldestSpool?.name == oldest)
        #expect(facts.snapshotsRead == 3)
    }

    /// Once seal has emptied the spool, the newest part's last sources stand for the newest
    /// snapshots: cut out of the segment by the manifest's offsets and read.
    @Test func afterSealingTheSegmentsSourcesAreRead() {
        let fixture = SealFixture()
        defer { fixture.remove() }
        let now = Timestamp.now()
        let start = now.adding(seconds: -600)
        let complete = fixture.add(snapshot(startedAt: start.adding(seconds: 1)))
        let failed = fixture.add(snapshot(startedAt: start.adding(seconds: 2), outcome: "failed", failures: ["connect"], books: 0))
        #expect(fixture.seal(minutes: 60, flush: true) == .complete)
        #expect(fixture.names("spool").isEmpty)
        let facts = HealthFacts.gather(DataDirectory(root: fixture.data), now: now)
        #expect(facts.lastSnapshot?.name == failed)
        #expect(facts.lastComplete?.name == complete)
        #expect(facts.parts == 1)
        #expect(facts.lastPart?.coverage != nil)
    }

    /// Parts wait for shipping until a verified receipt or a prune record says otherwise; a
    /// refused receipt is counted apart.
    @Test func unverifiedAndRefusedParts() {
        let fixture = SealFixture()
        defer { fixture.remove() }
        let now = Timestamp.now()
        var windows: [SealWindow] = []
        for hour in [5, 4, 3, 2] {
            let at = now.adding(seconds: Int64(-3600 * hour))
            fixture.add(snapshot(startedAt: at))
            windows.append(SealWindow(containing: at, minutes: 60, collector: "c1"))
        }
        #expect(fixture.seal(minutes: 60) == .complete)
        receipt(fixture, windows[0], status: nil, pruned: true)
        receipt(fixture, windows[1], status: "failed")
        receipt(fixture, windows[2], status: "refused")
        receipt(fixture, windows[3], status: "verified")
        let facts = HealthFacts.gather(DataDirectory(root: fixture.data), now: now)
        #expect(facts.parts == 4)
        #expect(facts.unverified.map(\.name) == [windows[1].partName(1)])
        #expect(facts.refused == [windows[2].partName(1)])
        let verdict = HealthVerdict(facts: facts, timers: nil, timersNote: nil, configuration: configuration(fixture.data))
        #expect(check(verdict, "shipping")?.status == .critical)
    }

    /// Quarantined files count (not their reasons), and a throttling pause is read from
    /// state/backoff.json only while it runs.
    @Test func quarantineAndBackoff() {
        let fixture = SealFixture()
        defer { fixture.remove() }
        let now = Timestamp.now()
        try! DurableFile.makeDirectories(fixture.data + "/quarantine")
        try! DurableFile.makeDirectories(fixture.data + "/state")
        for name in ["a.jsonl.gz", "a.jsonl.gz.reason.json", "b.jsonl.gz"] {
            try! DurableFile.replace([1], at: fixture.data + "/quarantine/" + name, temporaryDirectory: fixture.data + "/quarantine")
        }
        let pauses = #"{"schema":1,"apis":[{"api":"clob","until":"\#(now.adding(seconds: 60).iso8601)","consecutive":1,"reason":"429"},"#
            + #"{"api":"gamma","until":"\#(now.adding(seconds: -60).iso8601)","consecutive":1,"reason":"old"}]}"#
        try! DurableFile.replace(Array(pauses.utf8), at: fixture.data + "/state/backoff.json", temporaryDirectory: fixture.data + "/state")
        let facts = HealthFacts.gather(DataDirectory(root: fixture.data), now: now)
        #expect(facts.quarantined == 2)
        #expect(facts.lastQuarantinedAt != nil)
        #expect(facts.backoff.map(\.api) == ["clob"])
    }
}

@Suite struct HealthVerdictTests {
    func facts(_ now: Timestamp, complete: Int64?, any: Int64?) -> HealthFacts {
        var f = HealthFacts(now: now)
        f.lastComplete = complete.map { .init(name: "c", startedAt: now.adding(seconds: -$0)) }
        f.lastSnapshot = any.map { .init(name: "a", startedAt: now.adding(seconds: -$0)) }
        return f
    }

    /// Capture: OK, WARNING and CRITICAL by the newest complete snapshot's age, CRITICAL with
    /// no complete one, and CRITICAL with no snapshot at all (a fresh install capturing nothing).
    @Test func captureGrades() {
        let now = Timestamp.now()
        let c = configuration()
        #expect(check(HealthVerdict(facts: facts(now, complete: 2, any: 1), timers: nil, timersNote: nil, configuration: c), "capture")?.status == .ok)
        #expect(check(HealthVerdict(facts: facts(now, complete: 31, any: 1), timers: nil, timersNote: nil, configuration: c), "capture")?.status == .warning)
        #expect(check(HealthVerdict(facts: facts(now, complete: 121, any: 1), timers: nil, timersNote: nil, configuration: c), "capture")?.status == .critical)
        #expect(check(HealthVerdict(facts: facts(now, complete: nil, any: 1), timers: nil, timersNote: nil, configuration: c), "capture")?.status == .critical)
        let none = HealthVerdict(facts: facts(now, complete: nil, any: nil), timers: nil, timersNote: nil, configuration: c)
        #expect(none.status == .critical)
        #expect(none.summary.hasPrefix("ORDERBOOKS CRITICAL: capture: no snapshot at all"))
    }

    /// The backlog's defaults follow the segment length; the ship age and the coverage grade.
    @Test func sealingAndShippingGrades() {
        let now = Timestamp.now()
        var f = facts(now, complete: 1, any: 1)
        f.oldestSpool = .init(name: "o", startedAt: now.adding(seconds: -(3600 + 3601)))
        f.lastPart = .init(name: "p", windowEnd: now, coverage: 0.5)
        f.unverified = [.init(name: "u", windowEnd: now.adding(seconds: -(24 * 3600 + 1)))]
        f.parts = 1
        let verdict = HealthVerdict(facts: f, timers: nil, timersNote: nil, configuration: configuration())
        #expect(check(verdict, "sealing")?.status == .warning)
        #expect(check(verdict, "shipping")?.status == .critical)
        #expect(HealthThresholds(segmentMinutes: 1440).backlogWarning == 86_400 + 3600)
        f.oldestSpool = .init(name: "o", startedAt: now.adding(seconds: -60))
        f.lastPart?.coverage = 1
        f.unverified = []
        let healthy = HealthVerdict(facts: f, timers: nil, timersNote: nil, configuration: configuration())
        #expect(healthy.status == .ok, "\(healthy.checks)")
    }

    /// Disk: days left at the recent rate; no rate is no extrapolation.
    @Test func diskGrades() {
        let now = Timestamp.now()
        var f = facts(now, complete: 1, any: 1)
        f.disk = .init(freeBytes: 86_400 * 2, totalBytes: 1 << 40, growthBytesPerSecond: 1)
        #expect(check(HealthVerdict(facts: f, timers: nil, timersNote: nil, configuration: configuration()), "disk")?.status == .critical)
        f.disk?.growthBytesPerSecond = 0.2
        #expect(check(HealthVerdict(facts: f, timers: nil, timersNote: nil, configuration: configuration()), "disk")?.status == .warning)
        f.disk?.growthBytesPerSecond = nil
        #expect(check(HealthVerdict(facts: f, timers: nil, timersNote: nil, configuration: configuration()), "disk")?.status == .ok)
    }

    /// Timers: snap's and seal's are required; ship's only with a remote configured.
    @Test func timerGrades() {
        let now = Timestamp.now()
        let f = facts(now, complete: 1, any: 1)
        let on = { (unit: String) in TimerState(unit: unit, fileState: "enabled", activeState: "active") }
        let off = { (unit: String) in TimerState(unit: unit, fileState: "disabled", activeState: "inactive") }
        let shipOff = [on("orderbooks-snap.timer"), on("orderbooks-seal.timer"), off("orderbooks-ship.timer")]
        #expect(check(HealthVerdict(facts: f, timers: shipOff, timersNote: nil, configuration: configuration(shipping: false)), "timers")?.status == .ok)
        #expect(check(HealthVerdict(facts: f, timers: shipOff, timersNote: nil, configuration: configuration()), "timers")?.status == .warning)
        let snapOff = [off("orderbooks-snap.timer"), on("orderbooks-seal.timer")]
        #expect(check(HealthVerdict(facts: f, timers: snapOff, timersNote: nil, configuration: configuration()), "timers")?.status == .critical)
        #expect(check(HealthVerdict(facts: f, timers: nil, timersNote: "systemctl show failed", configuration: configuration()), "timers")?.status == .unknown)
    }

    /// A known problem outranks an unknown one; UNKNOWN outranks OK.
    @Test func worstFirst() {
        #expect([HealthStatus.unknown, .warning, .ok].max() == .warning)
        #expect([HealthStatus.unknown, .ok].max() == .unknown)
        #expect([HealthStatus.critical, .unknown].max() == .critical)
    }
}

@Suite struct TimerStateTests {
    /// systemctl show's blocks (times in UTC, or as @epoch); a unit that does not exist is not-found.
    @Test func parsesSystemctlShow() {
        let text = """
            Id=orderbooks-snap.timer
            LoadState=loaded
            UnitFileState=enabled
            ActiveState=active
            LastTriggerUSec=Mon 2026-12-07 03:05:03 UTC
            NextElapseUSecRealtime=@1796612704

            Id=orderbooks-check.timer
            LoadState=not-found
            UnitFileState=
            ActiveState=inactive
            LastTriggerUSec=n/a
            NextElapseUSecRealtime=

            """
        let timers = TimerState.parse(text)
        #expect(timers.count == 2)
        #expect(timers[0] == TimerState(unit: "orderbooks-snap.timer", fileState: "enabled", activeState: "active",
                                        lastTrigger: Timestamp(seconds: 1_796_612_703), nextElapse: Timestamp(seconds: 1_796_612_704)))
        #expect(timers[1].fileState == "not-found" && !timers[1].enabled && timers[1].lastTrigger == nil)
    }
}
