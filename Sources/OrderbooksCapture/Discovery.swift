import OrderbooksCore

/// Finds the markets of the targeted windows: from the cache while its answers are fresh, from
/// Gamma (`GET /events/slug/{slug}`, all at once) otherwise.
public struct Discovery: Sendable {
    public var gammaURL: String
    /// Seconds a Gamma answer is reused before it is asked again.
    public var ttl: Int64

    /// The largest event read: a real one is a few KB (one market, its description, its series),
    /// and up to fifteen are asked at once, so this bounds what Gamma can make a run hold.
    public static let maxEventBytes = 1 << 20

    public init(gammaURL: String, ttl: Int64) {
        self.gammaURL = gammaURL
        self.ttl = ttl
    }

    /// A Gamma answer worth a `market` row.
    public struct Observation: Sendable {
        public var market: Market
        public var details: MarketDetails
        public var exchange: HTTPExchange
        public var body: [UInt8]
    }

    public struct Outcome: Sendable {
        /// The markets to request books for, in target order.
        public var markets: [Market] = []
        public var observations: [Observation] = []
        public var failures: [FailureRecord] = []
        /// Upcoming windows Gamma does not list yet: expected, so not failures.
        public var notListed: [String] = []
        public var requests = 0
        /// A throttled answer, which pauses later requests to Gamma.
        public var throttle: Problem?
        /// Whether Gamma answered normally at least once, which ends an earlier pause.
        public var answered = false
    }

    public func discover(_ targets: [WindowTarget], cache: inout DiscoveryCache, pause: BackoffState.Entry?,
                         client: HTTPClient, now: Timestamp) -> Outcome {
        var outcome = Outcome()
        var due: [WindowTarget] = []
        var early: [WindowTarget] = []
        for target in targets {
            guard let entry = cache.entries[target.slug] else {
                due.append(target)
                continue
            }
            let age = now.microseconds - entry.fetchedAt.microseconds
            if age >= ttl * 1_000_000 || age < 0 {
                due.append(target)
            } else if age * 2 >= ttl * 1_000_000 {
                // Refreshed along with due ones, so entries stay in step and Gamma is asked in batches.
                early.append(target)
            }
        }

        var fetched: Set<String> = []
        if !due.isEmpty, let pause {
            for target in due {
                let problem = Problem(kind: "backoff", message: "Gamma throttled us (\(pause.reason)); not asking before \(pause.until.iso8601)",
                                      retryAt: pause.until)
                outcome.failures.append(FailureRecord(stage: .discovery, problem: problem, at: now,
                                                      url: url(target), series: target.series, slug: target.slug))
            }
        } else if !due.isEmpty {
            let asked = due + early
            let exchanges = client.perform(asked.map { HTTPRequest(url: url($0), maxBodyBytes: Self.maxEventBytes) })
            outcome.requests = exchanges.count
            for (target, exchange) in zip(asked, exchanges) {
                switch read(exchange, target) {
                case .success(let observation):
                    outcome.answered = true
                    outcome.observations.append(observation)
                    cache.entries[target.slug] = .init(fetchedAt: exchange.finishedAt, answer: .market(observation.market))
                    fetched.insert(target.slug)
                case .failure(let problem) where problem.kind == "not_found":
                    outcome.answered = true
                    cache.entries[target.slug] = .init(fetchedAt: exchange.finishedAt, answer: .notListed)
                    fetched.insert(target.slug)
                    if target.window.start <= now.seconds {
                        outcome.failures.append(FailureRecord(stage: .discovery, problem: notFound(problem, target),
                                                              exchange: exchange, series: target.series, slug: target.slug))
                    }
                case .failure(let problem):
                    if problem.isThrottle, outcome.throttle == nil { outcome.throttle = problem }
                    // An early refresh that fails costs nothing: its cached answer is still fresh.
                    if due.contains(target) {
                        outcome.failures.append(FailureRecord(stage: .discovery, problem: problem, exchange: exchange,
                                                              series: target.series, slug: target.slug))
                    }
                }
            }
        }

        for target in targets {
            switch cache.entries[target.slug]?.answer {
            case .market(let market)?:
                // A stale answer still names the right tokens, so it serves when Gamma cannot.
                outcome.markets.append(market)
            case .notListed? where target.window.start > now.seconds:
                outcome.notListed.append(target.slug)
            case .notListed?:
                if !fetched.contains(target.slug) {
                    let fetchedAt = cache.entries[target.slug]!.fetchedAt
                    let problem = Problem(kind: "not_found", message: "Gamma had no event \(target.slug) at \(fetchedAt.iso8601) (cached answer)")
                    outcome.failures.append(FailureRecord(stage: .discovery, problem: notFound(problem, target), at: now,
                                                          url: url(target), series: target.series, slug: target.slug))
                }
            case nil:
                break  // its failure is recorded above
            }
        }
        let targeted = Set(targets.map(\.slug))
        cache.entries = cache.entries.filter { targeted.contains($0.key) }
        return outcome
    }

    private func url(_ target: WindowTarget) -> String { "\(gammaURL)/events/slug/\(target.slug)" }

    private func read(_ exchange: HTTPExchange, _ target: WindowTarget) -> Result<Observation, Problem> {
        ResponseCheck.body(of: exchange).flatMap { response in
            let reading: GammaEvent.Reading
            do throws(JSONError) { reading = try GammaEvent.read(response.body, target: target) } catch { return .failure(ResponseCheck.problem(error, in: response)) }
            switch reading {
            case .market(let market, let details):
                return .success(Observation(market: market, details: details, exchange: exchange, body: response.body))
            case .errorObject(let value):
                return .failure(ResponseCheck.problem(errorObject: value, in: response, now: exchange.finishedAt, instead: "an event"))
            case .unexpected(let problem):
                return .failure(ResponseCheck.problem(shape: problem, in: response))
            }
        }
    }

    /// A window that has started must be on Gamma; if not, its slug may have changed format.
    private func notFound(_ problem: Problem, _ target: WindowTarget) -> Problem {
        var p = problem
        p.message += "; window \(target.window) has started, so the \(target.series.rawValue) slug format may have changed"
        return p
    }
}
