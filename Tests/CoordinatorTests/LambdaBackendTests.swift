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
}
