import OrderbooksCore

/// How a run's answers start, extend or end the pauses of `state/backoff.json`.
extension BackoffState {
    /// Folds in what one batch of requests to `api` got: a throttled answer starts or extends
    /// a pause, otherwise any normal answer ends it.
    public mutating func record(_ api: API, throttle: Problem?, answered: Bool, at now: Timestamp) {
        if let throttle { recordThrottle(api, throttle, at: now) } else if answered { recordSuccess(api) }
    }

    public mutating func recordThrottle(_ api: API, _ problem: Problem, at now: Timestamp) {
        // Saturates: the count comes back from a state file, which may hold any number.
        let previous = max(entries[api]?.consecutive ?? 0, 0)
        let consecutive = previous == .max ? previous : previous + 1
        let computed = now.adding(seconds: Self.basePause << min(consecutive - 1, 10))
        let until = min(problem.retryAt ?? computed, now.adding(seconds: Self.maxPause))
        entries[api] = Entry(until: max(until, now), consecutive: consecutive, reason: problem.message)
    }
}
