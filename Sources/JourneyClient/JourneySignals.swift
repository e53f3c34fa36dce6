import JourneyCore
import JourneyProtocol

/// A consumer's signals (SPEC §3.7), from after its last acknowledged seq (or after `from`)
/// on, then each new one as it is stored:
///
/// ```swift
/// let signals = client.signals(consumer: "outreach")
/// for try await signal in signals {
///     try await call(signal.patient)
///     try await signals.ack(signal.seq)     // durable: the next stream starts after it
/// }
/// ```
///
/// Each iteration opens its own connection when it starts (a failure to connect is the first
/// error thrown); at most `buffer` signals are read ahead of the consumer, past that the daemon
/// waits (and disconnects a consumer stalled for long). Leaving the loop or cancelling the task
/// closes the connection; the daemon going away ends the iteration with `connectionClosed`.
/// Delivery is at least once: what was not acknowledged comes again on the next stream.
public struct JourneySignals: AsyncSequence, Sendable {
    /// A stored signal.
    public typealias Element = Signal
    /// The error iteration throws.
    public typealias Failure = ClientError

    /// The daemon's socket.
    public let socketPath: String
    /// The consumer's name.
    public let consumer: String
    /// Start after this seq instead of after the consumer's acknowledged one.
    public let from: UInt64?
    /// Most signals read ahead of the consumer.
    public let buffer: Int
    /// Who reads the stream and why, recorded by the daemon in its read audit with the
    /// patients of every batch it sends.
    public let requester: Requester?

    init(socketPath: String, consumer: String, from: UInt64?, buffer: Int, requester: Requester?) {
        self.socketPath = socketPath
        self.consumer = consumer
        self.from = from
        self.buffer = buffer
        self.requester = requester
    }

    /// Acknowledges, durably, every signal up to `seq` for this consumer (on a connection of
    /// its own); answers the consumer's acknowledged seq, which never moves back.
    @discardableResult
    public func ack(_ seq: UInt64) async throws(ClientError) -> UInt64 {
        let client = try JourneyClient(socketPath: socketPath)
        return try await client.ack(consumer: consumer, seq: seq)
    }

    /// Opens a connection, sends `{"op":"signals",…}` and starts reading on its own thread.
    public func makeAsyncIterator() -> AsyncIterator {
        let credits = StreamCredits(buffer)
        let path = socketPath
        let stream: AsyncThrowingStream<Signal, Error>
        do {
            let socket = try JourneyConnection.openSocket(path: path, timeout: nil)
            do {
                let line = SignalsRequest(consumer: consumer, from: from).line
                try Syscall.sendAll(socket.fd, (requester?.adding(to: line) ?? line) + [UInt8(ascii: "\n")])
            } catch {
                socket.close()
                throw ClientError(io: error, path: path)
            }
            let ended = ClientError(
                code: .connectionClosed,
                message: "journeyd at \(path) closed the signal stream; read again (unacknowledged signals come again)")
            stream = LineStream.start(socket: socket, path: path, reader: LineReader(), credits: credits, endOfStream: ended) {
                line, index throws(ClientError) in
                try Self.decode(line, index: index)
            }
        } catch {
            stream = AsyncThrowingStream { $0.finish(throwing: error) }
        }
        return AsyncIterator(inner: stream.makeAsyncIterator(), credits: credits)
    }

    /// Line 0 is the daemon's answer to `signals`; the others are signals.
    static func decode(_ line: [UInt8], index: Int) throws(ClientError) -> Signal? {
        if index == 0 {
            _ = try JourneyClient.decode(SignalsAnswer.self, line, op: "signals")
            return nil
        }
        let decoded: Result<Signal, ProtocolError>
        do {
            decoded = try SignalsAnswer.decodeSignal(line)
        } catch {
            throw JourneyClient.badAnswer("signals", error.reason)
        }
        switch decoded {
        case .failure(let e): throw ClientError(e)
        case .success(let s): return s
        }
    }

    /// Reads the stream; returns a credit to the reader thread per signal taken.
    public struct AsyncIterator: AsyncIteratorProtocol {
        /// A stored signal.
        public typealias Element = Signal
        /// The error iteration throws.
        public typealias Failure = ClientError

        private var inner: AsyncThrowingStream<Signal, Error>.Iterator
        private let credits: StreamCredits
        private var last: UInt64 = 0

        init(inner: AsyncThrowingStream<Signal, Error>.Iterator, credits: StreamCredits) {
            self.inner = inner
            self.credits = credits
        }

        /// The next signal, waiting for it; nil once the stream finished without an error.
        ///
        /// - Throws: `ClientError`, e.g. `connectionClosed` when the daemon goes away, `badAnswer`
        ///   for a line that is not a signal or a seq out of order.
        public mutating func next() async throws(ClientError) -> Signal? {
            try await next(isolation: nil)
        }

        /// The next signal, as `next()`, awaited in the isolation of `actor`.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(ClientError) -> Signal? {
            do {
                guard let s = try await inner.next(isolation: actor) else { return nil }
                credits.give()
                guard s.seq > last else { throw JourneyClient.badAnswer("signals", "seq \(s.seq) after \(last)") }
                last = s.seq
                return s
            } catch let error as ClientError {
                throw error
            } catch {
                throw ClientError(code: .ioFailed, message: "signals: \(error)")
            }
        }
    }
}

extension JourneyClient {
    /// Consumer `consumer`'s signals: after its last acknowledged seq (or after `from`), then
    /// each new one as it is stored, on a connection of its own (see `JourneySignals`).
    public func signals(consumer: String, from: UInt64? = nil, buffer: Int = 1024, as requester: Requester? = nil) -> JourneySignals {
        JourneySignals(socketPath: socketPath, consumer: consumer, from: from, buffer: buffer, requester: requester)
    }

    /// Acknowledges, durably, every signal up to `seq` for `consumer`; answers its acknowledged
    /// seq, which never moves back.
    ///
    /// - Throws: `ClientError` `not_found` for a consumer that never read, `bad_request` for a
    ///   seq past the latest signal.
    @discardableResult
    public func ack(consumer: String, seq: UInt64) async throws(ClientError) -> UInt64 {
        try Self.decode(AckAnswer.self, try await send(AckRequest(consumer: consumer, seq: seq).line, op: "ack"), op: "ack").acked
    }
}
