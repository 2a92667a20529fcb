import FanbenchBase

extension S3Error: UserFacingError {
    package var exitStatus: Int32 { 1 }
}

extension S3ConfigurationError: UserFacingError {
    package var userMessage: String { message }
    package var exitStatus: Int32 { 2 }
}
