import FanbenchBase
import Foundation

/// A private CA and a server certificate for 127.0.0.1/localhost, made with openssl once
/// and reused.
enum TLSMaterial {
    struct Files {
        var caCertificate: String
        var serverCertificate: String
        var serverKey: String
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
