import JourneyCore
import Synchronization

/// The signals of a store for one named consumer (SPEC §3.7), in seq order: those stored after
/// the consumer's last acknowledged seq (or after `from`), then each new one as it is stored.
///
/// ```swift
/// let stream = try engine.signals(consumer: "outreach", as: "outreach-service")
/// for try await signal in stream {
///     try await call(signal.patient)
///     try stream.ack(signal.seq)        // durable: a restart resumes after it
/// }
/// ```
///
/// Each iterator reads the store in chunks as it is iterated, so a consumer that stops reading
/// holds one chunk and slows no append. Each chunk is recorded in the read audit (op `signals`,
/// the consumer, its seqs, the patients it names) before any of it is returned; when that
/// record cannot be made durable, iteration throws `AuditUnavailable`. Delivery is at least once: what is not acknowledged is
/// delivered again to the next stream of the same consumer. Iteration ends (nil) when the
/// engine is released or the iterating task is cancelled.
public struct SignalStream: AsyncSequence, Sendable {
    /// A stored signal.
    public typealias Element = Signal
    /// The error iteration throws: a `StoreError`, or `AuditUnavailable`.
    public typealias Failure = any Error

    /// The consumer's name.
    public let consumer: String
    /// The seq after which the stream starts.
    public let after: UInt64
    let log: EventLog
    let wakes: SignalWakes
    /// The read audit each chunk is recorded in, and who reads.
    let audit: AuditLog
    let reader: AuditContext

    /// Acknowledges, durably, every signal up to `seq` for this stream's consumer (see
    /// `JourneyEngine.ackSignals`).
    @discardableResult
    public func ack(_ seq: UInt64) throws(StoreError) -> EventLog.SignalConsumer {
        try log.ackSignals(consumer: consumer, seq: seq)
    }

    /// Starts reading after `after`.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(log: log, consumer: consumer, audit: audit, reader: reader, last: after, waiter: SignalWakes.Waiter(wakes))
    }

    /// Reads the stream.
    public struct AsyncIterator: AsyncIteratorProtocol {
        /// A stored signal.
        public typealias Element = Signal
        /// The error iteration throws: a `StoreError`, or `AuditUnavailable`.
        public typealias Failure = any Error

        let log: EventLog
        let consumer: String
        let audit: AuditLog
        let reader: AuditContext
        var last: UInt64
        let waiter: SignalWakes.Waiter
        var buffered: [Signal] = []
        var index = 0
        /// Signals read from the store at a time.
        static let chunk = 256

        /// The next signal, waiting for one to be stored; nil once the engine is released or
        /// the task cancelled.
        public mutating func next() async throws -> Signal? {
            while true {
                if index < buffered.count {
                    let s = buffered[index]
                    index += 1
                    last = s.seq
                    return s
                }
                if Task.isCancelled { return nil }
                let chunk = try log.signals(after: last, limit: Self.chunk)
                if let first = chunk.first, let end = chunk.last {
                    try audit.record(SignalDisclosure.entry(consumer: consumer, first: first.seq, last: end.seq,
                                                            patients: chunk.map(\.patient), to: reader))
                }
                buffered = chunk
                index = 0
                if !buffered.isEmpty { continue }
                guard await waiter.wait() else { return nil }
            }
        }
    }
}

/// Wakes the signal streams of an engine after each commit (they then read the store).
final class SignalWakes: Sendable {
    private let waiters = Mutex<[ObjectIdentifier: AsyncStream<Void>.Continuation]>([:])

    /// Wakes every stream (on the writer thread: only yields).
    func wakeAll() {
        for c in waiters.withLock({ Array($0.values) }) { c.yield() }
    }

    /// Ends every stream's wait for good (the engine is going away).
    func finishAll() {
        for c in waiters.withLock({ Array($0.values) }) { c.finish() }
    }

    /// One stream's registration: at most one pending wake-up is kept.
    final class Waiter: @unchecked Sendable {
        // Unchecked: the iterator that owns it is used from one task at a time; `wakes` is Sendable.
        private let wakes: SignalWakes
        private var iterator: AsyncStream<Void>.Iterator

        init(_ wakes: SignalWakes) {
            self.wakes = wakes
            let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
            iterator = stream.makeAsyncIterator()
            wakes.waiters.withLock { $0[ObjectIdentifier(self)] = continuation }
        }

        deinit {
            _ = wakes.waiters.withLock { $0.removeValue(forKey: ObjectIdentifier(self)) }
        }

        /// Waits for the next commit; false when the engine went away.
        func wait() async -> Bool {
            await iterator.next() != nil
        }
    }
}
