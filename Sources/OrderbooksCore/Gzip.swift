import CZlib

public struct GzipError: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    public var description: String { "zlib error \(code)" }
}

/// gzip through zlib. A whole snapshot fits in memory, so each file is one deflate call.
public enum Gzip {
    public static func compress(_ input: [UInt8], level: Int32 = 6) throws(GzipError) -> [UInt8] {
        var stream = z_stream()
        // windowBits 15 + 16 asks zlib for the gzip wrapper instead of zlib's own.
        var code = czlib_deflateInit2(&stream, level, 15 + 16, 8)
        guard code == Z_OK else { throw GzipError(code: code) }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 32)
        var written = 0
        code = input.withUnsafeBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
                stream.avail_in = uInt(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = uInt(outBuf.count)
                let r = deflate(&stream, Z_FINISH)
                written = outBuf.count - Int(stream.avail_out)
                return r
            }
        }
        guard code == Z_STREAM_END else { throw GzipError(code: code) }
        output.removeSubrange(written...)
        return output
    }

    /// Inflates every member of a gzip file (concatenated members read as one stream, as zcat does).
    public static func decompress(_ input: [UInt8]) throws(GzipError) -> [UInt8] {
        var stream = z_stream()
        // 15 + 32: detect the gzip or zlib header automatically.
        var code = czlib_inflateInit2(&stream, 15 + 32)
        guard code == Z_OK else { throw GzipError(code: code) }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        code = input.withUnsafeBufferPointer { inBuf -> Int32 in
            stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
            stream.avail_in = uInt(inBuf.count)
            while true {
                let r = chunk.withUnsafeMutableBufferPointer { outBuf -> Int32 in
                    stream.next_out = outBuf.baseAddress
                    stream.avail_out = uInt(outBuf.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                output.append(contentsOf: chunk[0..<(chunk.count - Int(stream.avail_out))])
                if r == Z_STREAM_END {
                    if stream.avail_in == 0 { return Z_STREAM_END }
                    guard inflateReset(&stream) == Z_OK else { return Z_DATA_ERROR }
                } else if r != Z_OK {
                    return r
                } else if stream.avail_in == 0 && stream.avail_out != 0 {
                    return Z_BUF_ERROR  // input ended inside a member: a truncated file
                }
            }
        }
        guard code == Z_STREAM_END else { throw GzipError(code: code) }
        return output
    }
}
