import CLandlock
import Glibc
import OrderbooksCore

/// What snap applies to itself before it talks to any server: no new privileges, and with Landlock
/// (Linux 5.13+, when the kernel enables it) a file system where it may write only in its data
/// directory and read only what a run needs (its libraries, the TLS trust store, the resolver's
/// files, its CA file). Everything else, the Drive token in /etc/orderbooks/rclone included, is
/// out of reach. It costs a few system calls, where systemd's mount namespace for the same
/// protections costs milliseconds per start (docs/PERFORMANCE.md); the unit keeps systemd's
/// seccomp and namespace settings, docs/OPERATIONS.md says which protection comes from where.
public enum Sandbox {
    public enum State: Sendable, Equatable, CustomStringConvertible {
        /// Landlock applied, at this ABI version of the kernel's.
        case landlock(Int)
        /// ORDERBOOKS_SANDBOX=off.
        case off
        /// The kernel has no Landlock, or refused it: only no_new_privs applies.
        case unavailable(String)

        public var description: String {
            switch self {
            case .landlock(let abi): "landlock v\(abi)"
            case .off: "off"
            case .unavailable(let reason): "unavailable: \(reason)"
            }
        }
    }

    // Landlock's file system access rights (include/uapi/linux/landlock.h).
    static let execute: UInt64 = 1 << 0
    static let writeFile: UInt64 = 1 << 1
    static let readFile: UInt64 = 1 << 2
    static let readDirectory: UInt64 = 1 << 3
    static let truncate: UInt64 = 1 << 14
    static let ioctlDevice: UInt64 = 1 << 15
    /// The rights that apply to a file (a rule on a file may hold no others).
    static let fileRights = execute | writeFile | readFile | truncate | ioctlDevice

    /// Every right the kernel's ABI version knows: v2 rename/link across directories on top of
    /// v1's 13, v3 truncate, v5 device ioctls.
    static func handled(abi: Int) -> UInt64 {
        switch abi {
        case ..<3: (1 << 14) - 1
        case 3, 4: (1 << 15) - 1
        default: (1 << 16) - 1
        }
    }

    /// The kernel's Landlock ABI version; below 1 (errno set) when it has none or it is disabled.
    package static var kernelABI: Int { ccl_abi_version() }

    /// Read (and map) only: libraries, the trust store, what the resolver and the C library read.
    static let readable = [
        "/usr", "/lib", "/lib64", "/bin", "/etc/ssl", "/etc/resolv.conf", "/etc/hosts", "/etc/host.conf", "/etc/nsswitch.conf",
        "/etc/gai.conf", "/etc/ld.so.cache", "/etc/localtime", "/etc/services", "/etc/protocols", "/dev/urandom",
        "/proc/sys/kernel/random/boot_id", "/sys/devices/system/cpu",
    ]

    /// Applies the sandbox for the rest of the process: `writable` directories get every right,
    /// `readable` paths and `extraReadable` (a CA file) read rights, /dev/null read and write.
    /// Paths that do not exist are skipped. Never throws: a capture must not be lost to it.
    public static func apply(writable: [String], extraReadable: [String], enabled: Bool) -> State {
        _ = ccl_no_new_privs()
        guard enabled else { return .off }
        let abi = kernelABI
        guard abi >= 1 else { return .unavailable(errno == ENOSYS ? "this kernel has no Landlock" : "Landlock is disabled (\(String(cString: strerror(errno))))") }
        // ABI v1 (Linux 5.13-5.18) refuses every rename across directories, and each snapshot is
        // renamed from tmp/ into spool/.
        guard abi >= 2 else { return .unavailable("Landlock ABI v1 would refuse the rename from tmp/ to spool/ (Linux 5.19 or later needed)") }
        let handled = handled(abi: abi)
        let ruleset = ccl_create_ruleset(handled)
        guard ruleset >= 0 else { return .unavailable("landlock_create_ruleset: \(String(cString: strerror(errno)))") }
        defer { close(ruleset) }
        let read = (execute | readFile | readDirectory) & handled
        for path in readable + extraReadable { _ = allow(path, read, ruleset) }
        _ = allow("/dev/null", (readFile | writeFile) & handled, ruleset)
        for path in writable {
            guard allow(path, handled, ruleset) else { return .unavailable("cannot open \(path) for its rule: \(String(cString: strerror(errno)))") }
        }
        guard ccl_restrict_self(ruleset) == 0 else { return .unavailable("landlock_restrict_self: \(String(cString: strerror(errno)))") }
        return .landlock(abi)
    }

    /// Adds one path's rule; false if it could not be opened or added (a missing path is skipped
    /// and counts as done).
    private static func allow(_ path: String, _ rights: UInt64, _ ruleset: Int32) -> Bool {
        let fd = ccl_open_path(path)
        guard fd >= 0 else { return errno == ENOENT }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return false }
        let isDirectory = info.st_mode & S_IFMT == S_IFDIR
        return ccl_add_path_rule(ruleset, fd, isDirectory ? rights : rights & fileRights) == 0
    }
}
