import Dispatch
import Glibc
import JourneyProtocol
import Synchronization

/// The reading side of a streamed answer (a subscription): a dedicated thread reads lines from
/// the socket, so blocking reads never occupy the cooperative thread pool, and yields them to an
/// `AsyncThrowingStream`.
enum LineStream {
    /// Starts the reader thread.
    ///
    /// - Parameters:
    ///   - reader: bytes already read past the request's answer.
    ///   - credits: if set, how many decoded elements may wait for the consumer; past that the
    ///     thread stops reading until the consumer takes one (it must `give()` a credit per
    ///     element), so a slow consumer slows the daemon instead of growing memory.
    ///   - endOfStream: the error that ends the stream when the daemon closes the connection
    ///     cleanly; nil ends it without an error.
    ///   - decode: turns a line (and its index, from 0) into an element, nil to skip the line;
    ///     a throw ends the stream with that error and closes the connection.
    /// - Returns: the stream. When the consumer stops iterating or its task is cancelled, the
    ///   socket is shut down and the thread ends (the stream finishes without an error).
    static func start<Element: Sendable>(
        socket: ClientSocket, path: String, reader: LineReader, credits: StreamCredits?,
        endOfStream: ClientError? = nil,
        decode: @escaping @Sendable ([UInt8], Int) throws(ClientError) -> Element?
    ) -> AsyncThrowingStream<Element, Error> {
        AsyncThrowingStream { continuation in
            continuation.onTermination = { _ in
                socket.shutdown()
                credits?.close()
            }
            startThread {
                defer { socket.close() }
                var reader = reader
                var index = 0
                while true {
                    do {
                        guard let line = try reader.nextLine(fd: socket.fd, path: path) else {
                            if let endOfStream, !socket.isShutDown {
                                continuation.finish(throwing: endOfStream)
                            } else {
                                continuation.finish()
                            }
                            return
                        }
                        defer { index += 1 }
                        guard let element = try decode(line, index) else { continue }
                        if let credits, !credits.take() { return }
                        if case .terminated = continuation.yield(element) { return }
                    } catch {
                        // After the consumer stopped, the shutdown makes the read fail: not an error.
                        if socket.isShutDown {
                            continuation.finish()
                        } else {
                            continuation.finish(throwing: error)
                        }
                        return
                    }
                }
            }
        }
    }
}

/// A bound on the elements a stream's reader thread may have handed over and the consumer not
/// yet taken: the thread `take`s a credit before each element (waiting when none is left), the
/// consumer `give`s one back per element it receives.
final class StreamCredits: Sendable {
    private struct State {
        var available: Int
        var waiting = false
        var closed = false
    }
    private let state: Mutex<State>
    // Signalled only for a flagged waiter, so its count is back to 0 whenever nobody waits.
    private let wake = DispatchSemaphore(value: 0)

    init(_ count: Int) {
        state = Mutex(State(available: max(1, count)))
    }

    /// Takes a credit, waiting for one; false once closed.
    func take() -> Bool {
        while true {
            let outcome = state.withLock { state -> Bool? in
                if state.closed { return false }
                if state.available > 0 {
                    state.available -= 1
                    return true
                }
                state.waiting = true
                return nil
            }
            if let outcome { return outcome }
            wake.wait()
        }
    }

    /// Returns a credit.
    func give() {
        state.withLock { state in
            state.available += 1
            if state.waiting {
                state.waiting = false
                wake.signal()
            }
        }
    }

    /// Wakes a waiting `take` for good (the consumer went away).
    func close() {
        state.withLock { state in
            state.closed = true
            if state.waiting {
                state.waiting = false
                wake.signal()
            }
        }
    }
}
