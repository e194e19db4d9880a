// Fixtures the sealing and shipping tests share: snapshot files as snap writes them, and a
// scratch data directory sealed by the real SealRun.
import Glibc
import OrderbooksCore
import OrderbooksSealing

/// A snapshot file as snap writes it: a few rows and the closing run row.
package func snapshot(startedAt: Timestamp, collector: String = "c1", outcome: String = "complete", failures: [String] = [],
                      books: Int = 2) -> (name: String, bytes: [UInt8]) {
    let runId = String(UInt64.random(in: 0...UInt64.max), radix: 16).leftPadded(16)
    var text: [UInt8] = []
    func row(_ kind: String, _ fill: (inout JSONObjectWriter) -> Void) {
        var o = JSONObjectWriter()
        o.field("kind", kind)
        o.field("schema", 1)
        o.field("run_id", runId)
        o.field("collector", collector)
        o.field("received_at", Timestamp(microseconds: startedAt.microseconds + 5000).iso8601)
        fill(&o)
        text += o.line
    }
    for i in 0..<books {
        row("book") {
            $0.field("series", "5m")
            $0.field("slug", "btc-updown-5m-1")
            $0.field("token_id", "t\(i)")
            $0.field("outcome", i == 0 ? "Up" : "Down")
            let book = Array(#"{"bids":[{"price":"0.50","size":"1"}]}"#.utf8)
            $0.field("book", raw: book, 0..<book.count)
        }
    }
    for kind in failures {
        row("failure") { $0.field("stage", "books"); $0.field("error_kind", kind) }
    }
    row("run") {
        $0.field("started_at", startedAt.iso8601)
        $0.field("outcome", outcome)
    }
    return ("\(startedAt.compact)_\(collector)_\(runId).jsonl.gz", try! Gzip.compress(text))
}

package struct SealFixture {
    package let scratch: String
    package var data: String { scratch + "/data" }

    package init() {
        var template = Array("/tmp/orderbooks-sealunit-XXXXXX".utf8CString)
        scratch = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        try! DurableFile.makeDirectories(data + "/spool")
    }

    package func remove() { _ = system("rm -rf '\(scratch)'") }

    @discardableResult
    package func add(_ file: (name: String, bytes: [UInt8])) -> String {
        let path = data + "/spool/" + file.name
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o640)
        _ = file.bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        return file.name
    }

    package func seal(minutes: Int = 1, flush: Bool = false) -> OrderbooksCore.ExitStatus {
        SealRun(configuration: SealConfiguration(dataDirectory: data, segmentMinutes: minutes, graceSeconds: 5, snapInterval: 1,
                                                 flush: flush, waitForLock: true, command: ["seal"]), log: Log(environment: [:])).run()
    }

    package func names(_ sub: String) -> [String] { DataDirectory.names(in: data + "/" + sub) ?? [] }

    /// Every line of every segment, in order.
    package func sealedLines(_ window: SealWindow) throws -> [[UInt8]] {
        var lines: [[UInt8]] = []
        for name in names("sealed/" + window.dayDirectory) where window.part(ofFileNamed: name)?.isManifest == false {
            _ = try GzipLines.read(data + "/sealed/" + window.dayDirectory + "/" + name) { lines.append($0) }
        }
        return lines
    }

    package func manifest(_ window: SealWindow, part: Int) throws -> Manifest {
        try Manifest(decoding: try DurableFile.read(data + "/sealed/" + window.dayDirectory + "/" + window.partName(part) + SealWindow.manifestSuffix) ?? [])
    }
}
