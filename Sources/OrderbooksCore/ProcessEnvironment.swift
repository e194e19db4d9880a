import Glibc

public enum ProcessEnvironment {
    /// The process environment, read from `environ` (FoundationEssentials' ProcessInfo would do too,
    /// at the cost of its start-up work).
    public static var current: [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "=") {
                result[String(text[..<eq])] = String(text[text.index(after: eq)...])
            }
            pointer += 1
        }
        return result
    }
}
