import Glibc
import Testing
@testable import OrderbooksCore
@testable import OrderbooksSealing
import TestSupport

/// Issue 9 §1: a receipt name with a part number no window holds never traps seal.
@Suite struct HostileReceiptNameTests {
    @Test func sealIgnoresAReceiptWithAnImpossiblePartNumber() throws {
        let f = SealFixture()
        defer { f.remove() }
        let started = Timestamp(seconds: (Timestamp.now().seconds - 7200) / 60 * 60)
        f.add(snapshot(startedAt: started))
        let window = SealWindow(containing: started, minutes: 1, collector: "c1")
        try DurableFile.makeDirectories(f.data + "/receipts/" + window.dayDirectory)
        for part in ["9223372036854775807", String(SealWindow.maxPart + 1)] {
            let name = f.data + "/receipts/" + window.dayDirectory + "/" + window.baseName + "_part" + part + DataDirectory.receiptSuffix
            close(open(name, O_WRONLY | O_CREAT, 0o640))
        }
        #expect(f.seal() == .complete)
        #expect(try f.manifest(window, part: 1).part == 1)
    }

    @Test func aWindowWithNoPartNumberLeftKeepsItsSpoolFiles() throws {
        let f = SealFixture()
        defer { f.remove() }
        let started = Timestamp(seconds: (Timestamp.now().seconds - 7200) / 60 * 60)
        let name = f.add(snapshot(startedAt: started))
        let window = SealWindow(containing: started, minutes: 1, collector: "c1")
        try DurableFile.makeDirectories(f.data + "/receipts/" + window.dayDirectory)
        close(open(f.data + "/receipts/" + window.dayDirectory + "/" + window.partName(SealWindow.maxPart) + DataDirectory.receiptSuffix, O_WRONLY | O_CREAT, 0o640))
        #expect(f.seal() == .checkFailed)
        #expect(f.names("spool") == [name])
    }
}
