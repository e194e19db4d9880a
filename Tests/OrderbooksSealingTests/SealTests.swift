import Glibc
import Testing
@testable import OrderbooksCore
@testable import OrderbooksSealing
import TestSupport

private func lines(_ file: (name: String, bytes: [UInt8])) throws -> [[UInt8]] {
    try Gzip.decompress(file.bytes).split(separator: 0x0A).map(Array.init)
}

@Suite struct SealTests {
    // Two hours ago, on a whole minute: long closed.
    let base = Timestamp(seconds: (Timestamp.now().seconds - 7200) / 60 * 60)
    func at(_ seconds: Double) -> Timestamp { Timestamp(microseconds: base.microseconds + Int64(seconds * 1_000_000)) }

    @Test func sealsEachClosedWindowOnceInTimeOrderAndLeavesTheOpenOne() throws {
        let f = SealFixture()
        defer { f.remove() }
        let files = (0..<90).map { snapshot(startedAt: at(Double($0))) }.shuffled()
        for file in files { f.add(file) }
        let open = f.add(snapshot(startedAt: Timestamp.now()))
        #expect(f.seal() == .complete)
        #expect(f.names("spool") == [open])
        for (minute, range) in [(0, 0..<60), (1, 60..<90)] {
            let window = SealWindow(containing: at(Double(minute * 60)), minutes: 1, collector: "c1")
            let expected = try files.sorted { $0.name < $1.name }.filter { range.contains(Int(SnapshotName($0.name)!.startedAt.seconds - base.seconds)) }
                .flatMap(lines)
            #expect(try f.sealedLines(window) == expected)
            let m = try f.manifest(window, part: 1)
            #expect(m.sources.map(\.name) == m.sources.map(\.name).sorted() && m.sources.count == range.count)
            #expect(m.files[0].rows == range.count * 3 && m.rowsByKind.filter { $0.value > 0 } == ["book": range.count * 2, "run": range.count])
            #expect(SegmentCheck.problems(segmentPath: f.data + "/sealed/" + window.dayDirectory + "/" + m.files[0].name, manifest: m).isEmpty)
        }
        // Nothing new: nothing happens.
        #expect(f.seal() == .complete)
        #expect(f.names("sealed/" + SealWindow(containing: base, minutes: 1, collector: "c1").dayDirectory).count == 4)
        // --flush seals the open window too.
        #expect(f.seal(flush: true) == .complete)
        #expect(f.names("spool").isEmpty)
    }

    @Test func lateRowsGoToAnotherPartAndSealedFilesStayUntouched() throws {
        let f = SealFixture()
        defer { f.remove() }
        let window = SealWindow(containing: base, minutes: 1, collector: "c1")
        f.add(snapshot(startedAt: at(1)))
        #expect(f.seal() == .complete)
        let segment = f.data + "/sealed/" + window.dayDirectory + "/" + window.partName(1) + SealWindow.segmentSuffix
        let before = try DurableFile.read(segment)
        f.add(snapshot(startedAt: at(2)))
        #expect(f.seal() == .complete)
        #expect(try DurableFile.read(segment) == before)
        #expect(try f.manifest(window, part: 2).sources.count == 1)
        #expect(try f.sealedLines(window).count == 6)
    }

    @Test func coverageAndGapsFollowTheRuns() throws {
        let f = SealFixture()
        defer { f.remove() }
        // Seconds 0-9 complete, 10-14 nothing, 15-17 failed (connect), 18 partial, 19 backoff, 20-59 complete.
        for s in 0..<10 { f.add(snapshot(startedAt: at(Double(s) + 0.01))) }
        for s in 15..<18 { f.add(snapshot(startedAt: at(Double(s) + 0.01), outcome: "failed", failures: ["connect"], books: 0)) }
        f.add(snapshot(startedAt: at(18.01), outcome: "partial", failures: ["timeout"]))
        f.add(snapshot(startedAt: at(19.01), outcome: "backoff", failures: ["backoff"], books: 0))
        for s in 20..<60 { f.add(snapshot(startedAt: at(Double(s) + 0.01))) }
        #expect(f.seal() == .complete)
        let text = String(decoding: try DurableFile.read(f.data + "/sealed/" + SealWindow(containing: base, minutes: 1, collector: "c1").dayDirectory
                                                          + "/" + SealWindow(containing: base, minutes: 1, collector: "c1").partName(1) + ".manifest.json") ?? [], as: UTF8.self)
        let manifest = try JSON.parse(text)
        #expect(manifest["slots_expected"] == .number("60") && manifest["slots_covered"] == .number("51") && manifest["slots_complete"] == .number("50"))
        #expect(manifest["coverage"] == .number("0.850000"))
        let gaps = manifest["gaps"]?.array ?? []
        #expect(gaps.map { $0["reason"]?.string ?? "" } == ["no run", "connect", "backoff"])
        #expect(gaps.map { $0["runs"] } == [.number("0"), .number("3"), .number("1")])
        #expect(gaps.first?["start"]?.string == at(10).iso8601 && gaps.first?["end"]?.string == at(15).iso8601)
        #expect(manifest["runs"] == .object([JSONMember(key: "complete", value: .number("50")), JSONMember(key: "partial", value: .number("1")),
                                             JSONMember(key: "failed", value: .number("3")), JSONMember(key: "backoff", value: .number("1")),
                                             JSONMember(key: "total", value: .number("55"))]))
        let market = manifest["markets"]?.array?.first
        #expect(market?["slug"]?.string == "btc-updown-5m-1" && market?["tokens"]?.array?.count == 2 && market?["books"] == .number("102"))
    }

    /// Coverage stops at `until` (a window sealed while still open): the last slot is cut there,
    /// and so is the gap that holds it.
    @Test func theLastGapEndsWhereCoverageEnds() {
        var summary = SegmentSummary()
        summary.beginSource(startedAt: at(0.01))
        summary.endSource()
        let coverage = summary.coverage(from: at(0), until: at(4.5), interval: 1)
        #expect(coverage.slotsExpected == 5 && coverage.slotsCovered == 0)
        #expect(coverage.gaps.map(\.start) == [at(0), at(1)] && coverage.gaps.map(\.end) == [at(1), at(4.5)])
        #expect(coverage.gaps.map(\.reason) == ["damaged file", "no run"])
    }

    @Test func damagedFilesAreQuarantinedWithTheirReadableRowsSalvaged() throws {
        let f = SealFixture()
        defer { f.remove() }
        let good = snapshot(startedAt: at(1))
        f.add(good)
        var truncated = snapshot(startedAt: at(2), books: 200)
        truncated.bytes = Array(truncated.bytes.prefix(truncated.bytes.count / 2))
        f.add(truncated)
        let junk = snapshot(startedAt: at(3))
        f.add((junk.name, try Gzip.compress(Array(try Gzip.decompress(junk.bytes).dropLast()) + Array("\n{oops\n".utf8))))
        f.add((snapshot(startedAt: at(4)).name, Array("not gzip at all".utf8)))
        f.add((snapshot(startedAt: at(5)).name, good.bytes + [0, 0, 0]))  // trailing garbage after the member
        f.add(("README", Array("hello".utf8)))
        #expect(f.seal() == .partial)
        #expect(f.names("spool").isEmpty)
        let window = SealWindow(containing: base, minutes: 1, collector: "c1")
        let m = try f.manifest(window, part: 1)
        #expect(m.sources.count == 1 && m.quarantined.count == 4)
        #expect(m.quarantined.map { $0.rowsSalvaged } == [m.quarantined[0].rowsSalvaged, 3, 0, 3] && m.quarantined[0].rowsSalvaged > 0)
        #expect(m.quarantined[0].reason.contains("truncated") && m.quarantined[1].reason.contains("line 4"))
        #expect(f.names("quarantine").count == 10 && f.names("quarantine").contains("README.reason.json"))
        #expect(try f.sealedLines(window).count == m.files[0].rows)
        #expect(SegmentCheck.problems(segmentPath: f.data + "/sealed/" + window.dayDirectory + "/" + m.files[0].name, manifest: m).isEmpty)
    }

    @Test func anInterruptedSealIsFinishedOrRedoneNeverDuplicated() throws {
        let f = SealFixture()
        defer { f.remove() }
        let window = SealWindow(containing: base, minutes: 1, collector: "c1")
        let files = (0..<20).map { snapshot(startedAt: at(Double($0))) }
        for file in files { f.add(file) }
        #expect(f.seal() == .complete)
        let day = f.data + "/sealed/" + window.dayDirectory + "/"
        let segment = try DurableFile.read(day + window.partName(1) + SealWindow.segmentSuffix)
        let expected = try f.sealedLines(window)

        // Killed after the manifest, before the spool was cleaned: the next run only cleans.
        for file in files.prefix(7) { f.add(file) }
        #expect(f.seal() == .complete)
        #expect(f.names("spool").isEmpty && f.names("sealed/" + window.dayDirectory).count == 2)

        // Killed between the segment and its manifest: the segment goes, the part is made again.
        _ = unlink(day + window.partName(1) + SealWindow.manifestSuffix)
        for file in files { f.add(file) }
        #expect(f.seal() == .complete)
        #expect(try DurableFile.read(day + window.partName(1) + SealWindow.segmentSuffix) == segment)
        #expect(try f.sealedLines(window) == expected)

        // A part that no longer matches its manifest keeps the files it claims.
        let broken = day + window.partName(1) + SealWindow.segmentSuffix
        chmod(broken, 0o644)
        let fd = open(broken, O_WRONLY)
        _ = pwrite(fd, [0x00], 1, 100)
        close(fd)
        f.add(files[0])
        #expect(f.seal() == .checkFailed)
        #expect(f.names("spool") == [files[0].name])
    }
}

@Suite struct SealEdgeTests {
    let base = Timestamp(seconds: (Timestamp.now().seconds - 7200) / 3600 * 3600)
    func at(_ seconds: Double) -> Timestamp { Timestamp(microseconds: base.microseconds + Int64(seconds * 1_000_000)) }

    @Test func aChangedSegmentLengthNeverSealsARowTwice() throws {
        let f = SealFixture()
        defer { f.remove() }
        let files = (0..<4).map { snapshot(startedAt: at(Double($0 * 600))) }
        for file in files { f.add(file) }
        #expect(f.seal(minutes: 60) == .complete)
        // Killed before the spool was cleaned; the next run uses 30-minute windows.
        for file in files { f.add(file) }
        #expect(f.seal(minutes: 30) == .complete)
        #expect(f.names("spool").isEmpty)
        let day = f.names("sealed/" + SealWindow(containing: base, minutes: 60, collector: "c1").dayDirectory)
        #expect(day.filter { $0.hasSuffix(".jsonl.gz") }.count == 1, "\(day)")
    }

    @Test func anUnreadableSpoolFileDoesNotHoldUpItsWindow() throws {
        let f = SealFixture()
        defer { f.remove() }
        f.add(snapshot(startedAt: at(1)))
        let blocker = snapshot(startedAt: at(2)).name
        #expect(mkdir(f.data + "/spool/" + blocker, 0o750) == 0)
        #expect(f.seal() == .partial)
        #expect(f.names("spool").isEmpty)
        #expect(f.names("quarantine").contains(blocker))
        // Not a regular file: set aside unread, like a name that is not snap's, in no manifest.
        let m = try f.manifest(SealWindow(containing: base, minutes: 1, collector: "c1"), part: 1)
        #expect(m.sources.count == 1 && m.quarantined.isEmpty)
        let reason = String(decoding: try DurableFile.read(f.data + "/quarantine/" + blocker + ".reason.json") ?? [], as: UTF8.self)
        #expect(reason.contains("not a regular file (a directory)"), "\(reason)")
    }

    @Test func aNewFileUnderASealedNameIsSealedAgainAndQuarantineNeverOverwrites() throws {
        let f = SealFixture()
        defer { f.remove() }
        let window = SealWindow(containing: base, minutes: 1, collector: "c1")
        let original = snapshot(startedAt: at(1))
        f.add((original.name, Array(original.bytes.prefix(20))))  // truncated: quarantined
        #expect(f.seal() == .partial)
        f.add(original)  // the intact file turns up under the same name
        #expect(f.seal() == .complete)
        #expect(try f.manifest(window, part: 2).sources.map(\.name) == [original.name])
        f.add((original.name, Array("junk".utf8)))  // and a third, damaged, one
        #expect(f.seal() == .partial)
        #expect(f.names("quarantine") == [original.name, original.name + ".1", original.name + ".1.reason.json", original.name + ".reason.json"])
        #expect(try DurableFile.read(f.data + "/quarantine/" + original.name) == Array(original.bytes.prefix(20)))
    }

    @Test func aPartWithNothingReadableIsStillAValidSegment() throws {
        let f = SealFixture()
        defer { f.remove() }
        f.add((snapshot(startedAt: at(1)).name, []))
        #expect(f.seal() == .partial)
        let window = SealWindow(containing: base, minutes: 1, collector: "c1")
        let m = try f.manifest(window, part: 1)
        #expect(m.files[0].rows == 0 && m.quarantined.count == 1)
        #expect(SegmentCheck.problems(segmentPath: f.data + "/sealed/" + window.dayDirectory + "/" + m.files[0].name, manifest: m).isEmpty)
        let text = String(decoding: try DurableFile.read(f.data + "/sealed/" + window.dayDirectory + "/" + window.partName(1) + ".manifest.json") ?? [], as: UTF8.self)
        #expect(text.contains(#""reason":"damaged file""#))
    }
}

@Suite struct SealPartsTests {
    /// A snapshot belongs to the window its start falls in, to the microsecond: the last instant
    /// before a boundary (however close) is in the earlier window, the boundary in the next.
    @Test(arguments: [1, 5, 15, 60, 1440])
    func windowsSplitExactlyAtTheirBoundaries(minutes: Int) {
        let boundary = Timestamp.parse("2026-11-22T00:00:00Z")!  // a boundary of every length
        for before in [1, 300_000, 500_000, 999_999, 60_000_000] where before <= minutes * 60_000_000 {
            let window = SealWindow(containing: Timestamp(microseconds: boundary.microseconds - Int64(before)), minutes: minutes, collector: "c1")
            #expect(window.end == boundary, "\(before) µs before the boundary")
        }
        for after in [0, 1, 500_000, 999_999] {
            let window = SealWindow(containing: Timestamp(microseconds: boundary.microseconds + Int64(after)), minutes: minutes, collector: "c1")
            #expect(window.start == boundary, "\(after) µs after the boundary")
        }
    }

    @Test func namesRoundTrip() {
        let t = Timestamp.parse("2026-11-21T19:59:39.359Z")!
        #expect(Timestamp(compact: t.compact) == t)
        #expect(Timestamp(compact: "20261321T195939.359Z") == nil)
        let name = SnapshotName("20261121T195939.359Z_vps-1_3efe50f5ab12dbf5.jsonl.gz")
        #expect(name?.collector == "vps-1" && name?.runId == "3efe50f5ab12dbf5" && name?.startedAt == t)
        #expect(SnapshotName("20261121T195939.359Z_vps_1_3efe50f5ab12dbf5.jsonl.gz") == nil)
        let window = SealWindow(containing: t, minutes: 60, collector: "vps-1")
        #expect(window.baseName == "20261121T1900Z_60m_vps-1" && window.dayDirectory == "2026/11/21")
        #expect(window.end == Timestamp.parse("2026-11-21T20:00:00Z"))
        #expect(window.part(ofFileNamed: "20261121T1900Z_60m_vps-1_part12.manifest.json")! == (12, true))
        #expect(window.part(ofFileNamed: "20261121T1900Z_60m_vps-1_part1.jsonl.gz")! == (1, false))
        #expect(window.part(ofFileNamed: "20261121T1900Z_60m_vps-1_part01.jsonl.gz") == nil)
        #expect(window.part(ofFileNamed: "20261121T1900Z_60m_vps-10_part1.jsonl.gz") == nil)
    }

    @Test func inflaterReadsMembersAndRejectsDamage() throws {
        let a = try Gzip.compress(Array("one\n".utf8)), b = try Gzip.compress(Array("two\n".utf8))
        func inflate(_ bytes: [UInt8], piece: Int) throws(GzipError) -> [UInt8] {
            let inflater = GzipInflater()
            var out: [UInt8] = []
            var i = 0
            while i < bytes.count {
                let end = min(i + piece, bytes.count)
                var failure: GzipError?
                bytes[i..<end].withUnsafeBytes { buffer in
                    do throws(GzipError) { try inflater.feed(buffer) { out += $0; return true } } catch { failure = error }
                }
                if let failure { throw failure }
                i = end
            }
            try inflater.finish()
            return out
        }
        for piece in [1, 3, 1000] { #expect(try inflate(a + b, piece: piece) == Array("one\ntwo\n".utf8)) }
        #expect(throws: GzipError.self) { try inflate(Array((a + b).dropLast(3)), piece: 7) }
        #expect(throws: GzipError.self) { try inflate(a + [0x1f], piece: 7) }
        #expect(throws: GzipError.self) { try inflate(a + Array("junk".utf8), piece: 7) }
        #expect(throws: GzipError.self) { try inflate([], piece: 7) }
    }
}

/// Issue 9 §6: what the data directory holds is read only when it is a regular file, and only
/// so far.
@Suite struct HostileFileTests {
    let base = Timestamp(seconds: (Timestamp.now().seconds - 7200) / 60 * 60)
    func at(_ seconds: Double) -> Timestamp { Timestamp(microseconds: base.microseconds + Int64(seconds * 1_000_000)) }

    @Test func onlyRegularFilesAreOpenedAndNeverThroughALink() throws {
        let f = SealFixture()
        defer { f.remove() }
        let fifo = f.data + "/fifo", link = f.data + "/zero", dir = f.data + "/dir", big = f.data + "/big"
        #expect(mkfifo(fifo, 0o640) == 0 && symlink("/dev/zero", link) == 0 && mkdir(dir, 0o750) == 0)
        // Each of these used to block (the FIFO) or read forever (/dev/zero).
        for (path, words) in [(fifo, "not a regular file (a FIFO)"), (link, "a symbolic link"), (dir, "not a regular file (a directory)")] {
            #expect { _ = try DurableFile.read(path) } throws: { "\($0)".contains(words) }
            #expect(GzipLines.read(path) { _ in }.readError.map { "\($0)".contains(words) } == true)
        }
        try DurableFile.create(Array(repeating: 0x41, count: 2000), at: big, temporaryDirectory: f.data)
        #expect { _ = try DurableFile.read(big, maxBytes: 1000) } throws: { ($0 as? FileError)?.code == EFBIG }
        #expect(try DurableFile.read(big, maxBytes: 2000)?.count == 2000)
        #expect(try DurableFile.read(f.data + "/nothing") == nil)
    }

    @Test func aLockFileMustBeARegularFile() throws {
        let f = SealFixture()
        defer { f.remove() }
        #expect(symlink(f.data + "/elsewhere", f.data + "/link.lock") == 0)
        #expect(throws: FileError.self) { _ = try FileLock(exclusive: f.data + "/link.lock", wait: false) }
        #expect(access(f.data + "/elsewhere", F_OK) != 0, "the lock created a file through a link")
        #expect(mkfifo(f.data + "/fifo.lock", 0o640) == 0)
        #expect(throws: FileError.self) { _ = try FileLock(exclusive: f.data + "/fifo.lock", wait: true) }
        #expect(try FileLock(exclusive: f.data + "/plain.lock", wait: false) != nil)
    }

    @Test func aLineLongerThanTheMaximumStopsTheReading() throws {
        let f = SealFixture()
        defer { f.remove() }
        let row = Array(#"{"kind":"book"}"#.utf8) + [0x0A]
        let text = row + Array(repeating: 0x61, count: LineSplitter.maxLineBytes + 1) + [0x0A] + row
        let path = f.data + "/long.jsonl.gz"
        try DurableFile.create(try Gzip.compress(text), at: path, temporaryDirectory: f.data)
        var lines = 0
        let result = GzipLines.read(path) { _ in lines += 1 }
        #expect(lines == 1 && result.gzipError == nil && result.limitExceeded?.contains("line 2 is longer than") == true, "\(result)")
        // A line of exactly the maximum is a line.
        var splitter = LineSplitter(maxLength: 4)
        var got: [[UInt8]] = []
        Array("abcd\nabcde\nx\n".utf8).withUnsafeBytes { splitter.feed($0) { got.append($0) } }
        #expect(got == [Array("abcd".utf8)] && splitter.overlong)
        let inflated = GzipLines.read(path, maxInflatedBytes: 100) { _ in }
        #expect(inflated.limitExceeded?.contains("more than 100 bytes of text") == true)
    }

    @Test func aLinePastTheMostLinesStopsTheReading() throws {
        var splitter = LineSplitter(maxLines: 2)
        var got: [[UInt8]] = []
        Array("a\nb\n\n\n\nc".utf8).withUnsafeBytes { splitter.feed($0) { got.append($0) } }
        #expect(got == [Array("a".utf8), Array("b".utf8)] && splitter.tooMany && splitter.remainder.isEmpty)
        // Exactly the most lines, then an unterminated tail: no limit passed.
        var exact = LineSplitter(maxLines: 2)
        Array("a\nb\nc".utf8).withUnsafeBytes { exact.feed($0) { _ in } }
        #expect(!exact.tooMany && exact.lines == 2 && exact.remainder == Array("c".utf8))
    }

    @Test func rowMembersThatCannotBeSealsAreSkippedNotBuilt() throws {
        let huge = "[" + Array(repeating: "0", count: 100_000).joined(separator: ",") + "]"
        guard case .success(let row) = RowFields.read(Array(#"{"kind":"market","slug":\#(huge),"tokens":\#(huge),"x":1}"#.utf8)) else {
            Issue.record("not read as a row")
            return
        }
        #expect(row.kind == "market" && row["slug"] == nil && row.tokens.isEmpty && row.members.count == 1)
        guard case .success(let market) = RowFields.read(Array(#"{"kind":"market","slug":"s","tokens":[{"token_id":"1","outcome":"Up"}]}"#.utf8)) else {
            Issue.record("not read as a row")
            return
        }
        #expect(market["slug"] == "s" && market.tokens.map(\.tokenId) == ["1"])
        for junk in ["[1]", "{\"kind\":1}", "{\"kind\":\"run\"} x", "{\"kind\":\"run\",}", "\"s\""] {
            guard case .failure = RowFields.read(Array(junk.utf8)) else { Issue.record("\(junk) read as a row"); continue }
        }
    }

    @Test func namesThatAreNotUTF8AreListedApartAndQuarantinedByTheirBytes() throws {
        let f = SealFixture()
        defer { f.remove() }
        f.add(snapshot(startedAt: at(1)))
        // A snapshot name but for one byte in the collector: String(cString:) made it
        // `c\u{FFFD}`, a name no open finds, claimed by an empty part on every run.
        let raw = Array("20261121T193605.123Z_c".utf8) + [0xFF] + Array("_0123456789abcdef.jsonl.gz".utf8)
        let path = Array((f.data + "/spool/").utf8) + raw + [0]
        let fd = path.withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_WRONLY | O_CREAT, 0o640) } }
        #expect(fd >= 0)
        close(fd)
        let listing = try #require(DataDirectory.listing(f.data + "/spool"))
        #expect(listing.names.count == 1 && listing.undecodable == [raw])
        #expect(f.seal() == .partial)
        #expect(f.names("spool").isEmpty && DataDirectory.listing(f.data + "/spool")?.undecodable.isEmpty == true)
        let kept = DataDirectory.quarantineName(forSpoolName: raw)
        #expect(kept.hasPrefix("20261121T193605.123Z_c?_") && f.names("quarantine") == [kept, kept + ".reason.json"])
        let reason = String(decoding: try DurableFile.read(f.data + "/quarantine/" + kept + ".reason.json") ?? [], as: UTF8.self)
        #expect(reason.contains(Digest.hex(raw)) && reason.contains("not valid UTF-8"))
        #expect(f.seal() == .complete)
    }

    @Test func aLongCollectorNeverMakesANameTooLong() throws {
        let f = SealFixture()
        defer { f.remove() }
        // 208 bytes of collector: the longest a spool name can hold. The part's temporary
        // names and the quarantine's reason file are longer still, unless cut.
        let collector = String(repeating: "k", count: 208)
        f.add(snapshot(startedAt: at(1), collector: collector))
        let damaged = snapshot(startedAt: at(2), collector: collector)
        f.add((damaged.name, Array(damaged.bytes.prefix(30))))
        #expect(f.seal() == .partial)
        #expect(f.names("spool").isEmpty)
        let kept = DataDirectory.quarantineName(forSpoolName: Array(damaged.name.utf8))
        #expect(f.names("quarantine") == [kept, kept + ".reason.json"])
        let m = try f.manifest(SealWindow(containing: base, minutes: 1, collector: collector), part: 1)
        #expect(m.sources.count == 1 && m.quarantined.count == 1)
    }
}
