import Glibc
import Testing
@testable import OrderbooksCore

/// The real static `snap` against a hostile Polymarket (Tests/FakePolymarket/fuzz_server.py):
/// random and mutated answers from Gamma and the CLOB (statuses, every form of Retry-After,
/// bodies near the cap, deep nesting, numbers of every size, broken framing) and hostile local
/// state. Each run must end by itself with a documented status, leave one complete snapshot
/// file (none only for 73) whose every row is JSON, stay under the memory bound, print only
/// well-formed log lines and never write the URL's password anywhere.
///
/// `ORDERBOOKS_FUZZ_CASES` (default 200; scripts/soak runs 10,000), `ORDERBOOKS_FUZZ_SEED`
/// (default random, always printed), `ORDERBOOKS_FUZZ_CASE` replays one case of a seed.
@Suite struct SnapFuzzTests {
    static let secret = "FUZZSECRET"
    /// The Basic credentials curl sends for `fuzzuser:FUZZSECRET`, in case they are recorded.
    static let secretBase64 = "ZnV6enVzZXI6RlVaWlNFQ1JFVA"
    static let rssBoundKiB = 64 * 1024
    /// A run makes at most two rounds of requests of at most `--timeout` (≤ 2 s) each: a run
    /// still alive after this is hung, however loaded the machine.
    static let deadline = Duration.seconds(30)
    static let statuses: Set<Int32> = [0, 3, 4, 5, 73]
    static let outcomes: [Int32: String] = [0: "complete", 3: "partial", 4: "failed", 5: "backoff", 73: "failed"]

    @Test func hostileServersAndState() async throws {
        let env = ProcessEnvironment.current
        let count = env["ORDERBOOKS_FUZZ_CASES"].flatMap { Int($0) } ?? 200
        let seed = env["ORDERBOOKS_FUZZ_SEED"].flatMap { UInt32($0) } ?? UInt32.random(in: 1...UInt32.max)
        let cases = env["ORDERBOOKS_FUZZ_CASE"].flatMap { Int($0) }.map { [$0] } ?? Array(0..<count)
        print("snap fuzz: seed \(seed), \(cases.count) cases (replay one: ORDERBOOKS_FUZZ_SEED=\(seed) ORDERBOOKS_FUZZ_CASE=<n>)")
        let tally = FuzzTally()
        try await withFakePolymarket(script: Paths.fuzzServer) { server in
            // Two at a time: the server answers while snap works, and CI machines have two cores.
            await withTaskGroup(of: Void.self) { group in
                for lane in 0..<2 {
                    group.addTask {
                        for n in stride(from: lane, to: cases.count, by: 2) {
                            await Self.runCase(seed: seed, number: cases[n], server: server, tally: tally)
                        }
                    }
                }
            }
        }
        let report = await tally.report(seed: seed, cases: cases.count)
        for line in report.lines { print(line) }
        for failure in report.failures { Issue.record(Comment(rawValue: failure)) }
        #expect(report.failureCount == 0, "snap fuzz: \(report.failureCount) failed runs; replay one with ORDERBOOKS_FUZZ_SEED=\(seed) ORDERBOOKS_FUZZ_CASE=<n>")
    }

    /// One case: one to three runs of snap on one data directory, each after the server planted
    /// what it chose in it.
    static func runCase(seed: UInt32, number: Int, server: FakePolymarket, tally: FuzzTally) async {
        let scratch = Scratch("fuzz")
        defer { scratch.remove() }
        let root = scratch.path + "/data"
        var run = 0
        while true {
            let id = "\(seed)-\(number)-\(run)"
            let plan: JSONValue
            do { plan = try server.call("/_fuzz/prepare/\(id)?dir=\(root)") } catch {
                await tally.add(id: id, problems: [("harness", "the fuzz server did not plan run \(id): \(error)")], exit: nil, rssKiB: 0, milliseconds: 0, answers: [])
                return
            }
            let tls = plan["tls"]?.bool == true
            let origin = tls ? server.https : server.http
            let scheme = origin.prefix { $0 != ":" }
            let base = "\(scheme)://fuzzuser:\(secret)@\(origin.dropFirst(scheme.count + 3))/c/\(id)"
            let arguments = ["--data-dir", root, "--gamma-url", base, "--clob-url", base, "--collector-id", "fuzz"]
                + (plan["args"]?.array ?? []).compactMap(\.string) + (tls ? ["--ca-file", server.caFile] : [])
            let spoolBefore = Set(DataDir(path: root).files("spool"))
            let child = await MeasuredChild.run(Paths.snap, arguments, scratch: scratch.path, deadline: deadline)
            var problems = check(child, root: root, spoolBefore: spoolBefore)
            // What the server answered, for the report; asked for every run so its log stays small.
            let answers = ((try? server.call("/_fuzz/log/\(id)"))?.array ?? []).compactMap(\.string)
                + (plan["notes"]?.array ?? []).compactMap(\.string)
            if !problems.isEmpty { problems.append(("", "flags: \(arguments.dropFirst(8).joined(separator: " "))")) }
            await tally.add(id: id, problems: problems, exit: child.exitDescription, rssKiB: child.maxRSSKiB,
                            milliseconds: child.milliseconds, answers: answers)
            // Later runs of the case see the state this one left, not its snapshot.
            for name in DataDir(path: root).files("spool") { unlink(root + "/spool/" + name) }
            guard plan["more"]?.bool == true else { return }
            run += 1
        }
    }

    /// Every rule a run must keep, as (class, detail) pairs; empty when it kept them all.
    static func check(_ child: MeasuredChild, root: String, spoolBefore: Set<String>) -> [(String, String)] {
        var problems: [(String, String)] = []
        let data = DataDir(path: root)
        if child.killed {
            problems.append(("hang", "still running after \(deadline); killed"))
        } else if let signal = child.signal {
            problems.append(("signal \(signal)", "ended by signal \(signal) (\(String(cString: strsignal(signal))))"))
        } else if let code = child.exitCode, !statuses.contains(code) {
            problems.append(("exit \(code)", "exit status \(code) is not one of snap's (0, 3, 4, 5, 73)"))
        }
        if child.maxRSSKiB >= rssBoundKiB {
            problems.append(("memory", "peak RSS \(child.maxRSSKiB / 1024) MiB, the bound is \(rssBoundKiB / 1024) MiB"))
        }
        let leftovers = data.files("tmp")
        if !leftovers.isEmpty { problems.append(("tmp leftover", "tmp/ holds \(leftovers.prefix(5)) after the run")) }

        let new = data.files("spool").filter { !spoolBefore.contains($0) }
        var runId: String? = nil
        if let code = child.exitCode {
            if new.count > 1 || (new.isEmpty && code != 73) {
                problems.append(("file count", "exit \(code) left \(new.count) new snapshot files (one expected\(code == 73 ? " at most" : ""))"))
            }
            if new.count == 1 {
                do {
                    guard let rows = try data.validatedSpool()[new[0]], let run = rows.last else { throw TestFailure("no rows") }
                    runId = run["run_id"]?.string
                    if run["exit_code"]?.intValue != Int(code) {
                        problems.append(("run row", "the run row says exit_code \(String(describing: run["exit_code"])), the process exited \(code)"))
                    }
                    if !new[0].hasSuffix("_fuzz_\(runId ?? "").jsonl.gz") {
                        problems.append(("file name", "\(new[0]) is not named like a snapshot"))
                    }
                } catch {
                    problems.append(("bad file", "\(new[0]): \(error)"))
                }
            }
        }

        var outputs: [(String, [UInt8])] = [("stdout", child.stdout), ("stderr", child.stderr)]
        forEachRegularFile(under: root) { path in
            guard let bytes = try? DurableFile.read(path) else { return }
            outputs.append((path, path.hasSuffix(".gz") ? ((try? Gzip.decompress(bytes)) ?? bytes) : bytes))
        }
        for (name, bytes) in outputs where contains(bytes, secret) || contains(bytes, secretBase64) {
            problems.append(("secret", "the URL's password is in \(name.hasPrefix(root) ? String(name.dropFirst(root.count + 1)) : name)"))
        }
        if !child.stdout.isEmpty { problems.append(("stdout", "snap wrote \(child.stdout.count) bytes to stdout")) }
        problems += checkLog(child.stderr, runId: runId, exitCode: child.exitCode)
        return problems
    }

    /// Each stderr line is one of snap's log events: `run=<this run's id> …` (or the warning for
    /// unreadable state), with no control character that could start a forged line or reach a
    /// terminal, and exactly one summary line whose outcome matches the exit status.
    static func checkLog(_ stderr: [UInt8], runId fileRunId: String?, exitCode: Int32?) -> [(String, String)] {
        guard !stderr.isEmpty else { return exitCode == nil ? [] : [("log", "no summary line on stderr")] }
        guard let text = String(validating: stderr, as: UTF8.self) else { return [("log", "stderr is not valid UTF-8")] }
        guard text.hasSuffix("\n") else { return [("log", "stderr does not end with a newline")] }
        let lines = text.dropLast().split(separator: "\n", omittingEmptySubsequences: false)
        let runId = fileRunId ?? lines.lazy.compactMap { line in
            line.hasPrefix("run=") ? line.dropFirst(4).prefix(while: { $0 != " " }) : nil
        }.first.map(String.init) ?? ""
        var problems: [(String, String)] = []
        var summaries: [Substring] = []
        for line in lines {
            if let bad = line.unicodeScalars.first(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) {
                problems.append(("log control character", "a log line holds U+\(String(bad.value, radix: 16, uppercase: true)): \(line.prefix(200).debugDescription)"))
            }
            // Server text is only ever inside a quoted value: outside the quotes, no field of its own.
            if Self.unquoted(line).components(separatedBy: " outcome=").count > (line.hasPrefix("run=\(runId) outcome=") ? 2 : 1) {
                problems.append(("log field", "a log line holds an outcome= outside its quoted values: \(line.prefix(200).debugDescription)"))
            }
            if line.hasPrefix("run=\(runId) outcome=") {
                summaries.append(line)
            } else if !line.hasPrefix("run=\(runId) ") && !line.hasPrefix("ignoring unreadable state: ") {
                problems.append(("log line", "a stderr line that is not one of this run's log events: \(line.prefix(200).debugDescription)"))
            }
        }
        if let code = exitCode {
            if summaries.count != 1 {
                problems.append(("log summary", "\(summaries.count) summary lines (run=\(runId) outcome=…), one expected"))
            } else if let outcome = outcomes[code], !summaries[0].hasPrefix("run=\(runId) outcome=\(outcome) ") {
                problems.append(("log summary", "exit \(code) but the summary says \(summaries[0].prefix(80))"))
            }
        }
        return problems
    }

    /// A log line without its quoted values (`key="…"`, `\"` and `\\` escaped inside).
    static func unquoted(_ line: Substring) -> String {
        var out = "", inQuotes = false, escaped = false
        for scalar in line.unicodeScalars {
            if inQuotes {
                if escaped { escaped = false } else if scalar == "\\" { escaped = true } else if scalar == "\"" { inQuotes = false }
            } else if scalar == "\"" {
                inQuotes = true
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func contains(_ bytes: [UInt8], _ needle: String) -> Bool {
        let n = Array(needle.utf8)
        guard bytes.count >= n.count else { return false }
        var i = 0
        while let at = bytes[i...].firstIndex(of: n[0]), at + n.count <= bytes.count {
            if bytes[at..<(at + n.count)].elementsEqual(n) { return true }
            i = at + 1
        }
        return false
    }

    /// Regular files only: the server plants directories, and a FIFO would block the read.
    static func forEachRegularFile(under directory: String, _ body: (String) -> Void) {
        guard let dir = opendir(directory) else { return }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            guard name != ".", name != ".." else { continue }
            let path = directory + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFREG: body(path)
            case S_IFDIR: forEachRegularFile(under: path, body)
            default: break
            }
        }
    }
}

/// A child process run to its end (or killed at a deadline), under GNU time for its own peak
/// RSS. Not wait4(2) on a posix_spawn child: that child shares the runner's memory until it
/// execs, and its high-water mark would include the runner's.
struct MeasuredChild {
    var exitCode: Int32?
    var signal: Int32?
    var killed = false
    var maxRSSKiB = 0
    var milliseconds = 0
    var stdout: [UInt8] = []
    var stderr: [UInt8] = []

    var exitDescription: String {
        if killed { return "hung" }
        if let signal { return "signal \(signal)" }
        return exitCode.map(String.init) ?? "?"
    }

    static func run(_ program: String, _ arguments: [String], scratch: String, deadline: Duration) async -> MeasuredChild {
        var result = MeasuredChild()
        let (outPath, errPath, timePath) = (scratch + "/stdout", scratch + "/stderr", scratch + "/time")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        // A process group of its own, so a hung run is killed with time(1); and the runner's
        // signal mask and ignored signals must not leak into the child.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        let command = ["/usr/bin/time", "-f", "rss=%M", "-o", timePath, program] + arguments
        let argv = command.map { strdup($0) } + [nil] as [UnsafeMutablePointer<CChar>?]
        let environment: [String] = ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8"]
        let envp = environment.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        let clock = ContinuousClock()
        let start = clock.now
        var pid: pid_t = 0
        guard posix_spawn(&pid, command[0], &actions, &attributes, argv, envp) == 0 else {
            result.exitCode = 127
            return result
        }
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            if clock.now - start > deadline {
                kill(-pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                result.killed = true
                break
            }
            try? await Task.sleep(for: .milliseconds(2))
        }
        let elapsed = clock.now - start
        result.milliseconds = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
        // time(1) writes "Command terminated by signal N" when the child was signalled, then "rss=KiB".
        let report = String(decoding: (try? DurableFile.read(timePath)) ?? [], as: UTF8.self)
        for line in report.split(separator: "\n") {
            if line.hasPrefix("rss=") { result.maxRSSKiB = Int(line.dropFirst(4)) ?? 0 }
            if line.hasPrefix("Command terminated by signal ") { result.signal = Int32(line.dropFirst("Command terminated by signal ".count)) }
        }
        if !result.killed, result.signal == nil, status & 0x7F == 0 { result.exitCode = (status >> 8) & 0xFF }
        result.stdout = (try? DurableFile.read(outPath)) ?? []
        result.stderr = (try? DurableFile.read(errPath)) ?? []
        return result
    }
}

/// What the runs did, gathered from both lanes.
actor FuzzTally {
    private var runs = 0
    private var exits: [String: Int] = [:]
    private var maxRSSKiB = 0
    private var totalMilliseconds = 0
    private var failedRuns = 0
    private var failedCases: Set<String> = []
    private var classes: [String: (count: Int, example: String)] = [:]
    private var failures: [String] = []
    static let maxReported = 25

    func add(id: String, problems: [(String, String)], exit: String?, rssKiB: Int, milliseconds: Int, answers: [String]) {
        runs += 1
        if let exit { exits[exit, default: 0] += 1 }
        maxRSSKiB = max(maxRSSKiB, rssKiB)
        totalMilliseconds += milliseconds
        guard !problems.isEmpty else { return }
        failedRuns += 1
        failedCases.insert(String(id[..<id.lastIndex(of: "-")!]))
        var seen: Set<String> = []
        for (kind, detail) in problems where !kind.isEmpty && seen.insert(kind).inserted {
            classes[kind, default: (0, "run \(id): \(detail)")].count += 1
        }
        if failures.count < Self.maxReported {
            let parts = id.split(separator: "-")
            failures.append("""
                snap fuzz run \(id) (ORDERBOOKS_FUZZ_SEED=\(parts[0]) ORDERBOOKS_FUZZ_CASE=\(parts[1])), exit \(exit ?? "?"), \(rssKiB / 1024) MiB, \(milliseconds) ms:
                \(problems.map { "  - \($0.1.prefix(400))" }.joined(separator: "\n"))
                  answers:
                \(answers.map { "    \($0.prefix(300))" }.joined(separator: "\n"))
                """)
        }
    }

    func report(seed: UInt32, cases: Int) -> (lines: [String], failures: [String], failureCount: Int) {
        let order = ["0", "3", "4", "5", "73"]
        let codes = exits.keys.sorted { (order.firstIndex(of: $0) ?? 99, $0) < (order.firstIndex(of: $1) ?? 99, $1) }
        var lines = classes.sorted { $0.value.count > $1.value.count }.map {
            "snap fuzz failure: \($0.key) in \($0.value.count) runs, e.g. \($0.value.example.prefix(300))"
        }
        lines.append("snap fuzz: \(cases) cases (\(runs) runs), seed \(seed), exits {\(codes.map { "\($0): \(exits[$0]!)" }.joined(separator: ", "))}, "
                     + "max RSS \(maxRSSKiB / 1024) MiB, mean \(runs > 0 ? totalMilliseconds / runs : 0) ms a run, "
                     + "\(failedRuns) failures in \(failedCases.count) cases")
        return (lines, failures, failedRuns)
    }
}
