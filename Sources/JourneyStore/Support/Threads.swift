import Dispatch
import Glibc
import Synchronization

/// A thread started by `startJoinableThread`: `join()` returns once it has ended and released
/// everything its body held.
package struct JoinableThread: Sendable {
    // A pthread_t is an integer handle on Linux; joined exactly once, by `join()`.
    private let tid: pthread_t

    fileprivate init(_ tid: pthread_t) { self.tid = tid }

    /// Waits for the thread to end. The corresponding C function is `pthread_join`.
    package func join() {
        pthread_join(tid, nil)
    }

    /// True when called on this thread.
    package var isCurrent: Bool { pthread_equal(tid, pthread_self()) != 0 }
}

/// Starts a thread running `body` that its owner joins (see `JoinableThread`).
package func startJoinableThread(_ body: @escaping @Sendable () -> Void) -> JoinableThread {
    final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var tid = pthread_t()
    let rc = pthread_create(&tid, nil, { arg in
        let b = Unmanaged<AnyObject>.fromOpaque(arg!).takeRetainedValue()
        (b as! Box).body()
        return nil
    }, box)
    precondition(rc == 0, "pthread_create failed: \(rc)")
    return JoinableThread(tid)
}

/// A bounded first-in, first-out hand-off from one thread to another: `put` waits while
/// `capacity` items are waiting.
package final class HandOff<T: Sendable>: Sendable {
    private let items = Mutex<[T]>([])
    private let waiting = DispatchSemaphore(value: 0)
    private let room: DispatchSemaphore
    private let cancelled = Atomic<Bool>(false)

    package init(capacity: Int) {
        precondition(capacity >= 1, "capacity must be at least 1")
        room = DispatchSemaphore(value: capacity)
    }

    package func put(_ item: T) {
        room.wait()
        items.withLock { $0.append(item) }
        waiting.signal()
    }

    /// Tells the producer to stop early (it still ends with its last item).
    package func cancel() { cancelled.store(true, ordering: .relaxed) }

    package var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

    package func take() -> T {
        waiting.wait()
        return removeFirst()
    }

    private func removeFirst() -> T {
        let item = items.withLock { $0.removeFirst() }
        room.signal()
        return item
    }
}
