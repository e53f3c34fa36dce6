import Dispatch
import Glibc
import JourneyCore
import JourneyProtocol
import Synchronization

/// A typed client for `journeyd`: send events, ask for a patient's context, follow the log.
///
/// ```swift
/// let journey = try JourneyClient(dataDirectory: "/var/lib/journey")
/// let outcomes = try await journey.append([event])      // after the daemon's fsync
/// let context = try await journey.handoff(id: "p-1")    // HandoffContext (SPEC §3.3)
/// ```
///
/// Safe to share between tasks: requests go out one at a time, in call order, on a serial
/// Dispatch queue, so blocking socket I/O never occupies the cooperative thread pool. Open
/// several clients to have requests in flight together (the daemon commits the appends of all
/// its clients together). Every read and write is bounded by `timeout`.
///
/// A request that fails in transport (timeout, daemon gone, task cancelled) drops the
/// connection; the next request connects again. An `append` whose answer was lost may be sent
/// again safely: events are idempotent by `id`, and those already stored come back as
/// `.duplicate`.
public final class JourneyClient: Sendable {
    /// The daemon's socket.
    public let socketPath: String
    /// The limit on each read and write of a request (nil: none). Subscriptions have none.
    public let timeout: Duration?

    private let queue = DispatchQueue(label: "journey-client")
    private let state: Mutex<State>

    /// A connection with the bytes read past its last answer.
    private struct Link: Sendable {
        let socket: ClientSocket
        var reader = LineReader()
    }

    private struct State: Sendable {
        /// The connection between requests.
        var idle: Link?
        /// The socket of the request being answered, for `close()`.
        var inFlight: ClientSocket?
        var closed = false
    }

    /// Connects to the daemon listening at `socketPath`.
    ///
    /// - Throws: `ClientError` with code `notRunning` when nothing listens there.
    public init(socketPath: String, timeout: Duration? = .seconds(30)) throws(ClientError) {
        self.socketPath = socketPath
        self.timeout = timeout
        let socket = try JourneyConnection.openSocket(path: socketPath, timeout: timeout)
        state = Mutex(State(idle: Link(socket: socket)))
    }

    /// Connects to the daemon serving the data directory `dataDirectory`: on the socket the
    /// store's writer recorded in its lock file (`StoreHolder.read(directory:)`), whatever its
    /// `--socket`, else on
    /// `dataDirectory/journeyd.sock`, where `journeyd serve --data` puts it by default.
    public convenience init(dataDirectory: String, timeout: Duration? = .seconds(30)) throws(ClientError) {
        let socket = StoreHolder.read(directory: dataDirectory)?.socket ?? Self.socketPath(dataDirectory: dataDirectory)
        try self.init(socketPath: socket, timeout: timeout)
    }

    /// The default socket of the daemon serving `dataDirectory`.
    public static func socketPath(dataDirectory: String) -> String {
        var directory = Substring(dataDirectory)
        while directory.count > 1 && directory.hasSuffix("/") { directory = directory.dropLast() }
        return directory + "/journeyd.sock"
    }

    deinit {
        state.withLock { $0.idle?.socket.close() }
    }

    /// Closes the connection; a request in flight fails, later requests fail with
    /// `connectionClosed`. Subscriptions have their own connections and are not affected.
    public func close() {
        state.withLock { state in
            state.closed = true
            state.idle?.socket.close()
            state.idle = nil
            state.inFlight?.shutdown()
        }
    }

    // MARK: - Ops

    /// Appends `events` as one atomic batch and returns, once the daemon has made them durable,
    /// one outcome per event, in order: `.appended(position)`, or `.duplicate(position)` for an
    /// event already stored with the same content.
    ///
    /// - Throws: `ClientError` with the daemon's code: `conflict` (an id already stored with
    ///   other content) or `invalidEvent` (which event, which field, why) — then nothing of the
    ///   batch was appended; or a transport error (then the batch may or may not be stored).
    public func append(_ events: [Event]) async throws(ClientError) -> [AppendOutcome] {
        if events.isEmpty { return [] }
        let answer = try await send(AppendRequest(events: events).line, op: "append")
        return try Self.outcomes(try Self.decode(AppendAnswer.self, answer, op: "append"), count: events.count)
    }

    /// Appends each of `batches` as its own atomic batch, pipelined on one connection: up to
    /// `window` requests are in flight at once, so one client gets many batches into each of
    /// the daemon's group commits instead of one. The daemon commits them in order.
    ///
    /// - Returns: one result per batch, in order: its outcomes (as `append` returns them), or
    ///   the daemon's error for that batch alone (`conflict`, `invalidEvent`: nothing of that
    ///   batch was appended; the other batches are not affected).
    /// - Throws: a transport error; then any batch may or may not be stored (sending them all
    ///   again is safe: events are idempotent by `id`).
    public func append(batches: [[Event]], window: Int = 32) async throws(ClientError)
        -> [Result<[AppendOutcome], ClientError>]
    {
        let lines = batches.filter { !$0.isEmpty }.map { AppendRequest(events: $0).line }
        let token = RequestToken()
        let window = max(1, window)
        let result: Result<[[UInt8]], ClientError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                queue.async {
                    continuation.resume(returning: Result { () throws(ClientError) in
                        try self.exchange(lines, window: window, token)
                    })
                }
            }
        } onCancel: {
            token.cancel()
        }
        var answers = try result.get()[...]
        return batches.map { batch in
            if batch.isEmpty { return .success([]) }
            let bytes = answers.removeFirst()
            return Result { () throws(ClientError) in
                try Self.outcomes(try Self.decode(AppendAnswer.self, bytes, op: "append"), count: batch.count)
            }
        }
    }

    /// The outcomes of an append answer for a batch of `count` events.
    private static func outcomes(_ answer: AppendAnswer, count: Int) throws(ClientError) -> [AppendOutcome] {
        guard answer.positions.count == count else {
            throw Self.badAnswer("append", "\"positions\" (one per event) and \"duplicates\" expected")
        }
        do {
            return try answer.outcomes()
        } catch {
            throw Self.badAnswer("append", error.reason)
        }
    }

    /// The journey state (SPEC §3.2) of the identity cluster holding `id`, evaluated at `asOf`
    /// (epoch milliseconds; nil: the daemon's now).
    ///
    /// The daemon records the read in its read audit, with `requester` (who asks and why).
    ///
    /// - Throws: `ClientError` with code `notFound` for an id the store has never seen, or
    ///   `audit_unavailable` when the daemon cannot record the read.
    public func patient(id: String, asOf: Int64? = nil, as requester: Requester? = nil) async throws(ClientError) -> JourneyState {
        let line = PatientRequest(id: id, asOf: asOf).line
        let answer = try await send(requester?.adding(to: line) ?? line, op: "patient")
        return try Self.decode(PatientAnswer.self, answer, op: "patient").report
    }

    /// The warm-handoff context (SPEC §3.3) of the identity cluster holding `id`, at `asOf`
    /// (epoch milliseconds; nil: the daemon's now).
    ///
    /// The daemon records the read in its read audit, with `requester` (who asks and why).
    ///
    /// - Throws: `ClientError` with code `notFound` for an id the store has never seen, or
    ///   `audit_unavailable` when the daemon cannot record the read.
    public func handoff(id: String, asOf: Int64? = nil, as requester: Requester? = nil) async throws(ClientError) -> HandoffContext {
        let line = HandoffRequest(id: id, asOf: asOf).line
        let answer = try await send(requester?.adding(to: line) ?? line, op: "handoff")
        return try Self.decode(HandoffAnswer.self, answer, op: "handoff").report
    }

    /// The appointments scheduled in a period, by a property of their booking (SPEC §3.6).
    ///
    /// - Throws: `ClientError` with code `badRequest` when the daemon refuses the query.
    public func appointments(_ query: AppointmentsQuery) async throws(ClientError) -> AppointmentsReport {
        try await report(AppointmentsAnswer.self, AppointmentsRequest(query).line, op: "appointments")
    }

    /// New, retained and lapsed patients over a period (SPEC §3.6).
    public func patients(_ query: PatientsQuery) async throws(ClientError) -> PatientsReport {
        try await report(PatientsAnswer.self, PatientsRequest(query).line, op: "patients")
    }

    /// Patients by the month of their first visit, followed month by month (SPEC §3.6).
    public func cohorts(_ query: CohortsQuery) async throws(ClientError) -> CohortsReport {
        try await report(CohortsAnswer.self, CohortsRequest(query).line, op: "cohorts")
    }

    /// Events or distinct patients per day, week or month of a period (SPEC §3.6).
    public func trends(_ query: TrendsQuery) async throws(ClientError) -> TrendsReport {
        try await report(TrendsAnswer.self, TrendsRequest(query).line, op: "trends")
    }

    /// Who refers patients, and referred against direct patients, at `asOf` (epoch
    /// milliseconds; nil: the daemon's now), at most `limit` referrers (nil: 100).
    public func referrals(asOf: Int64? = nil, limit: Int? = nil) async throws(ClientError) -> ReferralsReport {
        try await report(ReferralsAnswer.self, ReferralsRequest(asOf: asOf, limit: limit).line, op: "referrals")
    }

    /// One page of the patients meeting `filters` at `asOf` (nil: the daemon's now), by canonical
    /// id after `after` (the previous page's `next`).
    public func segment(_ filters: SegmentFilters = SegmentFilters(), asOf: Int64? = nil, limit: Int? = nil,
                        after: String? = nil) async throws(ClientError) -> SegmentPage {
        let request = SegmentRequest(asOf: asOf, filters: filters, limit: limit, after: after)
        return try await report(SegmentAnswer.self, request.line, op: "segment")
    }

    private func report<R: ReportBody>(_ type: ReportAnswer<R>.Type, _ line: [UInt8], op: String) async throws(ClientError) -> R {
        try Self.decode(type, try await send(line, op: op), op: op).report
    }

    /// Checks that the daemon answers.
    public func ping() async throws(ClientError) {
        _ = try Self.decode(PingAnswer.self, try await send(Request.ping.line, op: "ping"), op: "ping")
    }

    /// The daemon's store and projection counters.
    public func stats() async throws(ClientError) -> JourneyDaemonStats {
        try Self.decode(StatsAnswer.self, try await send(Request.stats.line, op: "stats"), op: "stats")
    }

    /// Sends any request object (SPEC §4) and returns the daemon's `{"ok":true,…}` answer.
    ///
    /// - Throws: `ClientError` with the daemon's code when it answers `ok:false`.
    public func request(_ request: JSONValue) async throws(ClientError) -> JSONValue {
        let op = request["op"]?.stringValue ?? "request"
        let answer = try await send(Array(request.jsonText.utf8), op: op)
        return try Self.interpret(answer, op: op)
    }

    /// Follows the log: every event from position `from` on, in log order, then each new event
    /// as it is committed, without gaps or repeats, on a connection of its own.
    ///
    /// The subscription ends (with `connectionClosed`) only if the daemon goes away; resubscribe
    /// from the position after the last one received. Cancelling the iterating task, or leaving
    /// the loop, closes the connection. At most `buffer` events wait to be consumed: past that
    /// the daemon is slowed down (and disconnects a consumer stalled for long).
    public func subscribe(from: Position = 1, buffer: Int = 1024) -> JourneySubscription {
        JourneySubscription(socketPath: socketPath, from: from.rawValue, buffer: buffer)
    }

    // MARK: - Requests

    static func badAnswer(_ op: String, _ why: String) -> ClientError {
        ClientError(code: .badAnswer, message: "journeyd's answer to \(op) is not understood: \(why)")
    }

    /// Sends one request line and returns its answer line.
    func send(_ line: [UInt8], op: String) async throws(ClientError) -> [UInt8] {
        let token = RequestToken()
        let result: Result<[UInt8], ClientError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                queue.async {
                    continuation.resume(returning: Result { () throws(ClientError) in try self.exchange(line, token) })
                }
            }
        } onCancel: {
            token.cancel()
        }
        return try result.get()
    }

    /// Parses an answer line; an `ok:false` answer throws the daemon's error.
    static func interpret(_ bytes: [UInt8], op: String) throws(ClientError) -> JSONValue {
        let parsed: Result<JSONValue, ProtocolError>
        do {
            parsed = try Answer.parse(bytes)
        } catch {
            throw Self.badAnswer(op, error.reason)
        }
        switch parsed {
        case .success(let answer): return answer
        case .failure(let e): throw ClientError(e)
        }
    }

    /// Decodes an answer line as a `T` (once, through JourneyProtocol); an `ok:false` answer
    /// throws the daemon's error.
    static func decode<T: DecodableAnswer>(_ type: T.Type, _ bytes: [UInt8], op: String) throws(ClientError) -> T {
        let decoded: Result<T, ProtocolError>
        do {
            decoded = try Answer.decode(T.self, from: bytes)
        } catch {
            throw Self.badAnswer(op, error.reason)
        }
        switch decoded {
        case .success(let answer): return answer
        case .failure(let e): throw ClientError(e)
        }
    }

    /// One request and its answer, blocking: runs on `queue`.
    private func exchange(_ line: [UInt8], _ token: RequestToken) throws(ClientError) -> [UInt8] {
        try exchange([line], window: 1, token)[0]
    }

    /// Requests and their answers, in order, with up to `window` requests sent ahead of their
    /// answers; blocking: runs on `queue`.
    private func exchange(_ lines: [[UInt8]], window: Int, _ token: RequestToken) throws(ClientError) -> [[UInt8]] {
        if lines.isEmpty { return [] }
        var link = try takeLink()
        guard token.begin(link.socket) else {
            putBack(link)
            throw ClientError(code: .cancelled, message: "the request to \(socketPath) was cancelled before it was sent")
        }
        defer { token.end() }
        do throws(ClientError) {
            var answers: [[UInt8]] = []
            answers.reserveCapacity(lines.count)
            var sent = 0
            while answers.count < lines.count {
                // Fill the window, then take the next answer (answers come in request order).
                while sent < lines.count && sent - answers.count < window {
                    var framed = lines[sent]
                    framed.append(UInt8(ascii: "\n"))
                    do {
                        try Syscall.sendAll(link.socket.fd, framed)
                    } catch {
                        throw ClientError(io: error, path: socketPath)
                    }
                    sent += 1
                }
                guard let answer = try link.reader.nextLine(fd: link.socket.fd, path: socketPath) else {
                    throw ClientError(code: .connectionClosed, message: "journeyd at \(socketPath) closed the connection")
                }
                answers.append(answer)
            }
            putBack(link)
            return answers
        } catch {
            // An answer may still arrive on this connection: it is out of step, never reused.
            drop(link)
            if token.isCancelled {
                throw ClientError(code: .cancelled, message: "the request to \(socketPath) was cancelled; its outcome is unknown")
            }
            if state.withLock({ $0.closed }) {
                throw ClientError(code: .connectionClosed, message: "the client of \(socketPath) was closed")
            }
            throw error
        }
    }

    /// The idle connection, or a new one when there is none or the daemon has closed it.
    private func takeLink() throws(ClientError) -> Link {
        let idle = try state.withLock { state throws(ClientError) -> Link? in
            if state.closed {
                throw ClientError(code: .connectionClosed, message: "the client of \(socketPath) is closed")
            }
            defer { state.idle = nil }
            return state.idle
        }
        if let idle {
            if Self.isQuiet(idle.socket) {
                markInFlight(idle.socket)
                return idle
            }
            // The daemon closed it (restarted, stopped) since the last request: nothing was sent
            // on it, so connecting again is safe.
            idle.socket.close()
        }
        let link = Link(socket: try JourneyConnection.openSocket(path: socketPath, timeout: timeout))
        markInFlight(link.socket)
        return link
    }

    /// True when nothing is waiting on an idle connection: no end of stream, no stray bytes.
    private static func isQuiet(_ socket: ClientSocket) -> Bool {
        var fds = [pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0)]
        guard let ready = try? Syscall.poll(&fds, timeoutMs: 0) else { return false }
        return ready == 0
    }

    private func markInFlight(_ socket: ClientSocket) {
        let closed = state.withLock { state -> Bool in
            state.inFlight = socket
            return state.closed
        }
        if closed { socket.shutdown() }
    }

    private func putBack(_ link: Link) {
        state.withLock { state in
            state.inFlight = nil
            if state.closed {
                link.socket.close()
            } else {
                state.idle = link
            }
        }
    }

    private func drop(_ link: Link) {
        state.withLock { $0.inFlight = nil }
        link.socket.close()
    }
}

/// Cancellation of one request: shuts its socket down so a blocked read returns at once.
private final class RequestToken: Sendable {
    private let state = Mutex<(cancelled: Bool, socket: ClientSocket?)>((false, nil))

    var isCancelled: Bool { state.withLock { $0.cancelled } }

    func cancel() {
        state.withLock {
            $0.cancelled = true
            $0.socket?.shutdown()
        }
    }

    /// Registers the socket the request uses; false if already cancelled.
    func begin(_ socket: ClientSocket) -> Bool {
        state.withLock {
            guard !$0.cancelled else { return false }
            $0.socket = socket
            return true
        }
    }

    func end() {
        state.withLock { $0.socket = nil }
    }
}

/// The daemon's `stats` answer (`JourneyProtocol.StatsAnswer`).
public typealias JourneyDaemonStats = StatsAnswer
