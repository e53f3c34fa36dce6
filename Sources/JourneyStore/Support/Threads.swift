import Dispatch
import Glibc
import Synchronization

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
