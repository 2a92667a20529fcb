import FanbenchBase
import FanbenchCoordinator
import Foundation
import Testing

@Suite struct PlanFileTests {
    static var root: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    @Test func shippedPlansLoad() throws {
        let seed = try PlanFile.load(path: Self.root.appendingPathComponent("plans/seed.yaml").path)
        #expect(seed.bucket == "fanbench-seed")
        #expect(seed.objects == 100)
        #expect(seed.sizes?.map(\.memoryMB) == [128, 512, 1024, 1536, 2048, 3008])
        #expect(seed.strategies == [.serial, .threads(16), .async(16)])
        #expect(seed.invocations == 5)
        #expect(seed.profile == .lambdaSameRegion)
        let fanout = try PlanFile.load(path: Self.root.appendingPathComponent("plans/fanout.yaml").path)
        #expect(fanout.objects == 10_000)
        #expect(fanout.shardSize == 500)
        let plan = try RunPlan.make(sizes: try #require(fanout.sizes), strategies: try #require(fanout.strategies),
                                    invocations: fanout.invocations!, keys: (0..<10_000).map(String.init), shardSize: fanout.shardSize)
        #expect(plan.shardsPerRepetition == 20)
    }

    func message(_ yaml: String) -> String? {
        do {
            _ = try PlanFile.parse(yaml, path: "p.yaml")
            return nil
        } catch {
            return error.userMessage
        }
    }

    @Test func badPlansNameTheFileLineAndKey() {
        #expect(message("op: get-object-acl\nsizez: [128]\n") == "p.yaml:2: unknown key 'sizez' (known: target, op, sizes, strategies, invocations, shard_size, listing, cold)")
        #expect(message("target:\n  bukket: b\n")?.hasPrefix("p.yaml:2: unknown key 'target.bukket'") == true)
        #expect(message("sizes: [128, 64]\n")?.contains("p.yaml:1: 'sizes' holds '64'") == true)
        #expect(message("strategies: [serial, threads]\n")?.contains("'strategies' holds 'threads'") == true)
        #expect(message("invocations: 0\n")?.contains("'invocations' must be a whole number of at least 1") == true)
        #expect(message("op: put-object\n")?.contains("'op' is 'put-object'") == true)
        #expect(message("listing: sometimes\n")?.contains("use coordinator or invocation") == true)
        #expect(message("cold: maybe\n")?.contains("'cold' must be true or false") == true)
        #expect(message("- just\n- a list\n")?.contains("a plan is a mapping") == true)
        #expect(message("sizes: [128\n")?.contains("not valid YAML") == true)
    }

    @Test func aRefusedPlanCarriesItsFileAndLine() {
        let error = #expect(throws: PlanError.self) { try PlanFile.parse("op: get-object-acl\ninvocations: -1\n", path: "q.yaml") }
        #expect(error?.kind == .invalid && error?.context["file"] == "q.yaml" && error?.context["line"] == "2")
        #expect(error?.exitStatus == 2)
        #expect((#expect(throws: PlanError.self) { try PlanFile.load(path: "/nonexistent/plan.yaml") })?.kind == .unreadable)
    }
}
