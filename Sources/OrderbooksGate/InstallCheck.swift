import Glibc
import OrderbooksCore

/// Check 1, the install: binaries as built, data owned by the service user, units loaded and
/// timers firing, their sandboxes' exposure, the clock, PID 1.
enum InstallCheck {
    /// The highest `systemd-analyze security` exposure a unit may have (the shipped ones are
    /// 0.2 to 2.5; a drop-in that undid the hardening lands at 9.6).
    static let maxExposure = 4.0
    static let services = ["orderbooks-snap.service", "orderbooks-seal.service", "orderbooks-ship.service",
                           "orderbooks-prune.service", "orderbooks-check.service", "orderbooks-health.service"]

    static func run(_ c: GateRunConfiguration) async -> (CheckResult, HostFacts) {
        var check = CheckBuilder("install", "Install")
        let host = await HostFacts.gather(&check)
        check.add(.info("host: virtualization \(host.virtualization), container \(host.container), boot \(host.bootId ?? "unknown")"))
        await binaries(&check, c)
        await ownership(&check, c)
        await timers(&check, c)
        await exposure(&check)
        check.add(host.clockFinding)
        check.expect(host.pid1 == "systemd", "PID 1 is systemd", else: "PID 1 is \(host.pid1), not systemd: the timers cannot run")
        return (check.finished(), host)
    }

    /// Every binary BUILD.json names has its sha256 and size (sha256sum's line is the evidence).
    static func binaries(_ check: inout CheckBuilder, _ c: GateRunConfiguration) async {
        let buildFile = c.installDirectory + "/BUILD.json"
        guard let bytes = try? DurableFile.read(buildFile, maxBytes: 1 << 20), let build = try? JSON.parse(bytes),
              case .object(let binaries)? = build["binaries"] else {
            return check.add(.fail("\(buildFile) is missing or unreadable: the install cannot be matched to a build"))
        }
        check.add(.info("\(buildFile): version \(build["version"]?.string ?? "?"), git \(build["git_commit"]?.string ?? "?")"))
        let paths = binaries.compactMap { $0.value["path"]?.string }
        let sums = await check.run(["sha256sum", "--"] + paths)
        var actual: [String: String] = [:]
        for line in sums.stdoutText.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2 { actual[String(parts[1].drop { $0 == " " || $0 == "*" })] = String(parts[0]) }
        }
        for member in binaries {
            let (name, entry) = (member.key, member.value)
            guard let path = entry["path"]?.string, let sha256 = entry["sha256"]?.string else {
                check.add(.fail("BUILD.json: \(name) has no path or sha256"))
                continue
            }
            var info = stat()
            let size = stat(path, &info) == 0 ? Int64(info.st_size) : -1
            let bytesWanted = entry["bytes"].flatMap { if case .number(let n) = $0 { Int64(n) } else { nil } }
            check.expect(actual[path] == sha256 && bytesWanted == size,
                         "\(path): sha256 \(sha256.prefix(16))…, \(size) bytes, as BUILD.json says",
                         else: "\(path): sha256 \(actual[path] ?? "unreadable"), \(size) bytes; BUILD.json says \(sha256), \(bytesWanted ?? -1) bytes")
        }
    }

    /// The data directory and its folders belong to the service user (else a tool run as it
    /// cannot write there).
    static func ownership(_ check: inout CheckBuilder, _ c: GateRunConfiguration) async {
        let d = DataDirectory(root: c.dataDirectory)
        let paths = [d.root] + d.folders.filter { access($0, F_OK) == 0 }
        let listing = await check.run(["stat", "-c", "%U:%G %a %n", "--"] + paths)
        let wrong = listing.stdoutText.split(separator: "\n").filter { !$0.hasPrefix("\(c.user):\(c.user) ") }
        check.expect(listing.succeeded && wrong.isEmpty, "\(paths.count) directories of \(d.root) owned by \(c.user):\(c.user)",
                     else: "owned by someone else: \(wrong.joined(separator: "; "))\(listing.succeeded ? "" : " (stat: \(listing.ending))")")
    }

    /// Units loaded; snap's and seal's timers (and ship's, prune's, check's with a remote)
    /// enabled, armed and firing.
    static func timers(_ check: inout CheckBuilder, _ c: GateRunConfiguration) async {
        let record = await check.run(TimerState.query(TimerState.units), environment: TimerState.environment)
        let timers = TimerState.parse(record.stdoutText)
        guard record.succeeded, !timers.isEmpty else { return check.add(.fail("systemctl show failed: \(record.ending)")) }
        let now = Timestamp.now()
        for timer in timers {
            let required = TimerState.required.contains(timer.unit) || timer.unit == "orderbooks-health.timer"
                || (c.remote != nil && TimerState.forShipping.contains(timer.unit))
            let state = "\(timer.unit): \(timer.fileState), \(timer.activeState)"
                + (timer.lastTrigger.map { ", last fired \(now.seconds - $0.seconds) s ago" } ?? ", never fired")
            guard required else {
                check.add(.info(state + " (not required" + (c.remote == nil ? ": no ORDERBOOKS_REMOTE)" : ")")))
                continue
            }
            // Firing: snap's every second, seal's and ship's every 5 minutes, the others at their own pace.
            let period: Int64? = timer.unit == "orderbooks-snap.timer" ? 10 : ["orderbooks-seal.timer", "orderbooks-ship.timer"].contains(timer.unit) ? 330
                : timer.unit == "orderbooks-health.timer" ? 70 : nil
            let fired = period.map { p in timer.lastTrigger.map { now.seconds - $0.seconds <= p } ?? false } ?? true
            check.expect(timer.enabled && timer.armed && fired, state, else: state + (fired ? "" : " (should fire every \(period ?? 0) s at most)"))
        }
    }

    static func exposure(_ check: inout CheckBuilder) async {
        for service in services {
            let record = await check.run(["systemd-analyze", "security", "--no-pager", service])
            // "→ Overall exposure level for orderbooks-snap.service: 2.5 OK 🙂"
            guard let line = record.stdoutText.split(separator: "\n").last(where: { $0.contains("Overall exposure level") }),
                  let value = line.split(separator: ":").last?.split(separator: " ").first.flatMap({ Double($0) }) else {
                check.add(service == "orderbooks-check.service" ? .info("\(service): not installed") : .fail("\(service): no exposure score (\(record.ending))"))
                continue
            }
            check.expect(value <= maxExposure, "\(service): exposure \(value)", else: "\(service): exposure \(value), above \(maxExposure): its hardening is undone")
        }
    }
}
