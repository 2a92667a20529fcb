import FanbenchCoordinator
import Foundation
import Testing

@Suite struct TokenStoreTests {
    /// Runs starting at once on a fresh state folder (as two test suites, or two terminals, do)
    /// all get the same token; none fails with "File exists".
    @Test func concurrentRunsOnAFreshStateFolderAgreeOnOneToken() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fb-token-\(UUID().uuidString)").path
        let tokens = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<16 { group.addTask { try TokenStore.load(file: nil, stateDirectory: dir, environment: [:]) } }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(tokens.count == 16)
        #expect(Set(tokens).count == 1, "\(Set(tokens))")
        #expect(tokens[0].count == 64)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(files == ["token"], "no staged file left behind: \(files)")
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/token")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }
}
