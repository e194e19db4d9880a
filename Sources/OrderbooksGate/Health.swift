import Glibc
import OrderbooksCore

/// `gate health`: reads the data directory (and systemd's view of the timers), prints the
/// answer, optionally writes the textfile, and returns the monitoring-plugin status.
public struct Health {
    public var configuration: HealthConfiguration
    public var log: Log

    public init(configuration: HealthConfiguration, log: Log) {
        (self.configuration, self.log) = (configuration, log)
    }

    public func run() async -> HealthStatus {
        let directory = DataDirectory(root: configuration.dataDirectory)
        var info = stat()
        guard stat(directory.root, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            let why = String(cString: strerror(errno))
            print("ORDERBOOKS UNKNOWN: cannot read the data directory \(directory.root): \(why)")
            return .unknown
        }
        // Run rows are read back over twice the critical age, 15 minutes at least.
        let facts = HealthFacts.gather(directory, now: Timestamp.now(), scanSeconds: max(900, 2 * configuration.thresholds.snapshotCritical))
        let (timers, note) = await Self.timers(enabled: configuration.timers)
        let verdict = HealthVerdict(facts: facts, timers: timers, timersNote: note, configuration: configuration)
        let output = HealthOutput(facts: facts, timers: timers, verdict: verdict, configuration: configuration)
        var status = verdict.status
        if let path = configuration.prometheusFile {
            // Its temporary name (not *.prom) sits beside it, so node_exporter never reads half a file.
            let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
            do { try DurableFile.replace(output.prometheus, at: path, temporaryDirectory: directory.isEmpty ? "/" : directory, readableByAll: true) } catch {
                // Whatever the checks said: a monitor reading the textfile would see stale figures.
                log(.error, "cannot write the textfile: \(error)")
                status = .unknown
            }
        }
        let bytes = configuration.json ? output.json : Array(output.text.utf8)
        bytes.withUnsafeBytes { _ = write(1, $0.baseAddress, $0.count) }
        // Under systemd, stdout is journaled at info (which the unit drops): a problem is also
        // logged at its own priority, so the journal keeps problems and not a minute's OK.
        if log.toJournal && status != .ok { log(status == .critical ? .error : .warning, verdict.summary) }
        return status
    }

    /// systemd's view of the timers, or why there is none.
    static func timers(enabled: Bool) async -> ([TimerState]?, String?) {
        guard enabled else { return (nil, "not checked (--timers off)") }
        guard TimerState.systemdRuns else { return (nil, "not checked (systemd does not run this host)") }
        let record = await Command.run(TimerState.query(TimerState.units), environment: TimerState.environment)
        guard record.succeeded else {
            let why = CommandRecord.tail(record.stderr, lines: 1).first ?? record.ending
            return (nil, "systemctl show failed (\(record.ending)): \(why)")
        }
        return (TimerState.parse(record.stdoutText), nil)
    }
}
