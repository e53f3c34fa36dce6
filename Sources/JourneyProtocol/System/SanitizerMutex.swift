#if SANITIZER_LOCKS
import Glibc

/// A lock ThreadSanitizer can see, used instead of `Synchronization.Mutex` in builds compiled
/// with `-DSANITIZER_LOCKS` (`scripts/sanitize thread`).
///
/// On Linux, `Synchronization.Mutex` hands a contended lock over inside the kernel (a PI futex),
/// where ThreadSanitizer sees no acquire or release: every contended critical section would be
/// reported as a data race. A pthread mutex is intercepted by the sanitizer, so only real races
/// remain. Same `init` and `withLock` as `Mutex`; each module names it `Mutex` in such builds.
package final class SanitizerMutex<Value: ~Copyable>: @unchecked Sendable {
    // The value lives outside the object: a zero-sized value (`Mutex<Void>`) stored inline would
    // share its address with `lock`, and Swift's access checks would report that as a race.
    private let value: UnsafeMutablePointer<Value>
    private let lock: UnsafeMutablePointer<pthread_mutex_t>

    package init(_ initialValue: consuming sending Value) {
        value = .allocate(capacity: 1)
        value.initialize(to: initialValue)
        lock = .allocate(capacity: 1)
        pthread_mutex_init(lock, nil)
    }

    deinit {
        value.deinitialize(count: 1)
        value.deallocate()
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }

    package func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return try body(&value.pointee)
    }
}

typealias Mutex<Value: ~Copyable> = SanitizerMutex<Value>
#endif
