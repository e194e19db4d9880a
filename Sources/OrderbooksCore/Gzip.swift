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

/// gzip through zlib.
public enum Gzip {
    public static func compress(_ input: [UInt8], level: Int32 = 6) throws(GzipError) -> [UInt8] {
        let deflater = try GzipDeflater(level: level, expectedInput: input.count)
        input.withUnsafeBytes { deflater.append($0) }
        return try deflater.finish()
    }

    /// Inflates every member of a gzip file (concatenated members read as one stream, as zcat does).
    public static func decompress(_ input: [UInt8]) throws(GzipError) -> [UInt8] {
        // Rows compress about 6:1: a buffer of 8 times the input (16 KiB to 128 KiB) takes
        // most files in one pass, and reading many small ones zeroes little.
        let inflater = GzipInflater(chunkSize: min(128 << 10, max(16 << 10, input.count * 8)))
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

/// Compresses a stream fed in pieces into one gzip member held in memory: a snapshot's rows go
/// in as they are made, so a run never holds its rows and their compressed form at once.
public final class GzipDeflater {
    // Heap-allocated: zlib keeps a pointer back to its z_stream and refuses one that moved.
    private let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    private var output: [UInt8] = []
    private var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    private var failure: GzipError?
    private var ended = false
    /// Bytes fed in so far.
    public private(set) var consumed = 0

    /// `expectedInput`, when known, reserves the worst-case output at once (no regrowth).
    public init(level: Int32 = 6, expectedInput: Int? = nil) throws(GzipError) {
        stream.initialize(to: z_stream())
        // windowBits 15 + 16 asks zlib for the gzip wrapper instead of zlib's own.
        let code = czlib_deflateInit2(stream, level, 15 + 16, 8)
        guard code == Z_OK else {
            stream.deallocate()
            throw GzipError(code: code)
        }
        if let expectedInput { output.reserveCapacity(Int(deflateBound(stream, uLong(expectedInput))) + 32) }
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
    }

    public func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    public func append(_ input: UnsafeRawBufferPointer) {
        guard input.count > 0 else { return }
        consumed += input.count
        run(input, flush: Z_NO_FLUSH)
    }

    /// The whole member; the deflater is spent.
    public func finish() throws(GzipError) -> [UInt8] {
        run(UnsafeRawBufferPointer(start: nil, count: 0), flush: Z_FINISH)
        if let failure { throw failure }
        guard ended else { throw GzipError(code: Z_STREAM_ERROR) }
        return output
    }

    private func run(_ input: UnsafeRawBufferPointer, flush: Int32) {
        guard failure == nil else { return }
        stream.pointee.next_in = input.baseAddress.map { UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: Bytef.self)) }
        stream.pointee.avail_in = uInt(input.count)
        while true {
            let (code, produced) = chunk.withUnsafeMutableBufferPointer { out -> (Int32, Int) in
                stream.pointee.next_out = out.baseAddress
                stream.pointee.avail_out = uInt(out.count)
                let code = deflate(stream, flush)
                return (code, out.count - Int(stream.pointee.avail_out))
            }
            if produced > 0 { output.append(contentsOf: chunk[0..<produced]) }
            switch code {
            case Z_STREAM_END:
                ended = true
                return
            case Z_OK, Z_BUF_ERROR:
                // More to come out while zlib filled the whole chunk; otherwise it wants input.
                if stream.pointee.avail_out == 0 || (flush == Z_FINISH && code == Z_OK) { continue }
                return
            default:
                failure = GzipError(code: code)
                return
            }
        }
    }
}

/// Inflates a gzip stream fed in pieces, member after member, handing the output on as it comes:
/// segments are checked this way without ever being held whole in memory.
public final class GzipInflater {
    // Heap-allocated: zlib keeps a pointer back to its z_stream and refuses one that moved.
    private let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    private var chunk: [UInt8]
    /// Whether the last member seen is complete (false before any input).
    private var memberComplete = false
    private var sawInput = false
    /// Compressed bytes consumed so far.
    public private(set) var consumed: Int64 = 0

    /// `chunkSize`: the output buffer, zeroed once; a small input needs no 128 KiB of it.
    public init(chunkSize: Int = 128 * 1024) {
        chunk = [UInt8](repeating: 0, count: chunkSize)
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
