import CCurl
import Glibc
import OrderbooksCore

public struct HTTPSettings: Sendable {
    public var connectTimeoutMilliseconds: Int
    public var timeoutMilliseconds: Int
    public var maxBodyBytes: Int
    public var userAgent: String
    /// An extra PEM bundle of trusted CAs; the system store stays trusted through its hashed directory.
    public var caFile: String?
    /// Debian's trust store: one file per certificate plus the hash links OpenSSL looks roots up by
    /// (`update-ca-certificates` keeps them; the package depends on ca-certificates).
    static let systemCertificateDirectory = "/etc/ssl/certs"

    public init(connectTimeoutMilliseconds: Int, timeoutMilliseconds: Int, maxBodyBytes: Int, userAgent: String, caFile: String?) {
        self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
        self.timeoutMilliseconds = timeoutMilliseconds
        self.maxBodyBytes = maxBodyBytes
        self.userAgent = userAgent
        self.caFile = caFile
    }
}

public struct HTTPRequest: Sendable {
    /// As given to curl, user info included: record `Redaction.url(url)`, never this.
    public var url: String
    /// A JSON body makes this a POST.
    public var jsonBody: [UInt8]?
    /// The most this answer may take, below `HTTPSettings.maxBodyBytes`: what the request can
    /// legitimately bring back, so a hostile server cannot make a run hold more.
    public var maxBodyBytes: Int?

    public init(url: String, jsonBody: [UInt8]? = nil, maxBodyBytes: Int? = nil) {
        self.url = url
        self.jsonBody = jsonBody
        self.maxBodyBytes = maxBodyBytes
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var contentType: String?
    public var retryAfter: String?
    public var body: [UInt8]
}

/// Why a request produced no HTTP response.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case dns, connect, timeout, tls
        /// The connection broke while sending or receiving.
        case reset
        /// The server closed the connection without answering.
        case emptyReply = "empty_reply"
        /// The body ended before its announced length.
        case incomplete
        /// The body passed the size limit; reading stopped there.
        case tooLarge = "too_large"
        case other = "transport"
    }

    public var kind: Kind
    public var curlCode: Int
    public var message: String

    public var description: String { "\(message) (curl \(curlCode))" }
}

/// One request and what came of it, with timing.
public struct HTTPExchange: Sendable {
    public var request: HTTPRequest
    public var startedAt: Timestamp
    public var finishedAt: Timestamp
    public var elapsedMicroseconds: Int64
    public var result: Result<HTTPResponse, TransportError>
}

/// Runs batches of requests concurrently with libcurl's multi interface. Connections stay in
/// the multi handle's cache between batches of one run.
public final class HTTPClient {
    private static let globalInit: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK

    private let settings: HTTPSettings
    private let multi: UnsafeMutableRawPointer

    public init(settings: HTTPSettings) {
        _ = Self.globalInit
        self.settings = settings
        self.multi = curl_multi_init()
    }

    deinit { curl_multi_cleanup(multi) }

    /// Performs all requests at once and returns their exchanges in request order.
    public func perform(_ requests: [HTTPRequest]) -> [HTTPExchange] {
        var transfers: [UnsafeMutableRawPointer: Transfer] = [:]
        var results = [HTTPExchange?](repeating: nil, count: requests.count)
        for (index, request) in requests.enumerated() {
            let transfer = Transfer(index: index, request: request, limit: min(settings.maxBodyBytes, request.maxBodyBytes ?? .max))
            transfer.configure(settings)
            transfer.startedAt = Timestamp.now()
            curl_multi_add_handle(multi, transfer.easy)
            transfers[transfer.easy] = transfer
        }
        var running: Int32 = 0
        repeat {
            curl_multi_perform(multi, &running)
            var queued: Int32 = 0
            while let message = curl_multi_info_read(multi, &queued) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle,
                      let transfer = transfers.removeValue(forKey: easy) else { continue }
                results[transfer.index] = transfer.finish(code: message.pointee.data.result)
                curl_multi_remove_handle(multi, easy)
            }
            if running > 0 { curl_multi_poll(multi, nil, 0, 1000, nil) }
        } while running > 0
        // curl reports every transfer it was given; this only guards against a handle it refused.
        for transfer in transfers.values { results[transfer.index] = transfer.finish(code: CURLE_FAILED_INIT) }
        return results.map { $0! }
    }
}

/// The state of one transfer; curl's callbacks reach it through an unretained pointer.
private final class Transfer {
    let index: Int
    let request: HTTPRequest
    let limit: Int
    let easy: UnsafeMutableRawPointer
    var startedAt = Timestamp(microseconds: 0)
    var body: [UInt8] = []
    var overflow = false
    var contentType: String?
    var retryAfter: String?
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))

    init(index: Int, request: HTTPRequest, limit: Int) {
        self.index = index
        self.request = request
        self.limit = limit
        self.easy = curl_easy_init()
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit {
        curl_easy_cleanup(easy)
        curl_slist_free_all(headerList)
        errorBuffer.deallocate()
    }

    func configure(_ settings: HTTPSettings) {
        let me = Unmanaged.passUnretained(self).toOpaque()
        ccurl_setopt_str(easy, CURLOPT_URL, request.url)
        ccurl_setopt_str(easy, CURLOPT_PROTOCOLS_STR, "http,https")
        ccurl_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        ccurl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, settings.connectTimeoutMilliseconds)
        ccurl_setopt_long(easy, CURLOPT_TIMEOUT_MS, settings.timeoutMilliseconds)
        ccurl_setopt_off(easy, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(limit))
        ccurl_setopt_str(easy, CURLOPT_USERAGENT, settings.userAgent)
        ccurl_setopt_str(easy, CURLOPT_ACCEPT_ENCODING, "")  // curl decodes gzip/br itself
        // Parallel requests to one host wait for its first connection and share it when it speaks
        // HTTP/2 (Cloudflare does): one DNS lookup and one TLS handshake instead of one each.
        ccurl_setopt_long(easy, CURLOPT_PIPEWAIT, 1)
        ccurl_setopt_ptr(easy, CURLOPT_ERRORBUFFER, errorBuffer)
        // The system store as a hashed directory, not Debian's default bundle file: OpenSSL 3 parses
        // all 147 certificates of the bundle for every handshake (about 25-50 ms of CPU a run,
        // measured in scripts/bench-snap-start), while from the directory it reads only the root the
        // server's chain names. An extra --ca-file is read whole, on top of it.
        ccurl_setopt_str(easy, CURLOPT_CAPATH, HTTPSettings.systemCertificateDirectory)
        ccurl_setopt_str(easy, CURLOPT_CAINFO, settings.caFile)
        ccurl_setopt_write_fn(easy, writeCallback)
        ccurl_setopt_ptr(easy, CURLOPT_WRITEDATA, me)
        ccurl_setopt_header_fn(easy, headerCallback)
        ccurl_setopt_ptr(easy, CURLOPT_HEADERDATA, me)
        // An empty Expect: stops curl from waiting for `100 Continue` before sending a body.
        var headers = ["Accept: application/json", "Expect:"]
        if let body = request.jsonBody {
            headers.append("Content-Type: application/json")
            ccurl_setopt_long(easy, CURLOPT_POSTFIELDSIZE, body.count)
            _ = body.withUnsafeBufferPointer { ccurl_setopt_ptr(easy, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: $0.baseAddress)) }
        }
        for header in headers { headerList = curl_slist_append(headerList, header) }
        ccurl_setopt_slist(easy, CURLOPT_HTTPHEADER, headerList)
    }

    func finish(code: CURLcode) -> HTTPExchange {
        let finishedAt = Timestamp.now()
        var total: curl_off_t = 0
        ccurl_getinfo_off(easy, CURLINFO_TOTAL_TIME_T, &total)
        let result: Result<HTTPResponse, TransportError>
        if code == CURLE_OK {
            var status = 0
            ccurl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
            result = .success(HTTPResponse(status: status, contentType: contentType, retryAfter: retryAfter, body: body))
        } else {
            result = .failure(transportError(code))
        }
        return HTTPExchange(request: request, startedAt: startedAt, finishedAt: finishedAt,
                            elapsedMicroseconds: Int64(total), result: result)
    }

    private func transportError(_ code: CURLcode) -> TransportError {
        let detail = String(cString: errorBuffer)
        let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        let kind: TransportError.Kind
        switch code {
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: kind = .dns
        case CURLE_COULDNT_CONNECT: kind = .connect
        case CURLE_OPERATION_TIMEDOUT: kind = .timeout
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE,
             CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER: kind = .tls
        case CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_HTTP2, CURLE_HTTP2_STREAM: kind = .reset
        case CURLE_GOT_NOTHING: kind = .emptyReply
        case CURLE_PARTIAL_FILE: kind = .incomplete
        case CURLE_FILESIZE_EXCEEDED: kind = .tooLarge
        case CURLE_WRITE_ERROR where overflow: kind = .tooLarge
        default: kind = .other
        }
        let text = kind == .tooLarge ? "response body larger than \(limit) bytes; stopped reading" : message
        return TransportError(kind: kind, curlCode: Int(code.rawValue), message: text)
    }
}

private let writeCallback: curl_write_callback = { data, size, count, context in
    let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
    let n = size * count
    let needed = transfer.body.count + n
    guard needed <= transfer.limit else {
        transfer.overflow = true
        return 0  // aborts the transfer: the body is never buffered past the limit
    }
    if needed > transfer.body.capacity {
        // The announced length (compressed, when curl decodes) is a first guess; then doubling,
        // never past the limit: left to itself an array doubles past it, and a body just over
        // half the limit would take a buffer of twice the limit.
        var announced: curl_off_t = -1
        if transfer.body.isEmpty { ccurl_getinfo_off(transfer.easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &announced) }
        let guess = max(needed, Int(clamping: announced), transfer.body.capacity * 2, 16 << 10)
        transfer.body.reserveCapacity(min(transfer.limit, guess))
    }
    transfer.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: n))
    return n
}

private let headerCallback: curl_write_callback = { data, size, count, context in
    let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
    let n = size * count
    let line = String(decoding: UnsafeRawBufferPointer(start: data, count: n), as: UTF8.self)
    if line.hasPrefix("HTTP/") {
        // A new response starts (after an interim one): forget the previous headers.
        transfer.contentType = nil
        transfer.retryAfter = nil
    } else if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].lowercased()
        let value = String(line[line.index(after: colon)...]).trimmingWhitespace
        if name == "content-type" { transfer.contentType = value }
        if name == "retry-after" { transfer.retryAfter = value }
    }
    return n
}
