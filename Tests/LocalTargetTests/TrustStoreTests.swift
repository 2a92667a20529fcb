@testable import FanbenchLocalTarget
import FanbenchBase
import Foundation
import Testing

/// The bundle the local target hands its clients: the host's public roots, then the local CA.
@Suite struct TrustStoreTests {
    func directory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fb-trust-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func theFirstRootsFoundComeFirstThenTheLocalCA() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let roots = dir.appendingPathComponent("roots.crt").path, ca = dir.appendingPathComponent("ca.pem").path
        try "ROOT ONE\nROOT TWO".write(toFile: roots, atomically: true, encoding: .utf8)   // no final newline
        try "LOCAL CA\n".write(toFile: ca, atomically: true, encoding: .utf8)
        let path = try TLSMaterial.trustStore(in: dir, caCertificate: ca, roots: [dir.appendingPathComponent("absent").path, roots])
        #expect(path == dir.appendingPathComponent("trust.pem").path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "ROOT ONE\nROOT TWO\nLOCAL CA\n")
        // Written afresh: the roots changed, so does the bundle.
        try "ROOT THREE\n".write(toFile: roots, atomically: true, encoding: .utf8)
        _ = try TLSMaterial.trustStore(in: dir, caCertificate: ca, roots: [roots])
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "ROOT THREE\nLOCAL CA\n")
    }

    @Test func aHostWithoutRootsGetsTheLocalCAAlone() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ca = dir.appendingPathComponent("ca.pem").path
        try "LOCAL CA\n".write(toFile: ca, atomically: true, encoding: .utf8)
        let path = try TLSMaterial.trustStore(in: dir, caCertificate: ca, roots: [dir.appendingPathComponent("absent").path])
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "LOCAL CA\n")
    }

    @Test func anUnreadableCAIsOneLineThatSaysWhatToDo() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect {
            _ = try TLSMaterial.trustStore(in: dir, caCertificate: dir.appendingPathComponent("gone.pem").path, roots: [])
        } throws: { error in
            let message = (error as? FanbenchError)?.message ?? ""
            return message.contains("gone.pem") && message.contains("fanbench target up") && !message.contains("\n")
        }
    }

    /// This host's own: the bundle holds its public roots and the CA, all PEM certificates.
    @Test func onThisHostTheBundleHoldsThePublicRoots() throws {
        guard let roots = TLSMaterial.publicRootLocations.first(where: { FileManager.default.isReadableFile(atPath: $0) }) else { return }
        let dir = try directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ca = dir.appendingPathComponent("ca.pem").path
        try "-----BEGIN CERTIFICATE-----\nLOCAL\n-----END CERTIFICATE-----\n".write(toFile: ca, atomically: true, encoding: .utf8)
        let bundle = try String(contentsOfFile: try TLSMaterial.trustStore(in: dir, caCertificate: ca), encoding: .utf8)
        let count = bundle.components(separatedBy: "-----BEGIN CERTIFICATE-----").count - 1
        let hostCount = try String(contentsOfFile: roots, encoding: .utf8).components(separatedBy: "-----BEGIN CERTIFICATE-----").count - 1
        #expect(count == hostCount + 1 && hostCount > 10, "\(count) certificates, the host's \(roots) has \(hostCount)")
    }
}

@Suite struct CertificateCountTests {
    @Test func aBundlesCertificatesAreCountedAndAMissingOneIsNil() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fb-count-\(UUID().uuidString).pem").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        try (cert + "# a comment\n" + cert + cert).write(toFile: path, atomically: true, encoding: .utf8)
        #expect(TrustStore.certificateCount(inBundle: path) == 3)
        #expect(TrustStore.certificateCount(inBundle: path + ".absent") == nil)
    }

    /// Functions get trust.pem beside a ca.pem when it is there; anything else is given as it is.
    @Test func functionsGetTheTrustStoreBesideTheLocalCA() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fb-fn-trust-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let ca = dir.appendingPathComponent("ca.pem").path, trust = dir.appendingPathComponent("trust.pem").path
        try "CA\n".write(toFile: ca, atomically: true, encoding: .utf8)
        #expect(TrustStore.forFunctions(caBundle: ca) == ca, "no trust store yet: the CA")
        try "ROOTS\nCA\n".write(toFile: trust, atomically: true, encoding: .utf8)
        #expect(TrustStore.forFunctions(caBundle: ca) == trust)
        let mine = dir.appendingPathComponent("corp-bundle.pem").path
        #expect(TrustStore.forFunctions(caBundle: mine) == mine, "a user's own bundle is theirs")
    }
}
