import Dispatch
import Foundation
import Synchronization

/// The threads that run request handlers: off the I/O thread, and allowed to block.
///
/// Not a Dispatch queue: on Linux, libdispatch does not add threads when its workers block (a
/// handler waiting for a group-commit fsync), so a few blocked handlers would stall every other
/// request. This pool starts a thread whenever a job arrives and none is idle (up to
/// `maxThreads`), and lets threads beyond `keepThreads` exit after a while idle.
final class HandlerPool: Sendable {
    private struct State {
        var jobs = ArrayQueue<@Sendable () -> Void>(compactAfter: 1024)
        var threads = 0
        var idle = 0
        /// Jobs signalled to idle workers but not yet taken.
        var signalled = 0
        var shuttingDown = false
    }
    private let state = Mutex(State())
    private let available = DispatchSemaphore(value: 0)
    private let keepThreads: Int
    private let maxThreads: Int
    private let idleTimeout: DispatchTimeInterval

    init(keepThreads: Int = 4, maxThreads: Int = 256, idleTimeout: DispatchTimeInterval = .seconds(10)) {
        self.keepThreads = keepThreads
        self.maxThreads = maxThreads
        self.idleTimeout = idleTimeout
    }

    /// Runs `job` on a pool thread, starting one if all are busy.
    func submit(_ job: @escaping @Sendable () -> Void) {
        let spawn = state.withLock { state -> Bool in
            state.jobs.push(job)
            if state.idle > state.signalled {
                state.signalled += 1
                return false
            }
            guard state.threads < maxThreads else { return false }
            state.threads += 1
            return true
        }
        if spawn {
            let thread = Thread { [self] in work() }
            thread.name = "journeyd-handler"
            thread.start()
        } else {
            available.signal()
        }
    }

    /// Lets every thread exit once the queued jobs are done (running handlers finish first).
    func shutdown() {
        let idle = state.withLock { state -> Int in
            state.shuttingDown = true
            return state.threads
        }
        for _ in 0..<idle { available.signal() }
    }

    private func work() {
        while true {
            // Take queued work first; wait only when there is none.
            let job = state.withLock { state -> (@Sendable () -> Void)? in
                guard !state.jobs.isEmpty else {
                    state.idle += 1
                    return nil
                }
                return state.jobs.pop()
            }
            if let job {
                job()
                continue
            }
            let woken = available.wait(timeout: .now() + idleTimeout) == .success
            let next = state.withLock { state -> (job: (@Sendable () -> Void)?, exit: Bool) in
                state.idle -= 1
                if woken { state.signalled -= 1 }
                if !state.jobs.isEmpty { return (state.jobs.pop(), false) }
                if state.shuttingDown || (!woken && state.threads > keepThreads) {
                    state.threads -= 1
                    return (nil, true)
                }
                return (nil, false)
            }
            if next.exit { return }
            next.job?()
        }
    }
}
