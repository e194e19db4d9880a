import Testing
@testable import OrderbooksCore
@testable import OrderbooksShipping

/// The pure parts of `ship check`: how a listing's verdict becomes a category, and what a remote
/// file no record accounts for is taken for.
@Suite struct ShipCheckLogicTests {
    @Test func verdictsBecomeCategories() {
        func category(_ status: RemoteCheck.Status, copies: Int = 1) -> ShipCheck.Category {
            var check = RemoteCheck(status: status)
            check.copies = copies
            return ShipCheck.Category(check)
        }
        #expect(category(.verified) == .intact)
        #expect(category(.verified, copies: 2) == .identicalCopies)
        #expect(category(.missing, copies: 0) == .missing)
        #expect(category(.sizeMismatch) == .changed && category(.hashMismatch) == .changed)
        #expect(category(.duplicate, copies: 2) == .duplicated)
        // Not known to be bad: a failed listing or a missing hash is never a reason to demote.
        #expect(category(.notChecked) == .unchecked && category(.noHash) == .unchecked)
        #expect([ShipCheck.Category.missing, .changed, .duplicated].allSatisfy { $0.isProblem })
        #expect(![ShipCheck.Category.intact, .identicalCopies, .unchecked].contains { $0.isProblem })
    }

    /// ship's own probe is not unknown, nor another collector's part; a part of a collector of
    /// ours that no receipt names is (a data directory moved without its receipts).
    @Test func straysAreToldApart() {
        let ours: Set<String> = ["vps-1"]
        #expect(ShipCheck.stray(".orderbooks-probe-0123456789abcdef-w", collectors: ours) == .probe)
        #expect(ShipCheck.stray("20261121T1900Z_60m_vps-2_part1.jsonl.gz", collectors: ours) == .otherCollector("vps-2"))
        #expect(ShipCheck.stray("20261121T1900Z_60m_vps-2_part1.manifest.json", collectors: ours) == .otherCollector("vps-2"))
        #expect(ShipCheck.stray("20261121T1900Z_60m_vps-1_part1.jsonl.gz", collectors: ours) == .unknown)
        #expect(ShipCheck.stray("20261121T1900Z_60m_vps-2_part1.jsonl.gz.bak", collectors: ours) == .unknown)
        #expect(ShipCheck.stray("notes.txt", collectors: ours) == .unknown)
        #expect(ShipCheck.stray("20261121T1900Z_60m_vps-2_part1.jsonl.gz", collectors: []) == .otherCollector("vps-2"))
    }

    /// A prune record reads back as the files it deleted, roles told by the name; anything else
    /// is refused rather than audited as nothing.
    @Test func pruneRecordsReadBack() throws {
        let record = #"""
            {"kind":"pruned","schema":1,"part":"p_part1","files":[
             {"name":"p_part1.jsonl.gz","deleted":"/d/sealed/2026/11/21/p_part1.jsonl.gz","bytes":10,"sha256":"aa","md5":"bb","remote_copies":1},
             {"name":"p_part1.manifest.json","deleted":"/d/x","bytes":7,"sha256":"cc","md5":"dd"}]}
            """#
        let files = try ShipPrune.recordedFiles(Array(record.utf8), directory: "2026/11/21")
        #expect(files == [ShippedFile(role: .segment, directory: "2026/11/21", name: "p_part1.jsonl.gz", bytes: 10, sha256: "aa", md5: "bb"),
                          ShippedFile(role: .manifest, directory: "2026/11/21", name: "p_part1.manifest.json", bytes: 7, sha256: "cc", md5: "dd")])
        #expect(throws: (any Error).self) { try ShipPrune.recordedFiles(Array(#"{"kind":"receipt","files":[]}"#.utf8), directory: "2026/11/21") }
        #expect(throws: (any Error).self) { try ShipPrune.recordedFiles(Array(#"{"kind":"pruned","files":[{"name":"x","bytes":"1"}]}"#.utf8), directory: "d") }
    }
}
