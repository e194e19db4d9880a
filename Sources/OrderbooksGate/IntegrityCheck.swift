import OrderbooksCore

/// Check 6, integrity: `seal verify` on everything sealed; the coverage and gaps of the parts
/// of the recent hours, from their manifests.
enum IntegrityCheck {
    /// Parts whose window ended within this many seconds are listed.
    static let recent: Int64 = 3 * 3600

    static func run(_ c: GateRunConfiguration) async -> CheckResult {
        var check = CheckBuilder("integrity", "Integrity")
        let service = AsService(configuration: c)
        let verify = await check.run(service.argv([c.bin + "/seal", "verify"]), environment: service.environment)
        let bad = verify.stdoutText.split(separator: "\n").filter { $0.hasPrefix("BAD") }
        check.expect(verify.succeeded && bad.isEmpty, "seal verify: every sealed part matches its manifest (\(CommandRecord.tail(verify.stdout, lines: 1).first ?? ""))",
                     else: "seal verify: \(verify.ending), \(bad.count) BAD: " + bad.prefix(5).joined(separator: "; "))
        let directory = DataDirectory(root: c.dataDirectory)
        let now = Timestamp.now()
        for part in (try? directory.sealedParts()) ?? [] where now.seconds - part.window.end.seconds <= recent {
            guard let bytes = try? DurableFile.read(directory.sealed + "/" + part.day + "/" + part.name + SealWindow.manifestSuffix),
                  let members = try? JSON.objectMembers(bytes, ["coverage", "slots_expected", "slots_covered", "gaps"]) else {
                check.add(.fail("\(part.name): manifest unreadable"))
                continue
            }
            let coverage = members["coverage"].flatMap { if case .number(let n) = $0 { Double(n) } else { nil } }
            let gaps = members["gaps"]?.array ?? []
            var reasons: [String: Int] = [:]
            for gap in gaps {
                let seconds = gap["seconds"].flatMap { if case .number(let n) = $0 { Double(n) } else { nil } } ?? 0
                reasons[gap["reason"]?.string ?? "?", default: 0] += Int(seconds.rounded())
            }
            let text = "\(part.name): coverage \(coverage.map { coverageText($0) } ?? "null"), \(gaps.count) gaps"
                + (reasons.isEmpty ? "" : " (" + reasons.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value) s" }.joined(separator: ", ") + ")")
            check.add((coverage ?? 0) >= 0.95 ? .info(text) : .warn(text))
        }
        return check.finished()
    }
}
