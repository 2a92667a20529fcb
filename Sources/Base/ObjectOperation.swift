/// The per-key S3 call an invocation makes.
package enum ObjectOperation: String, Sendable, CaseIterable, Codable, CustomStringConvertible {
    case getObjectAcl = "get-object-acl"
    case headObject = "head-object"
    case getObject = "get-object"

    package var description: String { rawValue }
}
