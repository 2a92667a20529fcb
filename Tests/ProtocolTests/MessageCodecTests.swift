import FanbenchProtocol
import Foundation
import Testing

@Suite struct MessageCodecTests {
    static let target = TargetSpec(endpoint: "https://127.0.0.1:8333", bucket: "b", region: "us-east-1", pathStyle: true, caBundle: "/ca.pem")
    static let all: [Message] = [
        .challenge(Challenge(nonce: "abc")),
        .hello(Hello(workerId: "w1", version: "0.1.0", sizeMb: 128,
                     limits: WorkerLimits(cpu: 0.0724, memoryBytes: 134_217_728, cores: 2, cgroup: "v1"), auth: "00ff")),
        .welcome(Welcome(workerId: "w1")),
        .reject(Reject(reason: "bad token")),
        .assign(Assign(invocationId: "i-1", op: "get-object-acl", strategy: "threads", concurrency: 16,
                       keys: ["a b", "ü/日", "x\"y\\z\n"], list: nil, target: target)),
        .assign(Assign(invocationId: "i-2", op: "head-object", strategy: "serial", concurrency: 1, keys: nil,
                       list: ListSpec(prefix: "p/"), target: target, timeouts: Timeouts(connectMs: 1, requestMs: 2), retry: RetrySpec(maxAttempts: 1))),
        .progress(Progress(invocationId: "i-1", callsDone: 40)),
        .result(InvocationResult(invocationId: "i-1", durationMs: 12.5, initMs: 3, listMs: 1.5, calls: 100,
                                 errors: ["SlowDown": 2], retries: 3, histogram: HistogramSnapshot(counts: [[100, 5], [2000, 1]]),
                                 maxMemoryBytes: 10_000_000, cpuMs: 4.25, throttledMs: 0.5)),
        .failed(Failed(invocationId: "i-1", reason: "no such strategy")),
        .shutdown,
        .error(ProtocolErrorMessage(reason: "line too long")),
    ]

    @Test(arguments: all)
    func roundTrips(message: Message) throws {
        let line = MessageCodec.encode(message)
        #expect(!line.contains(UInt8(ascii: "\n")), "a message must fit on one line")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
        #expect(object["type"] as? String == message.type)
        #expect(try MessageCodec.decode(line) == message)
    }

    @Test func wireNamesAreSnakeCase() {
        let line = String(decoding: MessageCodec.encode(MessageCodecTests.all[1]), as: UTF8.self)
        #expect(line.contains("\"worker_id\":\"w1\""))
        #expect(line.contains("\"size_mb\":128"))
        #expect(line.contains("\"memory_bytes\":134217728"))
        #expect(line.hasPrefix("{\"type\":\"hello\","))
    }

    func reason(_ text: String) -> String? {
        do {
            _ = try MessageCodec.decode(Array(text.utf8))
            return nil
        } catch {
            return error.reason
        }
    }

    @Test func badLinesSayWhatIsWrong() throws {
        #expect(reason("{\"type\":\"hello\"")?.contains("not valid JSON") == true)
        #expect(reason("[1,2]")?.contains("not a JSON object") == true)
        #expect(reason("{\"nonce\":\"x\"}")?.contains("no \"type\"") == true)
        #expect(reason("{\"type\":\"teleport\"}")?.contains("unknown message type \"teleport\"") == true)
        #expect(reason("{\"type\":\"challenge\",\"protocol\":1}")?.contains("missing field \"nonce\"") == true)
        #expect(reason("{\"type\":\"progress\",\"invocation_id\":\"i\",\"calls_done\":\"many\"}")?.contains("calls_done") == true)
        #expect(throws: ProtocolError.self) { try MessageCodec.decode([0x7B, 0xFF, 0xFE, 0x7D]) }
        #expect(reason(String(decoding: [0x7B, 0xC3, 0x28, 0x7D], as: UTF8.self)) != nil)
    }

    @Test func invalidUTF8IsNamed() {
        do {
            _ = try MessageCodec.decode([0x7B, 0x22, 0xFF, 0x22, 0x7D])
            Issue.record("accepted invalid UTF-8")
        } catch {
            #expect(error.reason.contains("UTF-8"))
        }
    }
}

@Suite struct TokenAuthTests {
    @Test func answersVerifyOnlyWithTheSameTokenAndNonce() {
        let nonce = TokenAuth.makeNonce()
        #expect(nonce.count == 64)
        #expect(nonce != TokenAuth.makeNonce())
        let answer = TokenAuth.answer(token: "s3cret", nonce: nonce)
        #expect(TokenAuth.verify(auth: answer, token: "s3cret", nonce: nonce))
        #expect(!TokenAuth.verify(auth: answer, token: "other", nonce: nonce))
        #expect(!TokenAuth.verify(auth: answer, token: "s3cret", nonce: TokenAuth.makeNonce()))
        #expect(!TokenAuth.verify(auth: "zz", token: "s3cret", nonce: nonce))
        #expect(!TokenAuth.verify(auth: String(answer.dropLast(2)), token: "s3cret", nonce: nonce))
        #expect(!answer.contains("s3cret"))
    }

    @Test func knownVector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        #expect(TokenAuth.answer(token: "Jefe", nonce: "what do ya want for nothing?")
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }
}
