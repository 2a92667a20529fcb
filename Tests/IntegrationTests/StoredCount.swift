import Foundation
import GRDB

/// How many invocations a run database holds, read without creating or migrating it (a test
/// that watches a running coordinator's database must not race its creation).
enum StoredCount {
    static func invocations(in path: String) -> Int? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        var config = Configuration()
        config.readonly = true
        guard let queue = try? DatabaseQueue(path: path, configuration: config) else { return nil }
        return try? queue.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM invocation") }
    }
}
