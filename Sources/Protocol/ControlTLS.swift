import FanbenchBase
import Foundation
import NIOCore
import NIOSSL

/// TLS on the coordinator↔worker channel (the token's challenge-response runs inside it).
/// The coordinator serves a certificate and key; workers trust a CA and check the coordinator's
/// name (or, dialled by IP address, its IP) against it. A coordinator with TLS on refuses a
/// plaintext worker with a line saying so, and a TLS worker says what its failure means.
package enum ControlTLS {
    /// How one end of a connection speaks.
    package enum Side: Sendable {
        /// A coordinator: TLS required of every worker.
        case server(NIOSSLContext)
        /// A worker: the coordinator's certificate must chain to the CA; `serverName` for SNI
        /// and the name check (nil when dialled by IP address: the IP is checked).
        case client(NIOSSLContext, serverName: String?)
    }

    /// What a plaintext worker is told by a coordinator that requires TLS.
    package static let plaintextRefusal =
        "this coordinator requires TLS on the control channel: start the worker with --tls-ca FILE (the CA that signed the coordinator's certificate)"
    /// How long a new connection has to start its TLS handshake before it counts as plaintext
    /// (a TLS client speaks first; a plaintext worker waits for the challenge).
    package static let plaintextTimeout: TimeAmount = .seconds(5)

    /// The coordinator's side: its certificate chain (PEM) and private key (PEM, not readable
    /// by others).
    package static func server(certificate: String, key: String) throws(FanbenchError) -> Side {
        try readable(certificate, what: "--tls-cert")
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificate)
        } catch {
            throw .badInput("cannot read a PEM certificate from --tls-cert \(certificate) (\(describe(error))): give the coordinator's certificate chain, PEM")
        }
        guard !chain.isEmpty else { throw .badInput("--tls-cert \(certificate) holds no certificate: give the coordinator's certificate chain, PEM") }
        try SecretFile.checkPrivate(key, what: "--tls-key")
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
        } catch {
            throw .badInput("cannot read a PEM private key from --tls-key \(key) (\(describe(error))): give the key of --tls-cert, PEM, unencrypted")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                                     privateKey: .privateKey(privateKey))
        configuration.minimumTLSVersion = .tlsv12
        do {
            return .server(try NIOSSLContext(configuration: configuration))
        } catch {
            throw .badInput("--tls-key \(key) is not the key of --tls-cert \(certificate) (\(describe(error))): check the key belongs to the certificate")
        }
    }

    /// A worker's side: trust `ca` (PEM) for a coordinator at `host`.
    package static func client(ca: String, host: String) throws(FanbenchError) -> Side {
        try readable(ca, what: "--tls-ca")
        let roots: [NIOSSLCertificate]
        do {
            roots = try NIOSSLCertificate.fromPEMFile(ca)
        } catch {
            throw .badInput("cannot read a PEM certificate from --tls-ca \(ca) (\(describe(error))): give the CA that signed the coordinator's certificate, PEM")
        }
        guard !roots.isEmpty else { throw .badInput("--tls-ca \(ca) holds no certificate: give the CA that signed the coordinator's certificate, PEM") }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates(roots)
        configuration.certificateVerification = .fullVerification
        configuration.minimumTLSVersion = .tlsv12
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw .badInput("--tls-ca \(ca) does not make a TLS client (\(describe(error)))")
        }
        let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
        return .client(context, serverName: isAddress ? nil : host)
    }

    /// Adds this side's TLS to a new channel, first in its pipeline.
    package static func add(_ side: Side, to channel: any Channel) throws {
        switch side {
        case .server(let context):
            try channel.pipeline.syncOperations.addHandler(TLSRequiredHandler(context: context))
        case .client(let context, let name):
            try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: name))
        }
    }

    /// What a TLS failure on a worker's connection means and what to do, or nil when `error`
    /// is not one.
    package static func explain(_ error: any Error, ca: String) -> String? {
        let text = String(describing: error)
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return "the coordinator's certificate does not name the address dialled (\(extra)): dial the name its certificate holds, or give it a certificate for this name"
        }
        guard error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError else { return nil }
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return "the coordinator's certificate is not signed by --tls-ca \(ca) (certificate verify failed): give the CA that signed it"
        }
        if text.contains("WRONG_VERSION_NUMBER") || text.contains("PACKET_LENGTH_TOO_LONG") || text.contains("HTTP_REQUEST") {
            return "the coordinator does not speak TLS: start it with --tls-cert and --tls-key, or start this worker without --tls-ca"
        }
        return "the TLS handshake with the coordinator failed (\(text)): check --tls-ca \(ca) is the CA of the coordinator's certificate"
    }

    static func readable(_ path: String, what: String) throws(FanbenchError) {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw .badInput("cannot read \(what) \(path): \(FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file"); check the path")
        }
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? NIOSSLError, case .noSuchFilesystemObject = e { return "no such file" }
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
        return String(describing: error)
    }
}

/// First in a TLS coordinator's pipeline: a connection whose first byte opens a TLS handshake
/// record gets the TLS handler (and whatever the server wrote meanwhile, encrypted); one that
/// sends anything else, or nothing within `ControlTLS.plaintextTimeout` (a plaintext worker
/// waits for the challenge), gets `ControlTLS.plaintextRefusal` as a plaintext `reject` line
/// and is closed.
final class TLSRequiredHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let context: NIOSSLContext
    private var decided = false
    /// Refused as plaintext: nothing more is written.
    private var refused = false
    /// What the server wrote before the peer showed which it speaks (the challenge).
    private var held: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var timer: Scheduled<Void>?

    init(context: NIOSSLContext) { self.context = context }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startTimer(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startTimer(context)
        context.fireChannelActive()
    }

    private func startTimer(_ context: ChannelHandlerContext) {
        guard timer == nil else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: ControlTLS.plaintextTimeout) {
            let (handler, context) = loopBound.value
            handler.refusePlaintext(context)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !decided else { return context.fireChannelRead(data) }
        let bytes = unwrapInboundIn(data)
        guard let first = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) else { return }
        // 22: a TLS record of type handshake (the ClientHello).
        guard first == 22 else { return refusePlaintext(context) }
        decided = true
        timer?.cancel()
        do {
            try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: self.context), position: .after(self))
        } catch {
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(data)
        // What was held goes down the pipeline again, through the TLS handler now.
        let writes = held
        held = []
        for (buffer, promise) in writes { context.channel.write(buffer, promise: promise) }
        context.channel.flush()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if refused { return promise?.fail(ChannelError.ioOnClosedChannel) ?? () }
        guard !decided else { return context.write(data, promise: promise) }
        held.append((unwrapOutboundIn(data), promise))
    }

    func flush(context: ChannelHandlerContext) {
        if decided { context.flush() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        failHeld()
        context.fireChannelInactive()
    }

    private func refusePlaintext(_ context: ChannelHandlerContext) {
        guard !decided else { return }
        decided = true
        refused = true
        timer?.cancel()
        failHeld()
        var line = ByteBuffer(bytes: MessageCodec.encode(.reject(Reject(reason: ControlTLS.plaintextRefusal))))
        line.writeInteger(UInt8(ascii: "\n"))
        // Straight to the socket (nothing between here and it), then closed: no challenge leaks.
        context.writeAndFlush(wrapOutboundOut(line)).whenComplete { _ in context.close(promise: nil) }
    }

    private func failHeld() {
        let writes = held
        held = []
        for (_, promise) in writes { promise?.fail(ChannelError.ioOnClosedChannel) }
    }
}
