import ArgumentParser
import Testing
@testable import OrderbooksCore
@testable import OrderbooksShipping

/// The remote as given is used, but never recorded or repeated with its secrets; an empty one is refused or unset.
@Suite struct ShipOptionsTests {
    @Test func shipConfigurationRecordsTheCommandWithoutSecrets() throws {
        let remote = ":sftp,host=127.0.0.1,user=u,pass=SECRETOBSCURED:archive"
        let options = try ShipOptions.parse(["--data-dir", "/tmp/x", "--remote", remote])
        let configuration = try options.configuration(environment: [:], command: ["ship", "--remote", remote, "--remote=" + remote])
        #expect(configuration.remote == remote)
        #expect(!configuration.command.joined().contains("SECRETOBSCURED"))
        #expect(configuration.command[2] == ":sftp,host=127.0.0.1,user=u,pass=***:archive")
        // A remote refused for a control character is not repeated with its password.
        do {
            _ = try ShipOptions.parse(["--data-dir", "/tmp/x"]).configuration(environment: ["ORDERBOOKS_REMOTE": ":sftp,pass=SECRETOBSCURED\u{7}:x"], command: [])
            Issue.record("accepted")
        } catch {
            #expect(!"\(error)".contains("SECRETOBSCURED"), "\(error)")
        }
    }

    @Test func anEmptyRemoteFlagIsAUsageErrorAnEmptyVariableIsUnset() throws {
        #expect(throws: ValidationError.self) { try ShipOptions.parse(["--remote", ""]).configuration(environment: [:], command: []) }
        #expect(throws: ConfigurationError.self) { try ShipOptions.parse([]).configuration(environment: ["ORDERBOOKS_REMOTE": ""], command: []) }
    }
}
