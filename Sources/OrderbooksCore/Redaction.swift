/// Credentials never reach a record. snap's API URLs may carry user info
/// (`https://user:token@host`): the request uses it, every row, failure row and log line shows
/// the URL with it masked. docs/FORMAT.md ("url") describes the result.
public enum Redaction {
    /// What replaces a secret.
    public static let mask = "***"

    /// `https://user:token@host/path` → `https://***@host/path`: the whole user info goes (a user
    /// name alone can be a token). Anything that is not such a URL is returned as it is.
    public static func url(_ text: String) -> String {
        guard let scheme = text.firstRange(of: "://") else { return text }
        let authorityStart = scheme.upperBound
        let authorityEnd = text[authorityStart...].firstIndex { "/?#".contains($0) } ?? text.endIndex
        guard let at = text[authorityStart..<authorityEnd].lastIndex(of: "@") else { return text }
        return String(text[..<authorityStart]) + mask + String(text[at...])
    }
}
