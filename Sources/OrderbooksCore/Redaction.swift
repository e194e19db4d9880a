/// Credentials never reach a record: receipts, `.pruned.json`, the journal, stderr. The one place
/// that decides what a secret looks like in the two spellings the tools record: an rclone remote
/// (`:sftp,host=h,user=u,pass=<obscured>:path`, `gdrive,token=…:path`) and a URL with user info
/// (`https://user:token@host/`). docs/FORMAT.md ("Redaction") describes the result.
public struct Redaction: Sendable {
    /// What replaces a secret.
    public static let mask = "***"

    /// Connection-string parameters whose values are shown: they say where the remote is and how
    /// it is reached, never how to log in. Every other parameter's value is masked, known secret
    /// names (pass, key, token, client_secret, sas, …) and unknown ones alike: a new backend's
    /// secret is not in any list here, and a masked harmless value costs nothing.
    static let shownParameters: Set<String> = ["type", "host", "user", "port", "vendor", "shell_type", "md5sum_command", "sha1sum_command",
                                               "url", "remote", "region", "endpoint", "provider", "root_folder_id", "team_drive", "scope"]

    /// The remote as given, and as it may be recorded.
    public let remote: String
    public let shownRemote: String
    /// The masked values (as written and unquoted), found again in free text such as rclone's
    /// stderr, which echoes the remote. Values shorter than 4 characters are masked only where
    /// they stand in a remote spelled out, never in free text (they would hit ordinary words).
    let secrets: [String]

    public init(remote: String) {
        self.remote = remote
        var secrets: [String] = []
        shownRemote = Self.redactRemote(remote, secrets: &secrets)
        // rclone quotes a remote in its errors the way Go does (`%q`: `"` as `\"`), and puts
        // what it took for a path into URLs (percent-encoded): each secret in those forms too.
        let forms = secrets.flatMap { [$0, Self.goQuoted($0), Self.percentEncoded($0, keeping: ""), Self.percentEncoded($0, keeping: "$&+,:;=@")] }
        self.secrets = Set(forms.filter { $0.count >= 4 }).sorted { $0.count > $1.count }
    }

    /// The inside of Go's `%q` of `text`: `\`, `"` and control characters escaped.
    static func goQuoted(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// `text` percent-encoded, every byte but the unreserved ones and `keeping`.
    static func percentEncoded(_ text: String, keeping: String) -> String {
        let kept = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8).union(keeping.utf8)
        var out = ""
        for byte in text.utf8 {
            if kept.contains(byte) { out.unicodeScalars.append(Unicode.Scalar(byte)) } else {
                out += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return out
    }

    /// `text` with the remote spelled as recorded, every masked value masked again wherever it
    /// appears, and the user info of every URL in it masked.
    public func scrub(_ text: String) -> String {
        var result = text
        if remote != shownRemote && !remote.isEmpty { result = result.replacing(remote, with: shownRemote) }
        for secret in secrets where result.contains(secret) { result = result.replacing(secret, with: Self.mask) }
        return Self.scrubURLs(in: result)
    }

    /// `https://user:token@host/path` → `https://***@host/path`: the whole user info goes (a user
    /// name alone can be a token, as GitHub's are). Anything that is not such a URL is returned
    /// as it is.
    public static func url(_ text: String) -> String {
        guard let scheme = text.firstRange(of: "://") else { return text }
        let authorityStart = scheme.upperBound
        let authorityEnd = text[authorityStart...].firstIndex { "/?#".contains($0) } ?? text.endIndex
        guard let at = text[authorityStart..<authorityEnd].lastIndex(of: "@") else { return text }
        return String(text[..<authorityStart]) + mask + String(text[at...])
    }

    /// A URL given as a remote's parameter, where a password with a raw `/`, `?` or `#` is not
    /// user info to a URL parser but is a password all the same: everything up to its last `@` goes.
    static func parameterURL(_ text: String) -> String {
        guard let scheme = text.firstRange(of: "://"), let at = text[scheme.upperBound...].lastIndex(of: "@") else { return text }
        return String(text[..<scheme.upperBound]) + mask + String(text[at...])
    }

    /// Every URL in free text with its user info masked (a log line, an error, rclone's stderr).
    public static func scrubURLs(in text: String) -> String {
        guard text.contains("://") else { return text }
        var result = ""
        var rest = Substring(text)
        while let scheme = rest.firstRange(of: "://") {
            result += rest[..<scheme.upperBound]
            rest = rest[scheme.upperBound...]
            // The authority ends where a URL's path, query or fragment starts, or the URL ends.
            let end = rest.firstIndex { "/?#".contains($0) || $0.isWhitespace || "\"'<>`".contains($0) } ?? rest.endIndex
            if let at = rest[..<end].lastIndex(of: "@") {
                result += mask
                rest = rest[at...]
            }
        }
        return result + rest
    }

    /// rclone's syntax: `name` or `:backend`, then `,key=value` pairs (a value may be quoted with
    /// `"` or `'`, a doubled quote standing for itself), then `:` and the path. A local path
    /// (a `/` before any `:`) has no parameters. A spec that does not parse is masked from its
    /// first parameter on: what cannot be read cannot be shown.
    static func redactRemote(_ spec: String, secrets: inout [String]) -> String {
        let characters = Array(spec)
        var i = characters.startIndex
        if i < characters.endIndex && characters[i] == ":" { i += 1 }
        while i < characters.endIndex && !",:/".contains(characters[i]) { i += 1 }
        guard i < characters.endIndex, characters[i] == "," else { return scrubURLs(in: spec) }
        var output = String(characters[..<i])
        while i < characters.endIndex && characters[i] == "," {
            i += 1
            let keyStart = i
            while i < characters.endIndex && !"=,:".contains(characters[i]) { i += 1 }
            let key = String(characters[keyStart..<i])
            output += "," + key
            guard i < characters.endIndex, characters[i] == "=" else { continue }
            i += 1
            var value = "", raw = ""
            if i < characters.endIndex, characters[i] == "\"" || characters[i] == "'" {
                let quote = characters[i]
                let rawStart = i
                i += 1
                var closed = false
                while i < characters.endIndex {
                    if characters[i] == quote {
                        if i + 1 < characters.endIndex && characters[i + 1] == quote {
                            value.append(quote)
                            i += 2
                            continue
                        }
                        i += 1
                        closed = true
                        break
                    }
                    value.append(characters[i])
                    i += 1
                }
                raw = String(characters[rawStart..<i])
                if !closed {
                    secrets += [value, raw]
                    return output + "=" + mask
                }
            } else {
                let valueStart = i
                while i < characters.endIndex && !",:".contains(characters[i]) { i += 1 }
                value = String(characters[valueStart..<i])
                raw = value
            }
            let name = key.lowercased().replacing("-", with: "_")
            if name == "remote" {
                // A wrapping backend (crypt, alias, chunker) names its remote: the same rules inside.
                let inner = redactRemote(value, secrets: &secrets)
                output += "=" + quoted(inner, like: raw, value)
            } else if shownParameters.contains(name) {
                // A shown value may still be a URL with user info (`url=`, `endpoint='http://key:secret@host'`).
                let shown = parameterURL(value)
                if shown != value, let at = value.lastIndex(of: "@"), let scheme = value.firstRange(of: "://") {
                    secrets.append(String(value[scheme.upperBound..<at]))
                }
                output += "=" + quoted(shown, like: raw, value)
            } else {
                secrets += [value, raw]
                output += "=" + mask
            }
        }
        let rest = String(characters[i...])
        // An unquoted URL value ends at its scheme's ':' (`url=http://u:p@h,pass=x:path`), and an
        // unquoted nested remote at its backend's (`remote=:sftp,pass=x:p`): the rest of the
        // connection string becomes what rclone takes for the path. None of it is shown.
        guard rest.hasPrefix("://") || (rest.contains(",") && rest.contains("=")) else { return output + scrubURLs(in: rest) }
        let tail = rest.drop { ":/".contains($0) }
        if let at = tail.lastIndex(of: "@") { secrets.append(String(tail[..<at])) }
        for pair in tail.split(separator: ",") {
            if let eq = pair.firstIndex(of: "=") { secrets.append(String(pair[pair.index(after: eq)...].prefix { $0 != ":" })) }
        }
        return output + ":" + mask
    }

    /// `text` quoted as the value was (`raw` against its unquoted `value`), quotes doubled inside.
    private static func quoted(_ text: String, like raw: String, _ value: String) -> String {
        guard raw != value, let quote = raw.first else { return text }
        return String(quote) + text.replacing(String(quote), with: String(quote) + String(quote)) + String(quote)
    }
}
