import OrderbooksCore

/// A file ship must find on the remote: where it lives and what it must hold.
public struct ShippedFile: Sendable, Equatable {
    public enum Role: String, Sendable { case segment, manifest }

    public var role: Role
    /// `YYYY/MM/DD`: the same directory under `sealed/` and under the remote.
    public var directory: String
    public var name: String
    public var bytes: Int64
    public var sha256: String
    public var md5: String

    public init(role: Role, directory: String, name: String, bytes: Int64, sha256: String, md5: String) {
        (self.role, self.directory, self.name, self.bytes, self.sha256, self.md5) = (role, directory, name, bytes, sha256, md5)
    }

    /// The path below both `sealed/` and the remote root.
    public var relativePath: String { directory + "/" + name }

    /// A file as a receipt or a prune record lists it (`name`, `bytes`, `sha256`, `md5`, and
    /// `role` where recorded, else told by the name); nil when a member is missing or invalid.
    init?(recorded entry: JSONValue, directory: String) {
        guard let name = entry["name"]?.string, case .number(let size)? = entry["bytes"], let bytes = Int64(size),
              let sha256 = entry["sha256"]?.string, let md5 = entry["md5"]?.string else { return nil }
        let role: Role?
        if let recorded = entry["role"] {
            role = recorded.string.flatMap(Role.init(rawValue:))
        } else {
            role = name.hasSuffix(SealWindow.manifestSuffix) ? .manifest : .segment
        }
        guard let role else { return nil }
        self.init(role: role, directory: directory, name: name, bytes: bytes, sha256: sha256, md5: md5)
    }
}

extension JSONObjectWriter {
    /// What a file must be (`bytes`, `sha256`, `md5`), as receipts, prune records and check
    /// reports write it.
    mutating func fields(of file: ShippedFile) {
        field("bytes", file.bytes)
        field("sha256", file.sha256)
        field("md5", file.md5)
    }

    /// What the remote showed of it (`remote_copies`, `remote_bytes`, `remote_md5`, `remote_sha256`).
    mutating func fields(of check: RemoteCheck) {
        field("remote_copies", check.copies)
        field("remote_bytes", check.remoteBytes)
        field("remote_md5", check.remoteMD5)
        field("remote_sha256", check.remoteSHA256)
    }
}

/// How a remote listing compares with one file: the verifier behind receipts and prune. Only a
/// hash that is present and equal verifies; a missing hash never does.
public struct RemoteCheck: Sendable, Equatable {
    public enum Status: String, Sendable {
        case verified, missing, duplicate
        case sizeMismatch = "size_mismatch"
        case hashMismatch = "hash_mismatch"
        case noHash = "no_hash"
        /// Not checked: the upload or the listing failed first.
        case notChecked = "not_checked"
        case localMismatch = "local_mismatch"
        case unreadable
    }

    public enum Method: String, Sendable {
        /// The remote's own md5, from one listing (Drive, sftp).
        case remoteMD5 = "remote-md5"
        /// Downloaded and hashed with sha256 (remotes with no md5, such as plain WebDAV).
        case downloadSHA256 = "download-sha256"
    }

    public var status: Status
    public var copies = 0
    public var remoteBytes: Int64?
    public var remoteMD5: String?
    public var remoteSHA256: String?

    public init(status: Status) { self.status = status }

    public var verified: Bool { status == .verified }

    /// Compares `file` with the entries named like it in a listing of its directory, and with
    /// `sha256s` (downloaded hashes, one per copy) when the method is `downloadSHA256`.
    public static func of(_ file: ShippedFile, listing: [RemoteEntry], method: Method, sha256s: [String]? = nil) -> RemoteCheck {
        let copies = listing.filter { $0.path == file.name }
        var check = RemoteCheck(status: .verified)
        check.copies = copies.count
        check.remoteBytes = copies.first?.bytes
        check.remoteMD5 = copies.first?.md5
        check.remoteSHA256 = sha256s?.first
        guard !copies.isEmpty else {
            check.status = .missing
            return check
        }
        let wrong: Status?
        if copies.contains(where: { $0.bytes != file.bytes }) {
            wrong = .sizeMismatch
        } else {
            switch method {
            case .remoteMD5:
                let hashes = copies.map(\.md5)
                wrong = hashes.contains(nil) ? .noHash : hashes.allSatisfy { $0 == file.md5.lowercased() } ? nil : .hashMismatch
            case .downloadSHA256:
                let hashes = sha256s ?? []
                wrong = hashes.count < copies.count ? .noHash : hashes.allSatisfy { $0 == file.sha256.lowercased() } ? nil : .hashMismatch
            }
        }
        // Identical duplicates still hold the right bytes (a warning); differing ones need a person.
        if let wrong { check.status = copies.count > 1 && wrong != .noHash ? .duplicate : wrong }
        return check
    }
}
