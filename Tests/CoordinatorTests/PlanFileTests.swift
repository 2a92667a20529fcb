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
        #expect(seed.profile == "lambda-same-region")
        let fanout = try PlanFile.load(path: Self.root.appendingPathComponent("plans/fanout.yaml").path)
        #expect(fanout.objects == 10_000)
        #expect(fanout.shardSize == 500)
        let plan = try RunPlan.make(sizes: try #require(fanout.sizes), strategies: try #require(fanout.strategies),
                                    invocations: fanout.invocations!, keys: (0..<10_000).map(String.init), shardSize: fanout.shardSize)
        #expect(plan.shardsPerRepetition == 20)
        let python = try PlanFile.load(path: Self.root.appendingPathComponent("plans/seed-python.yaml").path)
        #expect(python.strategies?.compactMap(\.functionName) == ["boto3-serial", "boto3-threads", "aioboto3"])
        let serial = try #require(python.functions?["boto3-serial"])
        #expect(serial.command.suffix(3) == ["-m", "awslambdaric", "serial.handler"])
        #expect(serial.code == Self.root.appendingPathComponent("examples/seed-python").standardizedFileURL.path)
        #expect(serial.env == ["BUCKET_NAME": "fanbench-seed"])
        #expect(serial.handlerName == "serial.handler")
        #expect(python.listing == .invocation)
    }

    @Test func functionsParseWithTheirDefaults() throws {
        let folder = FileManager.default.temporaryDirectory.path
        let plan = try PlanFile.parse("""
            functions:
              bash: {command: ./bootstrap, code: \(folder)}
              py:
                command: [python3, -m, awslambdaric, app.handler]
                code: \(folder)
                handler: app.handler
                env: {BUCKET_NAME: b, MODE: "1"}
                timeout_s: 2.5
                init_timeout_s: 3
            strategies: [serial, "function:bash", "function:py"]
            """, path: "p.yaml")
        let bash = try #require(plan.functions?["bash"])
        #expect(bash.command == ["./bootstrap"])
        #expect(bash.handlerName == "function.handler")
        #expect(bash.timeoutS == 30 && bash.initTimeoutS == 10)
        let py = try #require(plan.functions?["py"])
        #expect(py.env == ["BUCKET_NAME": "b", "MODE": "1"])
        #expect(py.timeoutS == 2.5 && py.initTimeoutS == 3)
        #expect(plan.strategies == [.serial, .function("bash"), .function("py")])
    }

    @Test func badFunctionsAreRefusedWithWhatToDo() {
        let tmp = FileManager.default.temporaryDirectory.path
        #expect(message("strategies: [\"function:nope\"]\n")?.contains("'strategies' names function:nope, which 'functions' does not define") == true)
        #expect(message("functions:\n  a: {command: [x], code: /no/such/folder}\n")?
            .contains("function 'a': code folder '/no/such/folder' does not exist") == true)
        #expect(message("functions:\n  a: {code: \(tmp)}\n")?.contains("function 'a' needs a command") == true)
        #expect(message("functions:\n  a: {command: [x], code: \(tmp), timeout_s: 0}\n")?.contains("from more than 0 to 900") == true)
        #expect(message("functions:\n  a: {command: [x], code: \(tmp), memory: 5}\n")?.contains("unknown key 'functions.a.memory'") == true)
        #expect(message("functions:\n  'a b': {command: [x], code: \(tmp)}\n")?.contains("function name 'a b'") == true)
        #expect(message("functions:\n  a: {command: [x], code: \(tmp), env: {AWS_LAMBDA_RUNTIME_API: x}}\n")?.contains("cannot be set") == true)
        #expect(message("strategies: [\"function:\"]\n")?.contains("needs a function name") == true)
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
        #expect(message("op: get-object-acl\nsizez: [128]\n") == "p.yaml:2: unknown key 'sizez' (known: target, profile, op, sizes, strategies, invocations, shard_size, listing, cold, functions, tune)")
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
