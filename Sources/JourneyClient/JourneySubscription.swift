import JourneyCore
import JourneyProtocol

/// The events of the log from a position on, then each new one as it is committed (SPEC §2
/// subscribe): `for try await (position, event) in client.subscribe(from: 1) { … }`.
///
/// Each iteration opens its own connection when it starts (a failure to connect is the first
/// error thrown). Events are read on a dedicated thread and at most `buffer` of them wait for
/// the consumer. Leaving the loop or cancelling the task closes the connection; the daemon
/// going away ends the iteration with `ClientError.Code.connectionClosed`.
public struct JourneySubscription: AsyncSequence, Sendable {
    /// An event and its position in the log.
    public typealias Element = (position: Position, event: Event)
    /// The error iteration throws.
    public typealias Failure = ClientError

    /// The daemon's socket.
    public let socketPath: String
    /// The first position asked for.
    public let from: UInt64
    /// Most events read ahead of the consumer.
    public let buffer: Int

    init(socketPath: String, from: UInt64, buffer: Int) {
        self.socketPath = socketPath
        self.from = from
        self.buffer = buffer
    }

    /// Opens a connection, sends `{"op":"subscribe","from":N}`, and starts reading the stream on
    /// its own thread; a failure to connect or send is thrown by the iterator's first `next()`.
    public func makeAsyncIterator() -> AsyncIterator {
        let credits = StreamCredits(buffer)
        let from = self.from
        let path = socketPath
        let stream: AsyncThrowingStream<Element, Error>
        do {
            // The request is sent here (a short line into an empty socket: it does not block);
            // every read happens on the stream's thread.
            let socket = try JourneyConnection.openSocket(path: path, timeout: nil)
            do {
                try Syscall.sendAll(socket.fd, SubscribeRequest(from: from).line + [UInt8(ascii: "\n")])
            } catch {
                socket.close()
                throw ClientError(io: error, path: path)
            }
            let ended = ClientError(
                code: .connectionClosed,
                message: "journeyd at \(path) closed the subscription; subscribe again from the next position")
            stream = LineStream.start(socket: socket, path: path, reader: LineReader(), credits: credits, endOfStream: ended) {
                line, index throws(ClientError) in
                try Self.decode(line, index: index, from: from)
            }
        } catch {
            stream = AsyncThrowingStream { $0.finish(throwing: error) }
        }
        return AsyncIterator(inner: stream.makeAsyncIterator(), credits: credits)
    }

    /// Line 0 is the daemon's answer to `subscribe`; line i ≥ 1 is position `from + i − 1`.
    static func decode(_ line: [UInt8], index: Int, from: UInt64) throws(ClientError) -> Element? {
        if index == 0 {
            _ = try JourneyClient.decode(SubscribeAnswer.self, line, op: "subscribe")
            return nil
        }
        let decoded: Result<SubscriptionEvent, ProtocolError>
        do {
            decoded = try SubscriptionEvent.decode(line)
        } catch {
            throw JourneyClient.badAnswer("subscribe", error.reason)
        }
        switch decoded {
        case .failure(let e):
            throw ClientError(e)
        case .success(let s):
            let expected = from + UInt64(index - 1)
            guard s.position == expected else {
                throw JourneyClient.badAnswer("subscribe", "position \(s.position) where \(expected) was next")
            }
            return (Position(s.position), s.event)
        }
    }

    /// Reads the subscription; returns a credit to the reader thread per event taken.
    public struct AsyncIterator: AsyncIteratorProtocol {
        /// An event and its position in the log.
        public typealias Element = JourneySubscription.Element
        /// The error iteration throws.
        public typealias Failure = ClientError

        private var inner: AsyncThrowingStream<Element, Error>.Iterator
        private let credits: StreamCredits

        init(inner: AsyncThrowingStream<Element, Error>.Iterator, credits: StreamCredits) {
            self.inner = inner
            self.credits = credits
        }

        /// The next event, waiting for it; nil once the stream has finished without an error (e.g. the task
        /// was cancelled).
        ///
        /// - Throws: `ClientError`, e.g. `connectionClosed` when the daemon goes away, `badAnswer` for a
        ///   line out of order or not an event, or the daemon's error that ended the stream.
        public mutating func next() async throws(ClientError) -> Element? {
            try await next(isolation: nil)
        }

        /// The next event, as `next()`, awaited in the isolation of `actor`.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(ClientError) -> Element? {
            do {
                let element = try await inner.next(isolation: actor)
                if element != nil { credits.give() }
                return element
            } catch let error as ClientError {
                throw error
            } catch {
                throw ClientError(code: .ioFailed, message: "subscription: \(error)")
            }
        }
    }
}
