import Foundation

/// The CA bundle a function is given. The local target writes `trust.pem` (the host's public
/// roots, then its CA) beside its `ca.pem`: a handler against real S3 loads a public store of
/// ~140 roots whenever it makes a TLS context, and the seed's aioboto3 handler makes one every
/// invocation (issue 13). fanbench's own clients keep the one-certificate `ca.pem`: libcurl
/// loads its CA file for every new connection, and at 128 MB's quota 16 connections' worth of
/// 140 roots took seconds and timed connections out — a cost of fanbench's client, not of
/// the function being measured.
package enum TrustStore {
    /// `trust.pem` beside a bundle named `ca.pem` when it is readable, else the bundle itself.
    package static func forFunctions(caBundle: String) -> String {
        let url = URL(fileURLWithPath: caBundle)
        guard url.lastPathComponent == "ca.pem" else { return caBundle }
        let trust = url.deletingLastPathComponent().appendingPathComponent("trust.pem").path
        return FileManager.default.isReadableFile(atPath: trust) ? trust : caBundle
    }

    /// How many PEM certificates a bundle holds (nil: unreadable).
    package static func certificateCount(inBundle path: String) -> Int? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self).components(separatedBy: "-----BEGIN CERTIFICATE-----").count - 1
    }
}
