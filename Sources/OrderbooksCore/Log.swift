import Glibc

/// One line per event on stderr. Under systemd, lines carry sd-daemon priority prefixes
/// (`<3>`, `<4>`, `<6>`) so journald files them as error, warning or info.
public struct Log: Sendable {
    public enum Level: Int32, Sendable {
        case error = 3, warning = 4, info = 6
    }

    let prefixesPriority: Bool
    /// Whether stderr goes to the journal (systemd's JOURNAL_STREAM names it).
    public var toJournal: Bool { prefixesPriority }

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

    /// C0 and C1 controls, DEL, U+2028/U+2029, and the bidirectional controls (U+061C,
    /// U+200E/F, U+202A–E, U+2066–9), which can make a terminal show a line in another order.
    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0..<0x20, 0x7F...0x9F, 0x2028, 0x2029, 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    /// `text` as a quoted `key="value"` value: `"` and `\` escaped, so text from a server cannot
    /// close the quotes and add fields of its own (a forged `outcome=complete`).
    public static func quoted(_ text: String) -> String {
        // By scalar: a quote with a combining mark after it is one Character, and still a quote.
        var out = String.UnicodeScalarView()
        out.append("\"")
        for scalar in text.unicodeScalars {
            if scalar == "\"" || scalar == "\\" { out.append("\\") }
            out.append(scalar)
        }
        out.append("\"")
        return String(out)
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
