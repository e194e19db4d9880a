import Glibc
import Subprocess
import SystemPackage
import Testing
@testable import OrderbooksCore
@testable import OrderbooksCapture

/// Paths of the things under test.
enum Paths {
    static let packageRoot: String = {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // Tests/EndToEndTests/Harness.swift
        return parts.joined(separator: "/")
    }()

    /// The `snap` built beside the test bundle, or `ORDERBOOKS_SNAP_BIN` (the static release
    /// build, when scripts/test runs).
    static let snap: String = {
        if let bin = ProcessEnvironment.current["ORDERBOOKS_SNAP_BIN"], !bin.isEmpty { return bin }
        var parts = CommandLine.arguments[0].split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast()
        return parts.joined(separator: "/") + "/snap"
    }()

    /// `seal`, found like `snap` (`ORDERBOOKS_SEAL_BIN`).
    static let seal: String = {
        if let bin = ProcessEnvironment.current["ORDERBOOKS_SEAL_BIN"], !bin.isEmpty { return bin }
        return String(snap.dropLast("snap".count)) + "seal"
    }()

    /// `ship`, found like `snap` (`ORDERBOOKS_SHIP_BIN`).
    static let ship: String = {
        if let bin = ProcessEnvironment.current["ORDERBOOKS_SHIP_BIN"], !bin.isEmpty { return bin }
        return String(snap.dropLast("snap".count)) + "ship"
    }()

    /// `gate`, found like `snap` (`ORDERBOOKS_GATE_BIN`).
    static let gate: String = {
        if let bin = ProcessEnvironment.current["ORDERBOOKS_GATE_BIN"], !bin.isEmpty { return bin }
        return String(snap.dropLast("snap".count)) + "gate"
    }()

    static let fake = packageRoot + "/Tests/FakePolymarket/fake_polymarket.py"
    /// The hostile variant the fuzz tests use (Tests/FakePolymarket/fuzz_server.py).
    static let fuzzServer = packageRoot + "/Tests/FakePolymarket/fuzz_server.py"
}

/// A scratch directory, removed by `remove()`.
struct Scratch {
    let path: String

    init(_ label: String) {
        var template = Array("/tmp/orderbooks-\(label)-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    func remove() { _ = system("rm -rf '\(path)'") }
}

struct ProcessOutcome: CustomStringConvertible {
    var status: TerminationStatus
    var stdout: String
    var stderr: String

    /// The exit code, or nil when a signal ended the process.
    var exitCode: Int32? {
        if case .exited(let code) = status { return code }
        return nil
    }

    var description: String { "\(status)\nstderr: \(stderr)" }
}

/// A clean environment plus `env`.
func cleanEnvironment(_ env: [String: String]) -> Environment {
    var environment = ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"]
    environment.merge(env) { $1 }
    return .custom(environment.map { Array("\($0.key)=\($0.value)".utf8) + [0] })
}

/// Runs a program to completion with a clean environment plus `env`.
@discardableResult
func run(_ program: String, _ arguments: [String], env: [String: String] = [:]) async throws -> ProcessOutcome {
    let result = try await Subprocess.run(.path(FilePath(program)), arguments: Arguments(arguments), environment: cleanEnvironment(env),
                                          output: .string(limit: 256 << 20), error: .string(limit: 16 << 20))
    return ProcessOutcome(status: result.terminationStatus, stdout: result.standardOutput, stderr: result.standardError)
}

/// Whether `pid` is still running: neither gone nor a zombie waiting to be reaped (which
/// `kill(pid, 0)` would still find).
func isRunning(_ pid: pid_t) -> Bool {
    guard let stat = try? DurableFile.read("/proc/\(pid)/stat"), let close = stat.lastIndex(of: UInt8(ascii: ")")),
          close + 2 < stat.count else { return false }
    return stat[close + 2] != UInt8(ascii: "Z") && stat[close + 2] != UInt8(ascii: "X")
}

/// Runs `program` and SIGKILLs it `delay` after it is seen writing its `nth` file: once the
/// `nth` distinct temporary file of its own (DurableFile's `<name>.<pid>.<n>.part`) is in
/// `temporaryDirectory`. The kill is timed from the process's progress, not the clock, so it
/// lands mid-write however fast the run (seal: 1 is the segment, 2 its manifest, written once
/// the segment has its final name). `midWrite` is true when it did: the file was seen and the
/// kill ended the process.
func runAndKillMidWrite(_ program: String, _ arguments: [String], temporaryDirectory: String, nth: Int = 1,
                        after delay: Duration = .zero) async throws -> (outcome: ProcessOutcome, midWrite: Bool) {
    let result = try await Subprocess.run(.path(FilePath(program)), arguments: Arguments(arguments), environment: cleanEnvironment([:]),
                                          input: .none, output: .discarded, error: .string(limit: 16 << 20)) { execution in
        let pid = execution.processIdentifier.value
        let mark = ".\(pid)."
        var seen = Set<String>()
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline && isRunning(pid) {
            seen.formUnion((DataDirectory.names(in: temporaryDirectory) ?? []).filter { $0.contains(mark) && $0.hasSuffix(DurableFile.temporarySuffix) })
            if seen.count >= nth {
                if delay > .zero { try await Task.sleep(for: delay) }
                try execution.send(signal: .kill)
                return true
            }
            try await Task.sleep(for: .microseconds(200))
        }
        return false
    }
    let outcome = ProcessOutcome(status: result.terminationStatus, stdout: "", stderr: result.standardError)
    return (outcome, result.closureResult && outcome.exitCode == nil)
}

/// Runs a program while this process holds the `flock` on `lockPath`: once the kernel's lock
/// table shows the program blocked on it, `whileBlocked` runs, then the lock is released and the
/// program left to finish. `blocked` is false when the program never waited (within 60 s).
func runBlockedOnLock(_ lockPath: String, _ program: String, _ arguments: [String], env: [String: String] = [:],
                      whileBlocked: () throws -> Void) async throws -> (outcome: ProcessOutcome, blocked: Bool) {
    var held = try FileLock(exclusive: lockPath, wait: false)
    guard held != nil else { throw TestFailure("\(lockPath) is held already") }
    let result = try await Subprocess.run(.path(FilePath(program)), arguments: Arguments(arguments), environment: cleanEnvironment(env),
                                          input: .none, output: .discarded, error: .string(limit: 16 << 20)) { execution in
        let pid = execution.processIdentifier.value
        var blocked = false
        let deadline = ContinuousClock.now + .seconds(60)
        while !blocked && ContinuousClock.now < deadline && isRunning(pid) {
            // A blocked request is listed as `N: -> FLOCK  ADVISORY  WRITE <pid> …`.
            let table = String(decoding: try DurableFile.read("/proc/locks") ?? [], as: UTF8.self)
            blocked = table.split(separator: "\n").contains { $0.contains("->") && $0.split(separator: " ").contains(Substring(String(pid))) }
            if !blocked { try await Task.sleep(for: .milliseconds(100)) }
        }
        if blocked { try whileBlocked() }
        held = nil
        return blocked
    }
    return (ProcessOutcome(status: result.terminationStatus, stdout: "", stderr: result.standardError), result.closureResult)
}

func runSnap(_ arguments: [String], env: [String: String] = [:]) async throws -> ProcessOutcome {
    try await run(Paths.snap, arguments, env: env)
}

func runSeal(_ arguments: [String], env: [String: String] = [:]) async throws -> ProcessOutcome {
    try await run(Paths.seal, arguments, env: env)
}

func runShip(_ arguments: [String], env: [String: String] = [:]) async throws -> ProcessOutcome {
    try await run(Paths.ship, arguments, env: env)
}

/// Runs `program` and SIGKILLs it after `milliseconds` unless it finished by then.
func runAndKill(_ program: String, _ arguments: [String], after delay: Duration) async throws -> ProcessOutcome {
    let result = try await Subprocess.run(.path(FilePath(program)), arguments: Arguments(arguments),
                                          environment: .custom([Array("PATH=/usr/bin:/bin".utf8) + [0]]),
                                          input: .none, output: .discarded, error: .string(limit: 1 << 20)) { execution in
        try await Task.sleep(for: delay)
        try? execution.send(signal: .kill)
    }
    return ProcessOutcome(status: result.terminationStatus, stdout: "", stderr: result.standardError)
}

/// The fake Polymarket of Tests/FakePolymarket, one per test, on loopback ports of its own.
struct FakePolymarket: Sendable {
    let http: String
    let https: String
    let caFile: String

    /// `snap` arguments that point both APIs at this fake.
    func arguments(dataDirectory: String, tls: Bool = true) -> [String] {
        let url = tls ? https : http
        return ["--data-dir", dataDirectory, "--clob-url", url, "--gamma-url", url] + (tls ? ["--ca-file", caFile] : [])
    }

    /// A control request. The fakes are Python: on a loaded two-core CI machine a thread building
    /// a large hostile body can keep one from answering for seconds, so the limit only catches a
    /// fake that is really stuck.
    func call(_ path: String, body: String? = nil) throws -> JSONValue {
        let client = HTTPClient(settings: HTTPSettings(connectTimeoutMilliseconds: 10_000, timeoutMilliseconds: 60_000,
                                                       maxBodyBytes: 256 << 20, userAgent: "orderbooks-tests", caFile: nil))
        let exchange = client.perform([HTTPRequest(url: http + path, jsonBody: body.map { Array($0.utf8) })])[0]
        let response = try exchange.result.get()
        guard response.status == 200 else { throw TestFailure("control \(path): HTTP \(response.status)") }
        return try JSON.parse(response.body)
    }

    /// Sets a fault (see Tests/FakePolymarket/README.md), e.g. `fault("clob", "hang")`.
    func fault(_ target: String, _ mode: String, _ parameters: String = "") throws {
        let extra = parameters.isEmpty ? "" : "," + parameters
        _ = try call("/_control/fault", body: #"{"target":"\#(target)","mode":"\#(mode)"\#(extra)}"#)
    }

    func clearFaults() throws {
        _ = try call("/_control/fault", body: #"{"target":"any","mode":"none"}"#)
        _ = try call("/_control/fault", body: #"{"target":"gamma","mode":"none"}"#)
        _ = try call("/_control/fault", body: #"{"target":"clob","mode":"none"}"#)
    }

    func resetLogs() throws { _ = try call("/_control/reset", body: "{}") }

    /// Every book the fake served, as the compact text it sent, with the request's time.
    func servedBooks() throws -> [(t: Double, text: String)] {
        try (call("/_control/served").array ?? []).flatMap { response in
            let t = Double(response["t"].flatMap { if case .number(let n) = $0 { n } else { nil } } ?? "0") ?? 0
            return (response["books"]?.array ?? []).compactMap { $0.string.map { (t, $0) } }
        }
    }

    /// Requests the fake received: path and time.
    func requests() throws -> [(path: String, t: Double)] {
        try (call("/_control/requests").array ?? []).map {
            let t = Double($0["t"].flatMap { if case .number(let n) = $0 { n } else { nil } } ?? "0") ?? 0
            return ($0["path"]?.string ?? "", t)
        }
    }

    /// The fake's own view of the markets around `at` (previous, current, next of each series).
    func markets(at: Timestamp) throws -> [JSONValue] {
        let seconds = "\(at.microseconds / 1_000_000).\(String(at.microseconds % 1_000_000).leftPadded(6))"
        return try call("/_control/markets?at=\(seconds)").array ?? []
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Starts a fake Polymarket (or `script`, which starts like it), runs `body` with it, and stops it.
func withFakePolymarket<T: Sendable>(script: String = Paths.fake, _ body: @Sendable (FakePolymarket) async throws -> T) async throws -> T {
    let scratch = Scratch("fake")
    defer { scratch.remove() }
    let result = try await Subprocess.run(
        .path("/usr/bin/env"), arguments: ["python3", script, "--state-dir", scratch.path],
        input: .none, output: .sequence, error: .discarded
    ) { execution -> T in
        var lines = execution.standardOutput.strings().makeAsyncIterator()
        guard let line = try await lines.next(), let info = try? JSON.parse(line),
              let http = info["http"]?.string, let https = info["https"]?.string, let ca = info["ca_file"]?.string else {
            throw TestFailure("the fake Polymarket did not start (python3 \(script))")
        }
        defer { try? execution.send(signal: .terminate) }
        return try await body(FakePolymarket(http: http, https: https, caFile: ca))
    }
    return result.closureResult
}

/// A data directory and what `snap` left in it.
struct DataDir {
    let root: String
    private let scratch: Scratch?

    /// A new data directory (not created: snap creates it) under a scratch directory.
    init(_ label: String) {
        let scratch = Scratch(label)
        self.scratch = scratch
        root = scratch.path + "/data"
    }

    /// An existing data directory, left in place.
    init(path: String) {
        scratch = nil
        root = path
    }

    /// The scratch directory holding `root`.
    var parent: String { String(root.dropLast("/data".count)) }

    func files(_ sub: String) -> [String] {
        guard let dir = opendir(root + "/" + sub) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Checks every spool file: complete name, valid gzip, one JSON object per line, the shared
    /// fields in every row, and a closing `run` row whose counts match. Returns rows per file.
    func validatedSpool() throws -> [String: [Row]] {
        var result: [String: [Row]] = [:]
        for name in files("spool") {
            guard name.hasSuffix(".jsonl.gz"), !name.hasPrefix(".") else { throw TestFailure("unexpected file in spool: \(name)") }
            let bytes = try DurableFile.read(root + "/spool/" + name) ?? []
            let text = try Gzip.decompress(bytes)
            guard text.last == 0x0A else { throw TestFailure("\(name) does not end with a newline") }
            let rows = try text.split(separator: 0x0A).map { Row(value: try JSON.parse(Array($0)), line: Array($0)) }
            guard let run = rows.last, run["kind"]?.string == "run" else { throw TestFailure("\(name) has no closing run row") }
            let runId = run["run_id"]?.string ?? ""
            guard name.contains("_\(runId).jsonl.gz") else { throw TestFailure("\(name) does not carry run id \(runId)") }
            for row in rows {
                for key in ["kind", "schema", "run_id", "collector", "received_at"] where row[key] == nil {
                    throw TestFailure("\(name): a row lacks \(key)")
                }
                guard row["run_id"]?.string == runId, row["received_at"]?.string.flatMap(Timestamp.parse) != nil else {
                    throw TestFailure("\(name): a row has another run id or a bad received_at")
                }
            }
            for (kind, field) in [("book", "books"), ("absent", "absent"), ("failure", "failures"), ("resolution", "resolutions")] {
                let count = rows.filter { $0["kind"]?.string == kind }.count
                guard run[field] == .number(String(count)) else { throw TestFailure("\(name): run row says \(field)=\(String(describing: run[field])), rows say \(count)") }
            }
            result[name] = rows
        }
        return result
    }

    /// The rows of the only spool file.
    func onlySnapshot() throws -> [Row] {
        let spool = try validatedSpool()
        guard spool.count == 1 else { throw TestFailure("expected one snapshot, found \(spool.keys.sorted())") }
        return spool.values.first!
    }

    func remove() { scratch?.remove() }
}

extension JSONValue {
    var intValue: Int? { if case .number(let n) = self { Int(n) } else { nil } }
}

extension Array where Element == Row {
    func rows(_ kind: String) -> [Row] { filter { $0.kind == kind } }
}

/// A row of a snapshot file, parsed, with its line as stored.
struct Row {
    var value: JSONValue
    var line: [UInt8]

    var kind: String? { value["kind"]?.string }
    subscript(key: String) -> JSONValue? { value[key] }

    /// The `book` value exactly as stored: it is the last field, spliced in raw.
    var storedBook: String? {
        let marker = Array(#","book":"#.utf8)
        guard let at = line.indices.first(where: { line[$0...].starts(with: marker) }) else { return nil }
        return String(decoding: line[(at + marker.count)..<(line.count - 1)], as: UTF8.self)
    }
}
