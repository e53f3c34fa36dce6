import Glibc

// Detached threads for the blocking loops of the store, the daemon and the client (a
// subscription's reader), which must not occupy a Dispatch worker or the cooperative pool.

/// Starts a detached thread running `body` (for long-lived loops that must not occupy a
/// Dispatch worker).
package func startThread(_ body: @escaping @Sendable () -> Void) {
    startJoinableThread(body).detach()
}

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

    /// Lets the thread end on its own; it cannot be joined after. The corresponding C function
    /// is `pthread_detach`.
    package func detach() {
        pthread_detach(tid)
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
