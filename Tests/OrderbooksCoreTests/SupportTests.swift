import Glibc
import Testing
@testable import OrderbooksCore

@Suite struct GzipAndDigestTests {
    @Test func roundTripsAndReadsMultipleMembers() throws {
        let a = Array("hello\n".utf8), b = Array(String(repeating: "book ", count: 10_000).utf8)
        let gz = try Gzip.compress(a) + Gzip.compress(b)
        #expect(gz[0] == 0x1F && gz[1] == 0x8B)
        #expect(try Gzip.decompress(gz) == a + b)
    }

    @Test func detectsTruncatedFiles() throws {
        let gz = try Gzip.compress(Array(String(repeating: "x", count: 5000).utf8))
        #expect(throws: GzipError.self) { try Gzip.decompress(Array(gz.dropLast(9))) }
        #expect(throws: GzipError.self) { try Gzip.decompress([]) }
    }

    @Test func sha256MatchesTheStandardVector() {
        #expect(Digest.sha256Hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}

@Suite struct DurableFileTests {
    let root = "/tmp/orderbooks-unit-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"

    @Test func createsNeverReplacesAndLeavesNoTemporaryFile() throws {
        let dir = DataDirectory(root: root)
        try dir.prepare()
        defer { _ = system("rm -rf '\(root)'") }
        let path = dir.spool + "/a.jsonl.gz"
        try DurableFile.create([1, 2, 3], at: path, temporaryDirectory: dir.temporary)
        #expect(try DurableFile.read(path) == [1, 2, 3])
        #expect(throws: FileError.self) { try DurableFile.create([9], at: path, temporaryDirectory: dir.temporary) }
        #expect(try DurableFile.read(path) == [1, 2, 3])
        try DurableFile.replace([4], at: dir.cache + "/c", temporaryDirectory: dir.temporary)
        try DurableFile.replace([5], at: dir.cache + "/c", temporaryDirectory: dir.temporary)
        #expect(try DurableFile.read(dir.cache + "/c") == [5])
        #expect(try DurableFile.read(dir.cache + "/missing") == nil)
        #expect(dir.removeStaleTemporaryFiles(olderThan: 0, now: Timestamp(seconds: Timestamp.now().seconds + 10)) == 0)
    }

    @Test func removesOnlyStaleTemporaryFiles() throws {
        let dir = DataDirectory(root: root)
        try dir.prepare()
        defer { _ = system("rm -rf '\(root)'") }
        for name in ["old.part", "new.part", "keep.txt"] {
            try DurableFile.replace([0], at: dir.cache + "/x", temporaryDirectory: dir.temporary)
            #expect(rename(dir.cache + "/x", dir.temporary + "/" + name) == 0)
        }
        var times = [timespec(tv_sec: 1_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, dir.temporary + "/old.part", &times, 0) == 0)
        #expect(utimensat(AT_FDCWD, dir.temporary + "/keep.txt", &times, 0) == 0)
        #expect(dir.removeStaleTemporaryFiles(olderThan: 900, now: Timestamp.now()) == 1)
        #expect(access(dir.temporary + "/new.part", F_OK) == 0)
        #expect(access(dir.temporary + "/keep.txt", F_OK) == 0)
    }

    @Test func makeDirectoriesRefusesAFile() throws {
        try DurableFile.makeDirectories(root + "/a/b")
        defer { _ = system("rm -rf '\(root)'") }
        try DurableFile.replace([0], at: root + "/a/f", temporaryDirectory: root + "/a/b")
        #expect(throws: FileError.self) { try DurableFile.makeDirectories(root + "/a/f") }
    }
}
