@testable import FanbenchCoordinator
import FanbenchBase
import FanbenchLambda
import FanbenchProtocol
import Testing

@Suite struct LambdaBackendTests {
    let target = TargetSpec(endpoint: "https://s3.us-east-1.amazonaws.com", bucket: "b", region: "us-east-1", pathStyle: false)

    func assign(_ spec: InvocationSpec) -> Assign {
        Assign(invocationId: spec.id, op: "get-object-acl", strategy: "serial", concurrency: 1, keys: spec.keys, list: nil, target: target)
    }

    /// Lambda's synchronous Invoke takes 6 MB: a shard whose event is larger stops the run before the first Invoke.
    @Test func aShardOverSixMegabytesIsRefusedWithWhatToDo() throws {
        let keys = (0..<7_000).map { "k\($0)/" + String(repeating: "x", count: 1_000) }
        let whole = try RunPlan.make(sizes: [try LambdaSize(memoryMB: 1024)], strategies: [.serial], invocations: 1, keys: keys, shardSize: nil)
        do {
            try FanoutRun.checkPayloads(whole, assign: assign)
            Issue.record("a 7 MB event passed")
        } catch {
            #expect(error.message.contains("lower --shard-size"))
            #expect(error.message.contains("7000 keys"))
            #expect(error.exitCode == 2)
        }
        let sharded = try RunPlan.make(sizes: [try LambdaSize(memoryMB: 1024)], strategies: [.serial], invocations: 1, keys: keys, shardSize: 3_000)
        try FanoutRun.checkPayloads(sharded, assign: assign)
    }

    @Test func functionNamesPerSizeAndPerPlanFunction() {
        #expect(LambdaFleet.functionName(prefix: "fanbench", strategy: "threads", function: nil, sizeMB: 1024) == "fanbench-1024")
        #expect(LambdaFleet.functionName(prefix: "fb", strategy: "function", function: "boto3", sizeMB: 128) == "fb-boto3-128")
    }

    @Test func errorsRetryingCannotMendSayWhatToDo() {
        let missing = LambdaFleet.explain(LambdaAPIError(status: 404, type: "ResourceNotFoundException", message: "Function not found", operation: "Invoke"),
                                          function: "fb-512", prefix: "fb", sizeMB: 512)
        #expect(missing.contains("fanbench lambda deploy --name-prefix fb --sizes 512"))
        let refused = LambdaFleet.explain(LambdaAPIError(status: 403, type: "AccessDeniedException", message: "no", operation: "Invoke"),
                                          function: "fb-512", prefix: "fb", sizeMB: 512)
        #expect(refused.contains("lambda:InvokeFunction"))
        let large = LambdaFleet.explain(LambdaAPIError(status: 413, type: "RequestTooLargeException", message: "big", operation: "Invoke"),
                                        function: "fb-512", prefix: "fb", sizeMB: 512)
        #expect(large.contains("lower --shard-size"))
    }

    // MARK: an Invoke's answer

    func answer(_ result: InvocationResult) throws -> [UInt8] { Array(try JSONCoding.encoder().encode(result)) }
    let size = try! LambdaSize(memoryMB: 512)
    var spec: InvocationSpec {
        InvocationSpec(id: "c0-r0-s0", config: ConfigSpec(index: 0, size: size, strategy: .serial), keys: ["a"], repetition: 0, shard: 0)
    }
    func interpret(_ r: LambdaInvokeResponse, strategy: String = "serial") -> Result<InvocationResult, LambdaFleet.Stop> {
        var a = assign(spec)
        a.strategy = strategy
        return LambdaFleet.interpret(r, assign: a, function: "fb-512", prefix: "fb", size: size)
    }
    func workerResult(billed: Double? = nil) -> InvocationResult {
        InvocationResult(invocationId: "someone-else", durationMs: 99, calls: 100, errors: [:], retries: 1,
                         histogram: HistogramSnapshot(counts: [[20_000, 100]]), maxMemoryBytes: 1, cpuMs: 30, throttledMs: 0, billedMs: billed)
    }

    /// The REPORT line's figures win over the worker's; the billed duration is Lambda's only.
    @Test func reportFiguresOverTheWorkersAndBillingOnlyFromReport() throws {
        let tail = "REPORT RequestId: x\tDuration: 120.50 ms\tBilled Duration: 121 ms\tMemory Size: 512 MB\tMax Memory Used: 40 MB\tInit Duration: 80.00 ms"
        let r = try interpret(LambdaInvokeResponse(payload: try answer(workerResult(billed: 1)), logTail: tail)).get()
        #expect(r.invocationId == "c0-r0-s0")
        #expect(r.durationMs == 120.5 && r.initMs == 80 && r.billedMs == 121)
        #expect(r.maxMemoryBytes == 40 << 20)
        #expect(r.calls == 100 && r.cpuMs == 30)
        // No REPORT line: a billed figure the function itself claims is not taken.
        let bare = try interpret(LambdaInvokeResponse(payload: try answer(workerResult(billed: 1)))).get()
        #expect(bare.billedMs == nil)
        #expect(bare.durationMs == 99)
    }

    @Test func aFunctionErrorIsTheInvocationsError() throws {
        let body = Array(#"{"errorMessage":"Task timed out after 3.00 seconds","errorType":"Sandbox.Timedout"}"#.utf8)
        let r = try interpret(LambdaInvokeResponse(payload: body, functionError: "Unhandled",
                                                   logTail: "REPORT RequestId: y\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 512 MB")).get()
        #expect(r.functionError == FunctionError(type: "Sandbox.Timedout", message: "Task timed out after 3.00 seconds"))
        #expect(r.billedMs == 3000)
        #expect(r.callsMeasured == false)
    }

    @Test func answersThatStopTheRunSayWhatToDo() throws {
        // moto's echo of the event.
        let event = Array(try JSONCoding.encoder().encode(FunctionEvent(assign(spec))))
        guard case .failure(let echo) = interpret(LambdaInvokeResponse(payload: event)) else { Issue.record("an echo was taken for a result"); return }
        #expect(echo.message.contains("not a fanbench worker") && echo.message.contains("with the event it was sent"))
        guard case .failure(let other) = interpret(LambdaInvokeResponse(payload: Array("hello".utf8))) else { Issue.record("'hello' was a result"); return }
        #expect(other.message.contains("'hello'") && other.message.contains("fanbench lambda deploy --name-prefix fb --sizes 512"))
        // A plan's own function answers what it likes: its calls are n/a, not a stop.
        let own = try interpret(LambdaInvokeResponse(payload: Array("ok".utf8)), strategy: "function").get()
        #expect(own.callsMeasured == false)
        // A function whose memory was changed by hand: its figures would be another size's.
        let resized = "REPORT RequestId: z\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 1024 MB\tMax Memory Used: 9 MB"
        guard case .failure(let size) = interpret(LambdaInvokeResponse(payload: try answer(workerResult()), logTail: resized)) else {
            Issue.record("a 1024 MB REPORT counted for 512 MB"); return
        }
        #expect(size.message.contains("runs with 1024 MB, not the 512 MB"))
    }
}
