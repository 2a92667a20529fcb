@testable import FanbenchWorker
import Synchronization
import Testing

@Suite struct StopSignalTests {
    @Test func aStopRunsWhatWasLastAskedOnceAndLaterAsksRunAtOnce() {
        let signal = StopSignal()
        let ran = Mutex([String]())
        signal.whenStopped { ran.withLock { $0.append("idle") } }
        signal.whenStopped { ran.withLock { $0.append("busy") } }
        #expect(!signal.isStopped)
        signal.stop()
        signal.stop()
        #expect(ran.withLock { $0 } == ["busy"], "only the latest action, once")
        signal.whenStopped { ran.withLock { $0.append("after") } }
        #expect(ran.withLock { $0 } == ["busy", "after"], "asked after the stop: done at once")
    }
}

@Suite struct OnThreadsTests {
    @Test func resultsComeBackInIndexOrder() async {
        #expect(await onThreads(4) { $0 * 10 } == [0, 10, 20, 30])
    }

    @Test func zeroThreadsReturnAtOnce() async {
        #expect(await onThreads(0) { $0 }.isEmpty)
    }
}
