import CZlib

public struct GzipError: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    /// zlib's own words, when it gave some ("invalid block type", "incorrect header check").
    public var message: String? = nil

    public var description: String {
        if let message { return message }
        switch code {
        case Z_BUF_ERROR: return "the gzip data ends in the middle of a member (truncated)"
        case Z_DATA_ERROR: return "corrupt gzip data"
        default: return "zlib error \(code)"
        }
    }
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
        let inflater = GzipInflater()
        var output: [UInt8] = []
        var failure: GzipError? = nil
        input.withUnsafeBytes { buffer in
            do throws(GzipError) {
                try inflater.feed(buffer) {
                    output.append(contentsOf: $0)
                    return true
                }
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        try inflater.finish()
        return output
    }
}

/// Inflates a gzip stream fed in pieces, member after member, handing the output on as it comes:
/// segments are checked this way without ever being held whole in memory.
public final class GzipInflater {
    // Heap-allocated: zlib keeps a pointer back to its z_stream and refuses one that moved.
    private let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    private var chunk = [UInt8](repeating: 0, count: 128 * 1024)
    /// Whether the last member seen is complete (false before any input).
    private var memberComplete = false
    private var sawInput = false
    /// Compressed bytes consumed so far.
    public private(set) var consumed: Int64 = 0

    public init() {
        stream.initialize(to: z_stream())
        // 15 + 16: gzip members only (no raw zlib streams).
        precondition(czlib_inflateInit2(stream, 15 + 16) == Z_OK, "zlib inflateInit2 failed")
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
    }

    /// Inflates `input`, calling `output` with each piece of decompressed data; `output`
    /// returns false to stop there (a limit reached): the rest of `input` is left uninflated.
    public func feed(_ input: UnsafeRawBufferPointer, output: (UnsafeRawBufferPointer) -> Bool) throws(GzipError) {
        guard input.count > 0 else { return }
        sawInput = true
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        defer { consumed += Int64(input.count) - Int64(stream.pointee.avail_in) }
        while stream.pointee.avail_in > 0 {
            if memberComplete {
                // Another member follows: start over on its header.
                guard inflateReset(stream) == Z_OK else { throw GzipError(code: Z_STREAM_ERROR) }
                memberComplete = false
            }
            let (code, produced) = chunk.withUnsafeMutableBufferPointer { out -> (Int32, Int) in
                stream.pointee.next_out = out.baseAddress
                stream.pointee.avail_out = uInt(out.count)
                let code = inflate(stream, Z_NO_FLUSH)
                return (code, out.count - Int(stream.pointee.avail_out))
            }
            if produced > 0, !chunk.withUnsafeBytes({ output(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) }) { return }
            switch code {
            case Z_STREAM_END: memberComplete = true
            case Z_OK: continue
            case Z_BUF_ERROR where produced == 0 && stream.pointee.avail_in == 0: return
            default:
                let message = stream.pointee.msg.map { "corrupt gzip data: " + String(cString: $0) }
                throw GzipError(code: code, message: message)
            }
        }
    }

    /// Call when the input is over: an input that stops inside a member was truncated.
    public func finish() throws(GzipError) {
        guard sawInput else { throw GzipError(code: Z_BUF_ERROR, message: "empty file: no gzip data") }
        guard memberComplete else { throw GzipError(code: Z_BUF_ERROR) }
    }
}
