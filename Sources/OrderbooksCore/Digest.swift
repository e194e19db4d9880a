import CCrypto

public enum Digest {
    /// SHA-256 as 64 lowercase hex characters, as `sha256sum` prints it.
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        var out = [UInt8](repeating: 0, count: 32)
        let ok = bytes.withUnsafeBytes { input in
            out.withUnsafeMutableBufferPointer { ccrypto_sha256(input.baseAddress, input.count, $0.baseAddress) }
        }
        precondition(ok == 1, "OpenSSL SHA-256 failed")
        return hex(out)
    }

    package static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] }, as: UTF8.self)
    }
}

/// SHA-256 (and MD5, when asked) of a byte stream fed in pieces: a segment is hashed while it
/// is written and while it is re-read, never held whole in memory. MD5 is what Drive and rclone
/// compare; spool files only need SHA-256.
public final class FileDigests {
    private let sha256: OpaquePointer
    private let md5: OpaquePointer?
    public private(set) var byteCount: Int64 = 0

    public init(md5 wanted: Bool = true) {
        guard let sha = ccrypto_digest_new(0) else { fatalError("OpenSSL digest setup failed") }
        sha256 = sha
        md5 = wanted ? ccrypto_digest_new(1) : nil
        precondition(!wanted || md5 != nil, "OpenSSL digest setup failed")
    }

    deinit {
        ccrypto_digest_free(sha256)
        if let md5 { ccrypto_digest_free(md5) }
    }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        precondition(ccrypto_digest_update(sha256, bytes.baseAddress, bytes.count) == 1
                     && (md5.map { ccrypto_digest_update($0, bytes.baseAddress, bytes.count) } ?? 1) == 1, "OpenSSL digest failed")
        byteCount += Int64(bytes.count)
    }

    /// The digests as lowercase hex (MD5 nil when not asked for); the object is spent afterwards.
    public func finish() -> (sha256: String, md5: String?) {
        func final(_ context: OpaquePointer) -> String {
            var out = [UInt8](repeating: 0, count: 64)
            var length: UInt32 = 0
            precondition(ccrypto_digest_final(context, &out, &length) == 1, "OpenSSL digest failed")
            return Digest.hex(Array(out.prefix(Int(length))))
        }
        return (final(sha256), md5.map(final))
    }

    /// Size and digests of a whole file, read in chunks.
    public static func of(_ path: String, md5: Bool = true, dropCache: Bool = false) throws(FileError) -> (bytes: Int64, sha256: String, md5: String?) {
        let digests = FileDigests(md5: md5)
        try DurableFile.forEachChunk(path, size: GzipLines.chunkSize, dropCache: dropCache) { chunk in
            digests.update(chunk)
            return nil
        }
        let (sha256, md5) = digests.finish()
        return (digests.byteCount, sha256, md5)
    }
}
