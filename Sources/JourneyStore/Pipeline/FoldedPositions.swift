import JourneyCore
import Synchronization

/// The last position committed and folded by a write pipeline, and the streams that follow it
/// (`WritePipeline.positions()`).
///
/// Published on the fold queue, once a commit is folded, so a consumer that reads a position
/// and then queries sees every event up to it. Each stream keeps only the newest position it
/// has not delivered (`.bufferingNewest(1)`): a consumer that stalls costs one value, and on
/// resuming reads the latest position, never a backlog.
final class FoldedPositions: Sendable {
    private struct State {
        var position: UInt64
        var nextID = 0
        var streams: [Int: AsyncStream<Position>.Continuation] = [:]
        var finished = false
    }

    private let state: Mutex<State>

    init(position: UInt64) {
        state = Mutex(State(position: position))
    }

    /// A stream of the folded position: the current one first, then each later one.
    func stream() -> AsyncStream<Position> {
        let (stream, continuation) = AsyncStream.makeStream(of: Position.self, bufferingPolicy: .bufferingNewest(1))
        let id = state.withLock { s in
            defer { s.nextID += 1 }
            return s.nextID
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.streams.removeValue(forKey: id) }
        }
        let open = state.withLock { s -> Bool in
            // Yielded under the lock, so a position published meanwhile comes after it.
            continuation.yield(Position(s.position))
            guard !s.finished else { return false }
            s.streams[id] = continuation
            return true
        }
        if !open { continuation.finish() }
        return stream
    }

    /// Publishes `position` to every stream, when it is past the last one published.
    func publish(_ position: UInt64) {
        state.withLock { s in
            guard position > s.position else { return }
            s.position = position
            for c in s.streams.values { c.yield(Position(position)) }
        }
    }

    /// Ends every stream (the pipeline stopped); later streams yield the last position and end.
    func finish() {
        let streams = state.withLock { s in
            s.finished = true
            defer { s.streams.removeAll() }
            return Array(s.streams.values)
        }
        // Outside the lock: `finish` runs `onTermination`, which takes it.
        for c in streams { c.finish() }
    }
}
