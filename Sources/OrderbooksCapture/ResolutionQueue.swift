import OrderbooksCore

/// A market whose window has ended and whose resolution is not recorded yet.
public struct AwaitedResolution: Equatable, Sendable {
    public var series: Series
    public var slug: String
    public var window: Window
    /// Epoch seconds of the next lookup.
    public var nextCheck: Int64
    /// Lookups made so far.
    public var checks: Int
    /// What the last lookup saw (`closed=true uma_resolution_status=proposed …`, or its error).
    public var lastState: String?
}

/// The markets awaiting their resolution, kept in the discovery cache.
///
/// Stateless like the rest: the queue is filled from the clock, not from what discovery saw.
/// Every window of each captured series that ends after the series' mark (`queuedUntil`) is
/// queued, and the mark moves to now. A cache that is lost or deleted has no mark: when the data
/// directory already holds data, the windows of the last `deadline` are queued again, so a
/// resolution may be recorded twice (readers keep the first per `condition_id`), never missed.
/// A fresh install starts its mark at its first run.
public struct ResolutionQueue: Equatable, Sendable {
    public var awaited: [String: AwaitedResolution] = [:]
    public var queuedUntil: [Series: Int64] = [:]

    /// Gamma marks most markets resolved a minute after their end (median 54 s, p90 87 s).
    public static let firstCheckDelay: Int64 = 60
    /// Lookups per run, at most: beside discovery's 15 requests, a small share of Gamma.
    public static let maxLookupsPerRun = 4
    /// After each unresolved look the wait doubles from 30 s, up to an hour.
    public static let maxRetryDelay: Int64 = 3600
    /// Bounds a cache file: seven days of all five series is about 2,900 windows.
    public static let maxAwaited = 4096

    public init() {}

    /// Queues the windows of `series` that ended in `(mark, now]`. `lookback` is how far back a
    /// series without a mark starts; nothing older than `deadline` is queued.
    public mutating func enqueue(_ series: [Series], now: Int64, lookback: Int64, deadline: Int64) {
        for s in series {
            // The mark moves to the end of the last window queued, not to now: a run in which no
            // window ended leaves the cache as it was (no write), and a queue that is full
            // resumes where it stopped.
            var mark = max(queuedUntil[s] ?? now - lookback, now - deadline)
            var window = s.window(containing: mark)
            while window.end <= now, awaited.count < Self.maxAwaited {
                let slug = s.slug(for: window)
                if awaited[slug] == nil {
                    awaited[slug] = AwaitedResolution(series: s, slug: slug, window: window,
                                                      nextCheck: window.end + Self.firstCheckDelay, checks: 0, lastState: nil)
                }
                mark = window.end
                window = s.window(containing: window.end)
            }
            if let old = queuedUntil[s], old >= mark { continue }
            queuedUntil[s] = mark
        }
    }

    /// The markets to look up now: the longest due first.
    public func due(at now: Int64) -> [AwaitedResolution] {
        Array(awaited.values.filter { $0.nextCheck <= now }
            .sorted { ($0.nextCheck, $0.slug) < ($1.nextCheck, $1.slug) }
            .prefix(Self.maxLookupsPerRun))
    }

    /// Removes and returns the markets still unresolved `deadline` seconds after their end.
    public mutating func expire(at now: Int64, deadline: Int64) -> [AwaitedResolution] {
        let expired = awaited.values.filter { now >= $0.window.end + deadline }.sorted { $0.slug < $1.slug }
        for market in expired { awaited[market.slug] = nil }
        return expired
    }

    /// A lookup that found no resolution (or failed): the next one waits twice as long as the last.
    public mutating func checked(_ slug: String, at now: Int64, state: String) {
        guard var market = awaited[slug] else { return }
        market.checks += 1
        market.lastState = state
        market.nextCheck = now + min(30 << min(market.checks - 1, 20), Self.maxRetryDelay)
        awaited[slug] = market
    }

    public mutating func resolved(_ slug: String) {
        awaited[slug] = nil
    }
}

extension ResolutionQueue {
    /// What one round of lookups gave: rows to write, failures, and a throttle for the backoff.
    public struct Round: Sendable {
        public var rows: [[UInt8]] = []
        public var failures: [FailureRecord] = []
        public var throttle: Problem?
    }

    /// A failure row for each market given up on at `now`, taken off the queue.
    public mutating func giveUp(at now: Timestamp, deadline: Int64, gammaURL: String) -> [FailureRecord] {
        expire(at: now.seconds, deadline: deadline).map { market in
            let problem = Problem(kind: "unresolved", message: "no resolution on Gamma \(deadline) s after the window's end at "
                                  + "\(Timestamp(seconds: market.window.end).iso8601), after \(market.checks) lookups; last seen: \(market.lastState ?? "no lookup made")")
            return FailureRecord(stage: .resolution, problem: problem, at: now, url: Self.url(market, gammaURL), series: market.series, slug: market.slug)
        }
    }

    public static func url(_ market: AwaitedResolution, _ gammaURL: String) -> String { "\(gammaURL)/markets/slug/\(market.slug)" }

    /// Takes the answers to the lookups of `due`: a resolved market leaves the queue with its
    /// row; any other answer waits for the next lookup.
    public mutating func record(_ due: [AwaitedResolution], _ exchanges: [HTTPExchange], now: Timestamp, context: RowContext) -> Round {
        var round = Round()
        for (market, exchange) in zip(due, exchanges) {
            switch Self.read(exchange, market) {
            case .success(.resolved(let resolved)):
                round.rows.append(Rows.resolution(market, resolved, exchange: exchange, context))
                self.resolved(market.slug)
            case .success(.pending(let state)):
                checked(market.slug, at: now.seconds, state: state)
            case .success:
                break  // read() turns the other readings into failures
            case .failure(let problem):
                if problem.isThrottle, round.throttle == nil { round.throttle = problem }
                round.failures.append(FailureRecord(stage: .resolution, problem: problem, exchange: exchange, series: market.series, slug: market.slug))
                checked(market.slug, at: now.seconds, state: "\(problem.kind) (HTTP \(problem.httpStatus.map(String.init) ?? "-"))")
            }
        }
        return round
    }

    private static func read(_ exchange: HTTPExchange, _ market: AwaitedResolution) -> Result<GammaResolution.Reading, Problem> {
        ResponseCheck.body(of: exchange).flatMap { response in
            let reading: GammaResolution.Reading
            do throws(JSONError) { reading = try GammaResolution.read(response.body, awaited: market) } catch { return .failure(ResponseCheck.problem(error, in: response)) }
            switch reading {
            case .resolved, .pending:
                return .success(reading)
            case .errorObject(let value):
                return .failure(ResponseCheck.problem(errorObject: value, in: response, now: exchange.finishedAt, instead: "a market"))
            case .unexpected(let problem):
                return .failure(ResponseCheck.problem(shape: problem, in: response))
            }
        }
    }
}
