import Glibc
import OrderbooksCore

/// What `snap` does once its configuration is settled.
public struct SnapConfiguration: Sendable {
    public var dataDirectory: String
    public var clobURL: String
    public var gammaURL: String
    public var series: [Series]
    public var collector: String
    public var http: HTTPSettings
    public var discoveryTTL: Int64
    /// Seconds after a market's end its resolution is looked up before a failure row gives up.
    public var resolutionDeadline: Int64
    public var toStdout: Bool
    /// Landlock on snap itself (ORDERBOOKS_SANDBOX); no_new_privs applies either way.
    public var sandbox: Bool
}

/// One snapshot: discover, fetch the books in one batch, write one file.
public struct SnapRun {
    public enum Outcome: String, Sendable {
        case complete, partial, failed, backoff

        var exitStatus: ExitStatus {
            switch self {
            case .complete: .complete
            case .partial: .partial
            case .failed: .failed
            case .backoff: .backoff
            }
        }
    }

    let config: SnapConfiguration
    let log: Log

    public init(configuration: SnapConfiguration, log: Log) {
        self.config = configuration
        self.log = log
    }

    /// What a run gathered besides the `market` and `book` rows, which go to the sink as they
    /// are made (in the order they are written: markets, books, then these).
    private struct Capture {
        var books = 0
        var absent: [[UInt8]] = []
        var failures: [FailureRecord] = []
        var resolutions: [[UInt8]] = []
        /// Failed resolution lookups and markets given up on: rows, but not the snapshot's outcome.
        var resolutionFailures: [FailureRecord] = []
        var absentExpected = 0
        var marketCount = 0
        var notListed: [String] = []
        var gammaRequests = 0
        var clobRequests = 0
        var outcome = Outcome.complete
        var sandbox = Sandbox.State.off
    }

    public func run() -> ExitStatus {
        // A closed stdout or a peer's reset must surface as an error, not kill the run.
        signal(SIGPIPE, SIG_IGN)
        let startedAt = Timestamp.now()
        let monotonicStart = monotonicNanoseconds()
        var context = RowContext(runId: String(UInt64.random(in: 0...UInt64.max), radix: 16).leftPadded(16), collector: config.collector)
        let directory = DataDirectory(root: config.dataDirectory)
        var backoff = BackoffState()
        var cache = DiscoveryCache()
        if !config.toStdout {
            // Only the folders snap writes: a capture lost is lost for good, so a link where seal
            // or ship work stops them (loudly), never the capture.
            if let problem = directory.layoutProblem(of: [directory.spool, directory.temporary, directory.state, directory.cache]) {
                log(.error, "run=\(context.runId) outcome=failed error=" + Log.quoted(problem))
                return .cannotWrite
            }
            do { try directory.prepare() } catch {
                log(.error, "run=\(context.runId) outcome=failed error=" + Log.quoted("\(error)"))
                return .cannotWrite
            }
            let removed = directory.removeStaleTemporaryFiles(olderThan: DataDirectory.staleTemporaryAge, now: startedAt)
            if removed > 0 { log(.info, "run=\(context.runId) removed \(removed) stale in-flight file(s) from \(directory.temporary)") }
            backoff = BackoffState.decode(readState(directory.backoffFile))
            context.disruption = Disruption.decode(readState(directory.disruptionFile)).flatMap { $0.isActive(at: startedAt) ? $0.text : nil }
            cache = DiscoveryCache.decode(readState(directory.discoveryCacheFile))
            // A series without a mark on a directory that holds data lost its cache: queue the
            // windows it may have been waiting on again.
            let lost = config.series.contains { cache.resolutions.queuedUntil[$0] == nil }
                && [directory.spool, directory.sealed].contains { !(DataDirectory.names(in: $0) ?? []).isEmpty }
            cache.resolutions.enqueue(config.series, now: startedAt.seconds, lookback: lost ? config.resolutionDeadline : 0,
                                      deadline: config.resolutionDeadline)
        }
        let (initialBackoff, initialCache) = (backoff, cache)

        var capture = Capture()
        // Before any server is asked: whatever an answer does to this process, it cannot reach
        // files beyond the data directory.
        capture.sandbox = Sandbox.apply(writable: config.toStdout ? [] : [config.dataDirectory],
                                        extraReadable: config.http.caFile.map { [$0] } ?? [], enabled: config.sandbox)
        let rows = RowSink(compressed: !config.toStdout)
        let client = HTTPClient(settings: config.http)
        if let pause = backoff.pause(for: .clob, at: startedAt) {
            let problem = Problem(kind: "backoff", message: "the CLOB throttled us (\(pause.reason)); not asking before \(pause.until.iso8601)",
                                  retryAt: pause.until)
            capture.failures.append(FailureRecord(stage: .books, problem: problem, at: startedAt, url: config.clobURL + "/books"))
            capture.outcome = .backoff
        } else {
            snapshot(into: &capture, rows: rows, cache: &cache, backoff: &backoff, client: client, now: startedAt, context: context)
        }
        logFailures(capture.failures + capture.resolutionFailures, context: context)

        let status = write(capture, rows: rows, context: context, directory: directory, startedAt: startedAt, monotonicStart: monotonicStart)
        if !config.toStdout {
            // The cache is saved only once the market rows it stands for are on disk.
            if status != .cannotWrite, cache != initialCache { saveState(cache.encoded(), at: directory.discoveryCacheFile, directory: directory, context: context) }
            if backoff != initialBackoff { saveState(backoff.encoded(), at: directory.backoffFile, directory: directory, context: context) }
        }
        return status
    }

    private func snapshot(into capture: inout Capture, rows: RowSink, cache: inout DiscoveryCache, backoff: inout BackoffState,
                          client: HTTPClient, now: Timestamp, context: RowContext) {
        let targets = config.series.flatMap { $0.targets(at: now.seconds) }
        var discovery = Discovery(gammaURL: config.gammaURL, ttl: config.discoveryTTL)
            .discover(targets, cache: &cache, pause: backoff.pause(for: .gamma, at: now), client: client, now: now)
        backoff.record(.gamma, throttle: discovery.throttle, answered: discovery.answered, at: now)
        capture.gammaRequests = discovery.requests
        // Each event's body is let go once its row is compressed: up to fifteen of them need not
        // be held together with their rows, nor wait for the books.
        var pending = Array(discovery.observations.reversed())
        discovery.observations = []
        while let observation = pending.popLast() {
            rows.append(Rows.market(observation.market, observation.details, exchange: observation.exchange, body: observation.body, context))
        }
        capture.failures = discovery.failures
        capture.notListed = discovery.notListed
        capture.marketCount = discovery.markets.count

        let requested = RequestedTokens(discovery.markets)
        let origins = requested.origins, tokenIds = requested.tokenIds
        var captured: Set<String> = []
        var openTokens: Set<String> = []
        let chunks = stride(from: 0, to: tokenIds.count, by: Books.maxTokensPerRequest).map {
            Array(tokenIds[$0..<min($0 + Books.maxTokensPerRequest, tokenIds.count)])
        }
        // Resolutions are looked up beside the books, in the same round of requests, so they
        // cost the run no time; not while Gamma asks us to wait, and never for --stdout (no cache).
        if !config.toStdout {
            capture.resolutionFailures = cache.resolutions.giveUp(at: now, deadline: config.resolutionDeadline, gammaURL: config.gammaURL)
        }
        let lookups = config.toStdout || backoff.pause(for: .gamma, at: now) != nil ? [] : cache.resolutions.due(at: now.seconds)
        let allExchanges = client.perform(chunks.map {
            HTTPRequest(url: config.clobURL + "/books", jsonBody: Books.requestBody($0), maxBodyBytes: Books.maxBodyBytes(tokens: $0.count))
        } + lookups.map { HTTPRequest(url: ResolutionQueue.url($0, config.gammaURL), maxBodyBytes: Discovery.maxEventBytes) })
        let round = cache.resolutions.record(lookups, Array(allExchanges.dropFirst(chunks.count)), now: now, context: context)
        capture.resolutions = round.rows
        capture.resolutionFailures += round.failures
        capture.gammaRequests += lookups.count
        if let throttle = round.throttle { backoff.recordThrottle(.gamma, throttle, at: now) }
        if !chunks.isEmpty {
            let exchanges = Array(allExchanges.prefix(chunks.count))
            capture.clobRequests = exchanges.count
            var throttle: Problem? = nil
            var answered = false
            for (chunk, exchange) in zip(chunks, exchanges) {
                for id in chunk where requested.isOpen(id, at: exchange.startedAt.seconds) {
                    openTokens.insert(id)
                }
                let asked = Set(chunk)
                let split = ResponseCheck.body(of: exchange).flatMap { response in
                    Books.split(response, asked: asked, now: exchange.finishedAt).map { (response, $0) }
                }
                switch split {
                case .success(let (response, answer)):
                    answered = true
                    for book in answer.books {
                        rows.append(Rows.book(assetId: book.assetId, origin: book.assetId.flatMap { origins[$0] },
                                              exchange: exchange, body: response.body, range: book.range, context))
                        capture.books += 1
                        if let id = book.assetId, asked.contains(id) { captured.insert(id) }
                    }
                    if let extras = answer.extras {
                        capture.failures.append(FailureRecord(stage: .books, problem: Books.problem(extras, asked: chunk.count, in: response),
                                                              exchange: exchange))
                    }
                    for id in chunk where !captured.contains(id) {
                        let origin = origins[id]!
                        capture.absent.append(Rows.absent(origin, exchange: exchange, context))
                        if openTokens.contains(id) { capture.absentExpected += 1 }
                    }
                case .failure(let problem):
                    if problem.isThrottle, throttle == nil { throttle = problem }
                    capture.failures.append(FailureRecord(stage: .books, problem: problem, exchange: exchange, tokenIds: chunk))
                }
            }
            backoff.record(.clob, throttle: throttle, answered: answered, at: now)
        }

        if capture.books == 0 && (!capture.failures.isEmpty || !openTokens.isEmpty) {
            capture.outcome = .failed
        } else if !capture.failures.isEmpty || !openTokens.isSubset(of: captured) {
            capture.outcome = .partial
        }
    }

    /// Writes the snapshot file (or stdout) and the summary line; returns the exit status.
    private func write(_ capture: Capture, rows: RowSink, context: RowContext, directory: DataDirectory, startedAt: Timestamp,
                       monotonicStart: Int64) -> ExitStatus {
        for row in capture.resolutions { rows.append(row) }
        for row in capture.absent { rows.append(row) }
        for failure in capture.failures + capture.resolutionFailures { rows.append(Rows.failure(failure, context)) }
        let finishedAt = Timestamp.now()
        rows.append(runRow(capture, context: context, startedAt: startedAt, finishedAt: finishedAt,
                           monotonicStart: monotonicStart, exitStatus: capture.outcome.exitStatus))
        let summary = "run=\(context.runId) outcome=\(capture.outcome.rawValue) markets=\(capture.marketCount) books=\(capture.books) absent=\(capture.absent.count) "
            + "failures=\(capture.failures.count + capture.resolutionFailures.count)" + (capture.resolutions.isEmpty ? "" : " resolutions=\(capture.resolutions.count)")
        let elapsed = "elapsed_ms=\((finishedAt.microseconds - startedAt.microseconds) / 1000)"

        if config.toStdout {
            let content = rows.plain
            guard writeAll(1, content) else {
                log(.error, "\(summary) \(elapsed) error=\"cannot write to standard output: \(String(cString: strerror(errno)))\"")
                return .cannotWrite
            }
            log(level(capture.outcome), "\(summary) bytes=\(content.count) \(elapsed) file=-")
            return capture.outcome.exitStatus
        }

        let path = directory.snapshotPath(startedAt: startedAt, collector: context.collector, runId: context.runId)
        do {
            let compressed = try gzip(rows)
            try DurableFile.create(compressed, at: path, temporaryDirectory: directory.temporary)
            log(level(capture.outcome), "\(summary) bytes=\(compressed.count) \(elapsed) file=\(path) sha256=\(Digest.sha256Hex(compressed))")
            return capture.outcome.exitStatus
        } catch {
            log(.error, "\(summary) \(elapsed) outcome_written=no error=" + Log.quoted("\(error)"))
            recordWriteFailure(error, capture: capture, rowBytes: rows.bytes, path: path, context: context, directory: directory,
                               startedAt: startedAt, monotonicStart: monotonicStart)
            return .cannotWrite
        }
    }

    /// After a failed write, tries a much smaller file that keeps the failures, so the gap is
    /// still explained in the data when a little space is left.
    private func recordWriteFailure(_ error: FileError, capture: Capture, rowBytes: Int, path: String, context: RowContext,
                                    directory: DataDirectory, startedAt: Timestamp, monotonicStart: Int64) {
        let now = Timestamp.now()
        let problem = Problem(kind: error.isDiskFull ? "disk_full" : "write_failed",
                              message: "\(rowBytes) bytes of rows (\(capture.books) books) were lost: \(error)")
        var reduced = Capture()
        reduced.failures = capture.failures + [FailureRecord(stage: .write, problem: problem, at: now, url: path)]
        reduced.outcome = .failed
        reduced.marketCount = capture.marketCount
        reduced.gammaRequests = capture.gammaRequests
        reduced.clobRequests = capture.clobRequests
        var fallback: [UInt8] = []
        for failure in reduced.failures { fallback.append(contentsOf: Rows.failure(failure, context)) }
        fallback.append(contentsOf: runRow(reduced, context: context, startedAt: startedAt, finishedAt: now,
                                           monotonicStart: monotonicStart, exitStatus: .cannotWrite))
        do {
            let sink = RowSink(compressed: true)
            sink.append(fallback)
            try DurableFile.create(try gzip(sink), at: path, temporaryDirectory: directory.temporary)
            log(.warning, "run=\(context.runId) wrote the failure record alone to \(path)")
        } catch {
            log(.error, "run=\(context.runId) could not write the failure record either: \(error)")
        }
    }

    private func gzip(_ rows: RowSink) throws(FileError) -> [UInt8] {
        do { return try rows.compressed() } catch { throw FileError("compress", "snapshot", code: EIO) }
    }

    private func runRow(_ capture: Capture, context: RowContext, startedAt: Timestamp, finishedAt: Timestamp,
                        monotonicStart: Int64, exitStatus: ExitStatus) -> [UInt8] {
        var row = context.header("run", receivedAt: finishedAt)
        row.field("snap_version", OrderbooksVersion.current)
        row.field("started_at", startedAt.iso8601)
        row.field("finished_at", finishedAt.iso8601)
        row.field("elapsed_ms", milliseconds: finishedAt.microseconds - startedAt.microseconds)
        row.field("outcome", capture.outcome.rawValue)
        row.field("exit_code", Int(exitStatus.rawValue))
        row.field("series", strings: config.series.map(\.rawValue))
        row.field("markets", capture.marketCount)
        row.field("books", capture.books)
        row.field("absent", capture.absent.count)
        row.field("absent_expected", capture.absentExpected)
        row.field("failures", capture.failures.count + capture.resolutionFailures.count)
        row.field("resolutions", capture.resolutions.count)
        row.field("not_listed", strings: capture.notListed)
        row.field("gamma_requests", capture.gammaRequests)
        row.field("clob_requests", capture.clobRequests)
        row.field("sandbox", capture.sandbox.description)
        if let disruption = context.disruption { row.field("disruption", disruption) }
        row.field("boot_id", bootId)
        row.field("monotonic_start_ns", monotonicStart)
        return row.line
    }

    /// One line per kind of failure: when Gamma is down, ten slugs fail alike every run, and
    /// the rows keep each of them anyway.
    private func logFailures(_ failures: [FailureRecord], context: RowContext) {
        var groups: [(key: String, first: FailureRecord, count: Int)] = []
        for failure in failures {
            let key = "\(failure.stage.rawValue)/\(failure.problem.kind)/\(failure.problem.httpStatus ?? 0)"
            if let i = groups.firstIndex(where: { $0.key == key }) { groups[i].count += 1 } else { groups.append((key, failure, 1)) }
        }
        for group in groups { log(.warning, "run=\(context.runId) " + group.first.logLine(count: group.count)) }
    }

    private func level(_ outcome: Outcome) -> Log.Level {
        switch outcome {
        case .complete: .info
        case .partial, .backoff: .warning
        case .failed: .error
        }
    }

    /// The kernel's id of this boot: with `monotonic_start_ns` it dates runs independently of
    /// wall-clock steps.
    private var bootId: String? {
        guard let bytes = try? DurableFile.read("/proc/sys/kernel/random/boot_id") else { return nil }
        let id = String(decoding: bytes, as: UTF8.self).trimmingWhitespace
        return id.isEmpty ? nil : id
    }

    private func readState(_ path: String) -> [UInt8] {
        do { return try DurableFile.read(path, maxBytes: DurableFile.stateFileLimit) ?? [] } catch {
            log(.warning, "ignoring unreadable state: \(error)")
            return []
        }
    }

    private func saveState(_ bytes: [UInt8], at path: String, directory: DataDirectory, context: RowContext) {
        do { try DurableFile.replace(bytes, at: path, temporaryDirectory: directory.temporary) } catch {
            log(.warning, "run=\(context.runId) could not save \(path): \(error)")
        }
    }
}

/// Where a run's rows go as they are made: into one gzip stream for the snapshot file, or kept
/// plain for `--stdout`. A big row (a raw event, a raw book) is compressed as soon as it exists,
/// so a run never holds all its rows beside their compressed copy.
private final class RowSink {
    private let deflater: GzipDeflater?
    private var failure: GzipError?
    /// The rows as they are, when not compressed.
    private(set) var plain: [UInt8] = []
    /// Bytes of rows appended, before compression.
    private(set) var bytes = 0

    init(compressed: Bool) {
        var deflater: GzipDeflater? = nil
        if compressed {
            do { deflater = try GzipDeflater() } catch { failure = error }
        }
        self.deflater = deflater
        self.compressesRows = compressed
    }

    private let compressesRows: Bool

    func append(_ row: [UInt8]) {
        bytes += row.count
        if compressesRows { deflater?.append(row) } else { plain.append(contentsOf: row) }
    }

    /// The gzip member of every row appended.
    func compressed() throws(GzipError) -> [UInt8] {
        if let failure { throw failure }
        return try deflater!.finish()
    }
}

private func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += n
        }
        return true
    }
}

/// The tokens a run asks the CLOB for: each once, labelled by the first market listing it.
struct RequestedTokens {
    var tokenIds: [String] = []
    var origins: [String: TokenOrigin] = [:]
    /// Every window listing a token: a server that lists one id in several markets must not make
    /// an open market's missing book pass for a closed one's (exit 0 with no book at all).
    var windows: [String: [Window]] = [:]

    init(_ markets: [Market]) {
        for market in markets {
            for token in market.tokens {
                windows[token.tokenId, default: []].append(market.window)
                guard origins[token.tokenId] == nil else { continue }
                origins[token.tokenId] = TokenOrigin(market: market, token: token)
                tokenIds.append(token.tokenId)
            }
        }
    }

    /// Whether some market listing the token is trading at `t`: then its book must be there.
    func isOpen(_ tokenId: String, at t: Int64) -> Bool {
        (windows[tokenId] ?? []).contains { Phase(window: $0, at: t, grace: Series.closingGrace) == .open }
    }
}
