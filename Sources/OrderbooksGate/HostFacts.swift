import Glibc
import OrderbooksCore

/// What the host is: whether it is a container (a stand-in for the VPS), its clock, PID 1, its boot.
struct HostFacts: Sendable {
    /// systemd-detect-virt --container: "none" on a VM or bare metal (a VPS is a VM: that is the real thing).
    var container: String
    var virtualization: String
    var clockSynchronized: Bool?
    var pid1: String
    var bootId: String?

    var isContainer: Bool { container != "none" }

    static func gather(_ check: inout CheckBuilder) async -> HostFacts {
        let container = await check.run(["systemd-detect-virt", "--container"]).stdoutText.trimmingWhitespace
        let virt = await check.run(["systemd-detect-virt"]).stdoutText.trimmingWhitespace
        let ntp = await check.run(["timedatectl", "show", "--property=NTPSynchronized", "--value"])
        let synchronized: Bool? = ntp.succeeded ? ntp.stdoutText.trimmingWhitespace == "yes" : nil
        let comm = (try? DurableFile.read("/proc/1/comm", maxBytes: 256)).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self).trimmingWhitespace }
        let boot = (try? DurableFile.read("/proc/sys/kernel/random/boot_id", maxBytes: 256)).flatMap { $0 }
            .map { String(decoding: $0, as: UTF8.self).trimmingWhitespace }
        return HostFacts(container: container.isEmpty ? "unknown" : container, virtualization: virt.isEmpty ? "unknown" : virt,
                         clockSynchronized: synchronized, pid1: comm ?? "unknown", bootId: boot)
    }

    /// A clock that is not synchronised fails the check, except in a container, whose clock is
    /// its host's business: there it is a stand-in's limit, recorded as a risk.
    var clockFinding: Finding {
        switch (clockSynchronized, isContainer) {
        case (true?, _): .pass("clock synchronised (timedatectl: NTPSynchronized=yes)")
        case (_, true): .warn("clock not known to be synchronised (NTPSynchronized=\(clockSynchronized.map { $0 ? "yes" : "no" } ?? "unknown")); "
            + "in a container (\(container)) the clock is the host's")
        default: .fail("clock not synchronised (NTPSynchronized=\(clockSynchronized.map { $0 ? "yes" : "no" } ?? "unknown")): "
            + "enable systemd-timesyncd or chrony; snapshot times would drift")
        }
    }
}
