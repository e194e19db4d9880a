import Testing
@testable import OrderbooksCore

/// The files that deploy the tools: the systemd units must load and stay hardened, the cron
/// lines must be valid shell. (scripts/vps-sim runs snap's under a real systemd.)
@Suite struct DeploymentTests {
    @Test func unitsPassSystemdVerify() async throws {
        // verify needs the units' dependencies (sysinit.target, …) and an executable ExecStart;
        // a temporary root provides both. Warnings (an unknown key) count as failures too.
        let script = """
            set -eu
            root=$(mktemp -d)
            trap 'rm -rf "$root"' EXIT
            mkdir -p "$root/etc/systemd/system" "$root/usr/lib/systemd" "$root/opt/orderbooks/bin"
            cp -a /lib/systemd/system "$root/usr/lib/systemd/"
            install -m 0755 /dev/null "$root/opt/orderbooks/bin/snap"
            install -m 0755 /dev/null "$root/opt/orderbooks/bin/seal"
            install -m 0755 /dev/null "$root/opt/orderbooks/bin/ship"
            cp "$UNITS"/orderbooks-*.service "$UNITS"/orderbooks-*.timer "$root/etc/systemd/system/"
            systemd-analyze verify --root="$root" orderbooks-snap.service orderbooks-snap.timer orderbooks-seal.service orderbooks-seal.timer \\
                orderbooks-ship.service orderbooks-ship.timer orderbooks-prune.service orderbooks-prune.timer orderbooks-check.service orderbooks-check.timer
            """
        let result = try await run("/bin/sh", ["-c", script], env: ["UNITS": Paths.packageRoot + "/systemd-timers"])
        #expect(result.exitCode == 0 && result.stderr.isEmpty, "\(result)")
    }

    @Test(arguments: ["snap", "seal", "ship", "prune", "check", "health"]) func serviceExposureIsAtMostTwoAndAHalf(tool: String) async throws {
        let result = try await run("/usr/bin/systemd-analyze", ["security", "--offline=true", "--no-pager",
                                                                Paths.packageRoot + "/systemd-timers/orderbooks-\(tool).service"])
        let score = result.stdout.split(separator: "\n").first { $0.contains("Overall exposure level") }
            .flatMap { line in line.split(separator: " ").compactMap { Double($0) }.first }
        #expect(score != nil, "\(result)")
        #expect((score ?? 10) <= 2.5, "exposure \(score ?? -1)")
    }

    /// Every unit runs as orderbooks, so the Drive token is kept from the tools that parse untrusted
    /// input by seal's mount namespace and by snap's own Landlock (SandboxTests; the unit must not
    /// turn it off); scripts/vps-sim checks both under systemd.
    @Test(arguments: ["snap", "seal", "ship", "prune", "check", "health"]) func onlyShipsUnitsSeeTheRcloneToken(tool: String) throws {
        let text = String(decoding: try DurableFile.read(Paths.packageRoot + "/systemd-timers/orderbooks-\(tool).service") ?? [], as: UTF8.self)
        let lines = text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") }
        let hidden = lines.contains { $0.hasPrefix("InaccessiblePaths=") && $0.contains("/etc/orderbooks/rclone") }
        let writable = lines.contains { $0.hasPrefix("ReadWritePaths=") && $0.contains("/etc/orderbooks/rclone") }
        if tool == "snap" {
            #expect(!writable && !lines.contains { $0.contains("ORDERBOOKS_SANDBOX=off") }, "snap must keep its sandbox")
        } else if tool == "seal" || tool == "health" {
            #expect(hidden && !writable, "\(tool) must not see /etc/orderbooks/rclone")
        } else {
            #expect(writable && !hidden, "\(tool) must read and rewrite /etc/orderbooks/rclone")
        }
    }

    @Test func cronLocksWhereOnlyTheServiceUserCanWrite() throws {
        let text = String(decoding: try DurableFile.read(Paths.packageRoot + "/cron/orderbooks") ?? [], as: UTF8.self)
        let jobs = text.split(separator: "\n").filter { !$0.hasPrefix("#") && $0.contains("flock") }
        #expect(!jobs.isEmpty)
        for job in jobs {
            // A lock in /run/lock or /tmp (mode 1777) can be held by any local user to stop capture.
            #expect(!job.contains("/run/lock") && !job.contains("/tmp/"), "\(job)")
            #expect(job.contains("flock -n -E 200 \"$ORDERBOOKS_DATA_DIR/state/"), "\(job)")
        }
    }

    @Test func cronLinesAreValidShellAndRunTheSameBinaries() async throws {
        let text = String(decoding: try DurableFile.read(Paths.packageRoot + "/cron/orderbooks") ?? [], as: UTF8.self)
        let jobs = text.split(separator: "\n").filter { $0.first == "*" || $0.first?.isNumber == true }
        #expect(jobs.count == 6)
        for (job, binary) in zip(jobs, ["/opt/orderbooks/bin/snap", "/opt/orderbooks/bin/seal", "/opt/orderbooks/bin/ship", "/opt/orderbooks/bin/ship prune",
                                        "/opt/orderbooks/bin/ship check", "/opt/orderbooks/bin/gate health --timers off"]) {
            let fields = job.split(separator: " ", maxSplits: 6, omittingEmptySubsequences: true)
            #expect(fields.count == 7 && fields[5] == "orderbooks", "an /etc/cron.d line names the user")
            // cron turns an unescaped % into a newline and unescapes \%.
            #expect(!String(fields[6]).replacing("\\%", with: "").contains("%"))
            let command = String(fields[6]).replacing("\\%", with: "%")
            #expect(command.contains(binary) && command.contains("timeout"))
            let check = try await run("/bin/sh", ["-n", "-c", command])
            #expect(check.exitCode == 0, "\(check)")
        }
        let schedules = jobs.map { $0.split(separator: " ").prefix(5).joined(separator: " ") }
        #expect(schedules == ["* * * * *", "1-59/5 * * * *", "2-59/5 * * * *", "30 * * * *", "15 4 * * 0", "* * * * *"])
    }

    /// The package's /etc/orderbooks/orderbooks.env (packaging/deb) names every ORDERBOOKS_ setting
    /// the tools read, each commented out: as shipped it changes nothing (scripts/package-test
    /// checks the installed copy sets nothing).
    @Test func packagedEnvFileListsEverySettingCommentedOut() throws {
        let env = String(decoding: try DurableFile.read(Paths.packageRoot + "/packaging/deb/orderbooks.env") ?? [], as: UTF8.self)
        let lines = env.split(separator: "\n").map(String.init)
        #expect(!lines.contains { !$0.isEmpty && !$0.hasPrefix("#") }, "an uncommented line")
        let files = ["OrderbooksCore/Configuration.swift", "OrderbooksCapture/SnapOptions.swift", "OrderbooksSealing/SealOptions.swift",
                     "OrderbooksShipping/ShipOptions.swift", "OrderbooksGate/HealthOptions.swift"]
        let source = try files.map { String(decoding: try DurableFile.read(Paths.packageRoot + "/Sources/" + $0) ?? [], as: UTF8.self) }.joined()
        let names = Set(source.matches(of: /"(ORDERBOOKS_[A-Z_]+)"/).map { String($0.1) })
        #expect(names.count >= 15, "\(names)")
        for name in names {
            #expect(lines.contains { $0.hasPrefix("#\(name)=") }, "\(name) missing from packaging/deb/orderbooks.env")
        }
    }

    /// Shipping before a remote is configured is skipped visibly (an unmet condition), not failed
    /// every 5 minutes: ship, prune and check need the rclone config (docs/OPERATIONS.md, "Install").
    @Test(arguments: ["ship", "prune", "check"]) func shipUnitsWaitForTheRcloneConfig(tool: String) throws {
        let text = String(decoding: try DurableFile.read(Paths.packageRoot + "/systemd-timers/orderbooks-\(tool).service") ?? [], as: UTF8.self)
        #expect(text.split(separator: "\n").contains("ConditionPathExists=/etc/orderbooks/rclone/rclone.conf"))
    }

    /// The weekly audit runs `ship check --wait` (a ship tick at that moment must not make it skip
    /// the week) as the ship units do otherwise, and its timer and the cron line say the same time.
    @Test func theWeeklyCheckWaitsForTheLockAndMatchesItsCronLine() throws {
        func text(_ path: String) throws -> String { String(decoding: try DurableFile.read(Paths.packageRoot + "/" + path) ?? [], as: UTF8.self) }
        let service = try text("systemd-timers/orderbooks-check.service").split(separator: "\n")
        #expect(service.contains("ExecStart=/opt/orderbooks/bin/ship check --wait"))
        let ship = try text("systemd-timers/orderbooks-ship.service").split(separator: "\n")
        for key in ["User=", "Group=", "EnvironmentFile=", "Environment=", "ReadWritePaths=", "StateDirectory=", "CacheDirectory="] {
            #expect(service.filter { $0.hasPrefix(key) } == ship.filter { $0.hasPrefix(key) }, "\(key)")
        }
        #expect(try text("systemd-timers/orderbooks-check.timer").split(separator: "\n").contains("OnCalendar=Sun *-*-* 04:15:00"))
        #expect(try text("cron/orderbooks").split(separator: "\n").contains { $0.hasPrefix("15 4 * * 0  orderbooks ") && $0.contains("ship check --wait") })
        for script in ["packaging/deb/postinst", "packaging/deb/prerm", "packaging/deb/postrm", "scripts/package-test"] {
            #expect(try text(script).contains("orderbooks-prune.timer orderbooks-check.timer orderbooks-health.timer\""), "\(script) does not list the check and health timers")
        }
    }
}
