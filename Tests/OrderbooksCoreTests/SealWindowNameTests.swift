import OrderbooksCore
import Testing

/// SealWindow.parse reads names byte by byte (seal, ship and gate health parse every name of
/// `sealed/` and `receipts/` each run). It must accept exactly what the String-based parser it
/// replaced accepted, kept here as the reference, on real, mutated and hostile names.
@Suite struct SealWindowNameTests {
    static func reference(_ name: String) -> (window: SealWindow, part: Int, isManifest: Bool)? {
        for (suffix, isManifest) in [(SealWindow.segmentSuffix, false), (SealWindow.manifestSuffix, true)] where name.hasSuffix(suffix) {
            let fields = name.dropLast(suffix.count).split(separator: "_", omittingEmptySubsequences: false)
            guard fields.count == 4, fields[0].count == 14, fields[1].hasSuffix("m"), fields[3].hasPrefix("part"),
                  let minutes = Int(fields[1].dropLast()), (1...1440).contains(minutes), String(minutes) + "m" == fields[1],
                  let part = Int(fields[3].dropFirst(4)), (1...SealWindow.maxPart).contains(part), "part\(part)" == fields[3],
                  let start = Timestamp(compact: fields[0].dropLast() + "00.000Z") else { return nil }
            let window = SealWindow(start: start, minutes: minutes, collector: String(fields[2]))
            guard window.baseName == fields[0...2].joined(separator: "_") else { return nil }
            return (window, part, isManifest)
        }
        return nil
    }

    static var names: [String] {
        var names = [
            "20261121T1900Z_60m_vps-1_part1.manifest.json", "20261121T1900Z_60m_vps-1_part1.jsonl.gz",
            "20261121T1900Z_60m__part1.jsonl.gz", "20261121T1900Z_1440m_a.b-c_part999999999.jsonl.gz",
            "20261121T1900Z_60m_vps-1_part1000000000.jsonl.gz", "20261121T1900Z_060m_vps-1_part1.jsonl.gz",
            "20261121T1900Z_60m_vps-1_part01.jsonl.gz", "20261121T1900Z_+60m_vps-1_part1.jsonl.gz",
            "20261121T1900Z_60m_vps-1_part+1.jsonl.gz", "20261121T1900Z_0m_vps-1_part1.jsonl.gz",
            "20261121T1900Z_1441m_vps-1_part1.jsonl.gz", "20261121T1900Z_60m_vps-1_part0.jsonl.gz",
            "20261131T1900Z_60m_vps-1_part1.jsonl.gz", "20261121T2400Z_60m_vps-1_part1.jsonl.gz",
            "20261121T1960Z_60m_vps-1_part1.jsonl.gz", "09991121T1900Z_60m_vps-1_part1.jsonl.gz",
            "20261121T1900X_60m_vps-1_part1.jsonl.gz", "20261121X1900Z_60m_vps-1_part1.jsonl.gz",
            "20261121T1900Z_60m_vps_1_part1.jsonl.gz", "20261121T1900Z_60m_vps-1_part1.jsonl", "20261121T1900Z_60m_vps-1_part1",
            "2026112T1900Z_60m_vps-1_part1.jsonl.gz", "20261121T1900Z_60_vps-1_part1.jsonl.gz", "20261121T1900Z_60m_vps-1_prt1.jsonl.gz",
            "20240229T0000Z_5m_x_part3.manifest.json", "20230229T0000Z_5m_x_part3.manifest.json", ".jsonl.gz", "_part1.jsonl.gz",
            "20261121T1900Z_60m_vps-1_part1.jsonl.gz.manifest.json", "20261121T1900Z_60m_vps-ü_part1.jsonl.gz",
            "20261121T1900Z_9223372036854775807m_vps-1_part1.manifest.json", "20261121T1900Z_60m_vps-1_part9223372036854775807.manifest.json",
        ]
        // Every one-byte mutation of a real name.
        let real = Array("20261121T1900Z_60m_vps-1_part12.manifest.json".utf8)
        for i in real.indices {
            for c in ["0", "9", "_", "m", "T", "Z", "x", "."] {
                var mutated = real
                mutated[i] = UInt8(ascii: Unicode.Scalar(c)!)
                names.append(String(decoding: mutated, as: UTF8.self))
            }
        }
        return names
    }

    @Test func acceptsExactlyWhatTheReferenceAccepts() {
        var accepted = 0
        for name in Self.names {
            let new = SealWindow.parse(partFileName: name)
            let old = Self.reference(name)
            #expect(new?.window == old?.window && new?.part == old?.part && new?.isManifest == old?.isManifest, "\(name)")
            if new != nil { accepted += 1 }
        }
        #expect(accepted > 20)
    }
}
