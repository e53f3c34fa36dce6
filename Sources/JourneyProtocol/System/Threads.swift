import Glibc

// Detached threads for the blocking loops of the store, the daemon and the client (a
// subscription's reader), which must not occupy a Dispatch worker or the cooperative pool.

/// Starts a detached thread running `body` (for long-lived loops that must not occupy a
/// Dispatch worker).
package func startThread(_ body: @escaping @Sendable () -> Void) {
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
    pthread_detach(tid)
}
