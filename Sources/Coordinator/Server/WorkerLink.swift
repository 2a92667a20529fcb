import FanbenchProtocol
import NIOCore

/// The coordinator's side of one worker's connection: what `RunCoordinator` sends through.
/// A protocol so that the coordinator's decisions are tested without sockets.
package protocol WorkerLink: Sendable {
    func send(_ message: Message) async throws
    /// Sends `messages` back to back: nothing else sent on the link comes between them.
    func send(_ messages: [Message]) async throws
    /// Closes the connection (the worker is dropped).
    func close()
}

/// A worker connected over TCP.
package struct ChannelWorkerLink: WorkerLink {
    package let stream: MessageStream
    package let channel: any Channel

    package init(stream: MessageStream, channel: any Channel) {
        self.stream = stream
        self.channel = channel
    }

    package func send(_ message: Message) async throws { try await stream.send(message) }
    package func send(_ messages: [Message]) async throws { try await stream.send(messages) }
    package func close() { channel.close(promise: nil) }
}
