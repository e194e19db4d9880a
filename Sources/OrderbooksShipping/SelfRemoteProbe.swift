import Glibc
import OrderbooksCore

/// Proves the remote is not the data directory itself, whatever its spelling: `:local:<D>/sealed`,
/// a config remote of `type = local`, an alias, a union, a symlink or bind mount, an sftp server
/// on this host. A remote that is the data directory "verifies" every file against itself, and
/// prune would then delete the only copy; only where files really land can tell.
///
/// Two probes, each for every day directory the run touches, since a remote may map one day
/// folder differently from its root (a symlinked day, a union):
/// - written: a file with a unique name sent through rclone (`rcat`) to `<remote>/<day>/`, then
///   looked for in the data directory (a walk that never follows a link or opens a file), then
///   deleted (`deletefile`). A remote that renames what it stores (crypt encrypts or obfuscates
///   names) hides the name, so the walk also notes every file's (device, inode): a file that
///   appears in the data directory after the write and goes with the delete was the probe;
/// - read: a file with another unique name put in `sealed/<day>/` before the run's listings of
///   `<remote>/<day>`, which must not show it: a remote whose listing is the data directory
///   would prove our files by themselves;
/// - seen: a listing of `<remote>/<day>` taken while the written probe is there must show it. A
///   listing that cannot show a file just written (a filter, an age or size limit, a union
///   whose writes go elsewhere than its reads) could hide the read probe too, or a manifest.
/// Cost: three rclone calls per day directory (one day in a normal ship run), and three walks
/// of the data directory's entries. The probes are dot files, which seal and ship never take for
/// parts, and hold the run's token, like any small file ship could send.
struct SelfRemoteProbe {
    static let prefix = ".orderbooks-probe-"

    let directory: DataDirectory
    let days: [String]
    let token: String

    init(directory: DataDirectory, days: some Sequence<String>) {
        self.directory = directory
        self.days = Set(days).sorted()
        var generator = SystemRandomNumberGenerator()
        token = (0..<2).map { _ in String(generator.next() as UInt64, radix: 16) }.joined()
    }

    var writtenName: String { Self.prefix + token + "-w" }
    /// Watched for in every listing of the run (RemoteSession.watch).
    var readName: String { Self.prefix + token + "-r" }

    /// Puts the read probe in each day directory (and removes probes a killed run left), then
    /// sends the written probe and looks for it. Throws when the remote is the data directory
    /// (configuration) or when it cannot be proved otherwise (a failed rcat, an unwritable
    /// day directory): never "not the same" on a failure.
    func begin(_ session: RemoteSession) async throws(RemoteSession.Failure) {
        for day in days {
            let folder = directory.sealed + "/" + day
            for name in Self.names(in: folder) where name.starts(with: Array(Self.prefix.utf8)) { _ = Self.at(folder, name) { unlinkat(AT_FDCWD, $0, 0) } }
            let path = folder + "/" + readName
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            var content = Array((token + "\n").utf8)
            guard fd >= 0, write(fd, &content, content.count) == content.count else {
                let message = "cannot create \(path), the probe that tells the remote from the data directory: " + String(cString: strerror(errno))
                if fd >= 0 { close(fd) }
                throw RemoteSession.Failure(kind: .cannotWrite, message: message)
            }
            close(fd)
        }
        session.watch(readName)
        let before = survey()
        var failure: RemoteSession.Failure?
        var sent: [String] = []
        for day in days {
            do throws(RemoteSession.Failure) {
                try await session.write(token, to: day + "/" + writtenName)
                sent.append(day)
            } catch {
                // It may have landed all the same: looked for below, and a landing decides.
                failure = error
                sent.append(day)
                break
            }
        }
        let written = survey()
        let landed = written.named
        var unseen: String?
        if failure == nil && landed.isEmpty {
            do throws(RemoteSession.Failure) { unseen = try await firstDayNotShowing(session) } catch { failure = error }
        }
        var deleted = true
        for day in sent {
            do throws(RemoteSession.Failure) { try await session.deleteFile(day + "/" + writtenName) } catch {
                deleted = false
                failure = failure ?? error
            }
        }
        // New files that the delete took away: the probe, under a name the remote gave it.
        let after = deleted ? survey() : Survey()
        let vanished = deleted ? Set(written.files.keys).subtracting(before.files.keys).filter { after.files[$0] == nil } : []
        if landed.isEmpty, let renamed = vanished.first.flatMap({ written.files[$0] }) {
            throw RemoteSession.Failure(kind: .configuration, message: "the remote \(session.shown("")) is the data directory \(directory.root): "
                                        + "a file written to it appeared at \(renamed), under another name (a remote that renames or "
                                        + "encrypts, such as crypt), and went with its deletion. Refused: ship would verify files against "
                                        + "themselves and prune would delete the only copy. Choose a remote that is not this directory.")
        }
        if let unseen {
            throw RemoteSession.Failure(kind: .configuration, message: "a file ship wrote to \(session.shown(unseen)) does not appear in the remote's "
                                        + "listing of that folder: rclone is set to hide files (a filter, an age or size limit) or the remote "
                                        + "writes elsewhere than it lists (a union). Refused: ship could not see another part's files, nor tell "
                                        + "the remote from the data directory. Remove the filter or choose a plain remote.")
        }
        if !landed.isEmpty {
            for path in landed { unlink(path) }
            throw RemoteSession.Failure(kind: .configuration, message: "the remote \(session.shown("")) is the data directory \(directory.root): "
                                        + "a file written to it appeared at \(landed[0]). Refused: ship would verify files against themselves "
                                        + "and prune would delete the only copy. Choose a remote that is not this directory.")
        }
        if let failure { throw failure }
    }

    /// The first day whose listing does not show the written probe, asked up to three times a
    /// second apart (a listing may lag a write); nil when every one shows it.
    private func firstDayNotShowing(_ session: RemoteSession) async throws(RemoteSession.Failure) -> String? {
        for day in days {
            var shown = false
            for attempt in 0..<3 where !shown {
                if attempt > 0 { try? await Task.sleep(for: .seconds(1)) }
                shown = try await session.list(day).contains { $0.path == writtenName }
            }
            if !shown { return day }
        }
        return nil
    }

    /// Removes the read probes; throws when a listing of the run showed one.
    func end(_ session: RemoteSession) throws(RemoteSession.Failure) {
        for day in days { unlink(directory.sealed + "/" + day + "/" + readName) }
        if session.sawWatched {
            throw RemoteSession.Failure(kind: .configuration, message: "the remote \(session.shown("")) lists the data directory \(directory.root) "
                                        + "itself: a file put in sealed/ appeared in its listing. Refused: ship would verify files against "
                                        + "themselves and prune would delete the only copy. Choose a remote that is not this directory.")
        }
    }

    /// The data directory's files: where the written probe is by name, and every other file by
    /// (device, inode). A walk of the tree that never follows a symbolic link or opens anything
    /// but a directory, each directory once. Its standard folders and the run's day directories
    /// are opened by name too: ship refuses to start when a folder is a link
    /// (DataDirectory.layoutProblem), but one could be made a link since.
    struct Survey {
        var named: [String] = []
        var files: [[UInt64]: String] = [:]
    }

    func survey() -> Survey {
        var result = Survey()
        var seen = Set<[UInt64]>()
        let roots = [directory.root, directory.sealed, directory.receipts, directory.state, directory.temporary, directory.root + "/spool",
                     directory.root + "/quarantine"] + days.map { directory.sealed + "/" + $0 }
        for root in roots {
            let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK)
            if fd >= 0 { walk(fd, path: root, depth: 0, seen: &seen, into: &result) }
        }
        return result
    }

    private func walk(_ fd: Int32, path: String, depth: Int, seen: inout Set<[UInt64]>, into result: inout Survey) {
        var info = stat()
        guard fstat(fd, &info) == 0, seen.insert([UInt64(info.st_dev), UInt64(info.st_ino)]).inserted, depth < 64, let dir = fdopendir(fd) else {
            close(fd)
            return
        }
        defer { closedir(dir) }
        let token = Array(writtenName.utf8)
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            let child = path + "/" + String(decoding: name, as: UTF8.self)
            if name.starts(with: token) {
                result.named.append(child)
                continue
            }
            var entryInfo = stat()
            guard Self.at(name, { fstatat(dirfd(dir), $0, &entryInfo, AT_SYMLINK_NOFOLLOW) }) == 0 else { continue }
            guard entryInfo.st_mode & S_IFMT == S_IFDIR else {
                result.files[[UInt64(entryInfo.st_dev), UInt64(entryInfo.st_ino)]] = child
                continue
            }
            let childFD = Self.at(name) { openat(dirfd(dir), $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK) }
            if childFD >= 0 { walk(childFD, path: child, depth: depth + 1, seen: &seen, into: &result) }
        }
    }

    /// Calls `body` with a name as the C string it was read as (names are bytes, not always UTF-8).
    private static func at<T>(_ name: [UInt8], _ body: (UnsafePointer<CChar>) -> T) -> T {
        (name + [0]).withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { body($0.baseAddress!) } }
    }

    private static func at<T>(_ folder: String, _ name: [UInt8], _ body: (UnsafePointer<CChar>) -> T) -> T {
        at(Array((folder + "/").utf8) + name, body)
    }

    /// Every name in a directory, hidden ones too, as bytes.
    private static func names(in folder: String) -> [[UInt8]] {
        guard let dir = opendir(folder) else { return [] }
        defer { closedir(dir) }
        var names: [[UInt8]] = []
        while let entry = readdir(dir) { names.append(withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }) }
        return names
    }
}
