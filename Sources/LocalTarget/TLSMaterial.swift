import FanbenchBase
import Foundation

/// A private CA and a server certificate for 127.0.0.1/localhost, made with openssl once
/// and reused.
package enum TLSMaterial {
    struct Files {
        var caCertificate: String
        var serverCertificate: String
        var serverKey: String
    }

    /// Where hosts keep their public root certificates (Debian/Ubuntu, RHEL/Fedora, Alpine/macOS
    /// ports, SUSE), first found wins.
    package static let publicRootLocations = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                                      "/etc/ssl/cert.pem", "/etc/ssl/ca-bundle.pem"]

    /// The bundle functions run against the local target are given (`TrustStore.forFunctions`):
    /// the host's public roots, then the local CA. A client against real S3 loads a public trust store of ~140 roots (boto3's,
    /// certifi's or the system's) each time it makes a TLS context; given the one-certificate
    /// `ca.pem` instead, it skipped ~25 ms of CPU per context here — what a handler that makes a
    /// client per invocation (the seed's aioboto3 one) pays on Lambda every time (issue 13).
    /// Written afresh at each `target up`; just the local CA where the host has no roots.
    static func trustStore(in directory: URL, caCertificate: String, roots: [String] = publicRootLocations) throws -> String {
        let path = directory.appendingPathComponent("trust.pem").path
        var bundle = Data()
        if let rootsFile = roots.first(where: { FileManager.default.isReadableFile(atPath: $0) }),
           let data = FileManager.default.contents(atPath: rootsFile) {
            bundle.append(data)
            if data.last != UInt8(ascii: "\n") { bundle.append(UInt8(ascii: "\n")) }
        }
        guard let ca = FileManager.default.contents(atPath: caCertificate) else {
            throw FanbenchError("the local target's CA certificate \(caCertificate) cannot be read: remove \(directory.path) and run `fanbench target up` again", exitCode: 2)
        }
        bundle.append(ca)
        try bundle.write(to: URL(fileURLWithPath: path), options: .atomic)
        return path
    }

    static func ensure(in directory: URL) throws -> Files {
        let fm = FileManager.default
        let files = Files(caCertificate: directory.appendingPathComponent("ca.pem").path,
                          serverCertificate: directory.appendingPathComponent("server.pem").path,
                          serverKey: directory.appendingPathComponent("server.key").path)
        if [files.caCertificate, files.serverCertificate, files.serverKey].allSatisfy(fm.fileExists(atPath:)) {
            return files
        }
        guard let openssl = ProcessLauncher.which("openssl") else {
            throw FanbenchError("openssl is needed to make the local target's TLS certificate: install it (apt-get install openssl), or run with --no-tls", exitCode: 2)
        }
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        let caKey = directory.appendingPathComponent("ca.key").path
        let csr = directory.appendingPathComponent("server.csr").path
        let ext = directory.appendingPathComponent("server.ext")
        try "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
            .write(to: ext, atomically: true, encoding: .utf8)
        try ProcessLauncher.run(openssl, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                          "-keyout", caKey, "-out", files.caCertificate, "-days", "3650",
                                          "-subj", "/CN=fanbench local CA",
                                          "-addext", "basicConstraints=critical,CA:TRUE",
                                          "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        try ProcessLauncher.run(openssl, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                          "-keyout", files.serverKey, "-out", csr, "-subj", "/CN=localhost"])
        try ProcessLauncher.run(openssl, ["x509", "-req", "-in", csr, "-CA", files.caCertificate, "-CAkey", caKey,
                                          "-CAcreateserial", "-out", files.serverCertificate, "-days", "825",
                                          "-extfile", ext.path])
        chmod(caKey, 0o600)
        chmod(files.serverKey, 0o600)
        try? fm.removeItem(atPath: csr)
        return files
    }
}
