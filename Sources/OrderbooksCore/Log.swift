import Glibc

/// One line per event on stderr. Under systemd, lines carry sd-daemon priority prefixes
/// (`<3>`, `<4>`, `<6>`) so journald files them as error, warning or info.
public struct Log: Sendable {
    public enum Level: Int32, Sendable {
        case error = 3, warning = 4, info = 6
    }

    let prefixesPriority: Bool

    public init(environment: [String: String]) {
        prefixesPriority = Log.stderrIsJournal(environment["JOURNAL_STREAM"])
    }

    public func callAsFunction(_ level: Level, _ message: String) {
        var bytes = Array(((prefixesPriority ? "<\(level.rawValue)>" : "") + Self.escaped(message) + "\n").utf8)
        // One write(2) per line keeps lines whole when several processes share the stream.
        bytes.withUnsafeMutableBytes { _ = write(2, $0.baseAddress, $0.count) }
    }

    /// `message` with every control character written out (`\n`, `\r`, `\t`, `\x1b`, `\u{85}`):
    /// messages carry text from servers and file names, which must never start a line of their
    /// own (a forged `<6>… outcome=complete`) or drive a terminal. Line and paragraph separators
    /// count as controls too.
    static func escaped(_ message: String) -> String {
        guard message.unicodeScalars.contains(where: isControl) else { return message }
        var out = String.UnicodeScalarView()
        for scalar in message.unicodeScalars {
            guard isControl(scalar) else {
                out.append(scalar)
                continue
            }
            let text: String
            switch scalar {
            case "\n": text = "\\n"
            case "\r": text = "\\r"
            case "\t": text = "\\t"
            case _ where scalar.value < 0x80: text = "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            default: text = "\\u{" + String(scalar.value, radix: 16) + "}"
            }
            out.append(contentsOf: text.unicodeScalars)
        }
        return String(out)
    }

    /// C0 and C1 controls, DEL, and U+2028/U+2029.
    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    /// systemd sets JOURNAL_STREAM to `device:inode` of the stream it connected; it only counts
    /// if stderr is still that stream (not redirected by a wrapper).
    static func stderrIsJournal(_ value: String?) -> Bool {
        guard let parts = value?.split(separator: ":"), parts.count == 2,
              let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(2, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }
}
