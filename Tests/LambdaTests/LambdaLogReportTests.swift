import FanbenchLambda
import Foundation
import Testing

@Suite struct LambdaLogReportTests {
    // Real Lambda (provided.al2023, a cold start): Init Duration comes last, fields tab-separated.
    @Test func realLambdaColdStartWithInitLast() throws {
        let log = """
            START RequestId: 6d1a0c54-8f3e-4b7e-9a7c-2f1b0a9e3c11 Version: $LATEST
            handler output line
            END RequestId: 6d1a0c54-8f3e-4b7e-9a7c-2f1b0a9e3c11
            REPORT RequestId: 6d1a0c54-8f3e-4b7e-9a7c-2f1b0a9e3c11\tDuration: 1523.47 ms\tBilled Duration: 1688 ms\tMemory Size: 1024 MB\tMax Memory Used: 53 MB\tInit Duration: 164.22 ms\t
            """
        let r = try #require(LambdaLogReport.parse(log: log))
        #expect(r.requestId == "6d1a0c54-8f3e-4b7e-9a7c-2f1b0a9e3c11")
        #expect(r.durationMs == 1523.47)
        #expect(r.billedDurationMs == 1688)
        #expect(r.memorySizeMB == 1024)
        #expect(r.maxMemoryUsedMB == 53)
        #expect(r.initDurationMs == 164.22)
    }

    // A warm invocation: no Init Duration at all.
    @Test func warmInvocationHasNoInit() throws {
        let line = "REPORT RequestId: 3604209a-e9a3-11e6-939a-754dd98c7be3\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 18 MB\t"
        let r = try #require(LambdaLogReport.parse(log: line))
        #expect(r.durationMs == 12.34)
        #expect(r.billedDurationMs == 13)
        #expect(r.initDurationMs == nil)
        #expect(r.maxMemoryUsedMB == 18)
    }

    // AWS's Runtime Interface Emulator: Init Duration first, fields separated by spaces.
    @Test func emulatorOrderWithSpaces() throws {
        let line = "REPORT RequestId: 8f507cfc-b1fd-4a6e-a8a5-91b9fd3b6f3d  Init Duration: 0.22 ms  Duration: 1.70 ms  Billed Duration: 2 ms  Memory Size: 3008 MB  Max Memory Used: 3008 MB"
        let r = try #require(LambdaLogReport.parse(log: line))
        #expect(r.initDurationMs == 0.22)
        #expect(r.durationMs == 1.70)
        #expect(r.billedDurationMs == 2)
        #expect(r.memorySizeMB == 3008)
        #expect(r.maxMemoryUsedMB == 3008)
    }

    // A timeout with X-Ray fields and Lambda's newer Status/Error Type fields; an upper-case
    // request id whose letters run into the next label when fields are space-separated.
    @Test func timeoutWithStatusAndXRay() throws {
        let line = "REPORT RequestId: ABCDEF01-2345-6789-ABCD-EF0123456789 Duration: 3000.00 ms Billed Duration: 3000 ms Memory Size: 128 MB Max Memory Used: 40 MB Status: timeout Error Type: Sandbox.Timedout \nXRAY TraceId: 1-5e1b4151-5ac6c58f0ea8b7e43bf4bb7c\tSegmentId: 6ed6e9a0a6f1ec2f\tSampled: true"
        let r = try #require(LambdaLogReport.parse(log: line))
        #expect(r.durationMs == 3000)
        #expect(r.billedDurationMs == 3000)
        #expect(r.status == "timeout")
        #expect(r.errorType == "Sandbox.Timedout")
    }

    // The JSON log format's platform.report record.
    @Test func jsonLogFormat() throws {
        let log = """
            {"time":"2024-05-01T12:00:00.000Z","type":"platform.start","record":{"requestId":"79b4f56e-95b1-4643-9700-2807f4e68189","version":"$LATEST"}}
            {"time":"2024-05-01T12:00:00.100Z","type":"platform.report","record":{"requestId":"79b4f56e-95b1-4643-9700-2807f4e68189","metrics":{"durationMs":2.22,"billedDurationMs":3,"memorySizeMB":512,"maxMemoryUsedMB":68,"initDurationMs":195.7},"status":"success"}}
            """
        let r = try #require(LambdaLogReport.parse(log: log))
        #expect(r.requestId == "79b4f56e-95b1-4643-9700-2807f4e68189")
        #expect(r.durationMs == 2.22)
        #expect(r.billedDurationMs == 3)
        #expect(r.memorySizeMB == 512)
        #expect(r.maxMemoryUsedMB == 68)
        #expect(r.initDurationMs == 195.7)
        #expect(r.status == "success")
    }

    // The last REPORT of a tail wins; base64 as X-Amz-Log-Result carries it.
    @Test func lastReportOfBase64Tail() throws {
        let log = "REPORT RequestId: a\tDuration: 1.00 ms\tBilled Duration: 1 ms\nREPORT RequestId: b\tDuration: 2.50 ms\tBilled Duration: 3 ms\n"
        let r = try #require(LambdaLogReport.parse(logResult: Data(log.utf8).base64EncodedString()))
        #expect(r.requestId == "b")
        #expect(r.billedDurationMs == 3)
    }

    @Test func noReportNoFigures() {
        #expect(LambdaLogReport.parse(log: "START RequestId: x\nEND RequestId: x\n") == nil)
        #expect(LambdaLogReport.parse(log: "REPORT RequestId: x\tMemory Size: 128 MB") == nil)
        #expect(LambdaLogReport.parse(logResult: "not base64!") == nil)
        #expect(LambdaLogReport.parse(log: "{\"type\":\"platform.report\",\"record\":{}}") == nil)
    }

    // Older Lambda lines as log tools of the time parse them: a space before the tab after Billed
    // Duration, 100 ms billing steps; and an out-of-memory kill, where Max Memory Used passes Memory Size.
    @Test func olderLinesAndAnOutOfMemoryKill() throws {
        let older = try #require(LambdaLogReport.parse(log: "REPORT RequestId: 0b7d4a1e-3c2f-11e8-9a4b-5f3c2d1e0a9b\tDuration: 2345.67 ms\tBilled Duration: 2400 ms \tMemory Size: 1024 MB\tMax Memory Used: 98 MB\t\n"))
        #expect(older.durationMs == 2345.67 && older.billedDurationMs == 2400 && older.memorySizeMB == 1024 && older.maxMemoryUsedMB == 98)
        let oom = try #require(LambdaLogReport.parse(log: """
            START RequestId: 5e2a9c7d-1b3f-4d6e-8a0c-9f7b6e5d4c3b Version: $LATEST
            fatal error: out of memory
            END RequestId: 5e2a9c7d-1b3f-4d6e-8a0c-9f7b6e5d4c3b
            REPORT RequestId: 5e2a9c7d-1b3f-4d6e-8a0c-9f7b6e5d4c3b Duration: 18234.50 ms Billed Duration: 18300 ms Memory Size: 128 MB Max Memory Used: 129 MB
            RequestId: 5e2a9c7d-1b3f-4d6e-8a0c-9f7b6e5d4c3b Process exited before completing request
            """))
        #expect(oom.billedDurationMs == 18300 && oom.memorySizeMB == 128 && oom.maxMemoryUsedMB == 129)
    }
}
