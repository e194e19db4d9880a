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

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] }, as: UTF8.self)
    }
}

/// SHA-256 and MD5 of a byte stream fed in pieces: a segment is hashed while it is written and
/// while it is re-read, never held whole in memory. MD5 is what Drive and rclone compare.
public final class FileDigests {
    private let sha256: OpaquePointer
    private let md5: OpaquePointer
    public private(set) var byteCount: Int64 = 0

    public init() {
        guard let sha = ccrypto_digest_new(0), let md = ccrypto_digest_new(1) else { fatalError("OpenSSL digest setup failed") }
        sha256 = sha
        md5 = md
    }

    deinit {
        ccrypto_digest_free(sha256)
        ccrypto_digest_free(md5)
    }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        precondition(ccrypto_digest_update(sha256, bytes.baseAddress, bytes.count) == 1
                     && ccrypto_digest_update(md5, bytes.baseAddress, bytes.count) == 1, "OpenSSL digest failed")
        byteCount += Int64(bytes.count)
    }

    public func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// The digests as lowercase hex; the object is spent afterwards.
    public func finish() -> (sha256: String, md5: String) {
        func final(_ context: OpaquePointer) -> String {
            var out = [UInt8](repeating: 0, count: 64)
            var length: UInt32 = 0
            precondition(ccrypto_digest_final(context, &out, &length) == 1, "OpenSSL digest failed")
            return Digest.hex(Array(out.prefix(Int(length))))
        }
        return (final(sha256), final(md5))
    }
}
