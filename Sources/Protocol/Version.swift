public enum ProtocolVersion { public static let current = 1 }
