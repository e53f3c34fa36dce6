import Dispatch
import Glibc
import JourneyProtocol
import JourneyStore
import Synchronization

/// One client of the socket server, as handlers see it: who it is, and a thread-safe way to
/// answer it.
///
/// Everything here may be called from any thread. The descriptor itself is only ever touched by
/// the server's I/O thread; `send` queues bytes and wakes that thread.
final class ServerConnection: Sendable {
    /// The connecting process, from `SO_PEERCRED`.
    let peer: PeerCredentials
    /// A number unique among this server's connections, for logs.
    let id: UInt64

    private let outputCap: Int
    /// The server's budget for all clients' queued output.
    private let budget: OutputBudget
    private let loop: LoopControl
    private let state = Mutex(State())
    /// In the I/O thread's list of connections to look at (`LoopControl.markDirty`).
    private let queued = Atomic<Bool>(false)

    struct State {
        var output: [UInt8] = []
        var outputStart = 0
        /// The request whose answer the next plain `send` is: dispatched, not detached, not yet
        /// answered. While it is set the server dispatches no further request.
        var current: UInt64?
        /// The number the next dispatched request gets; requests are answered in this order.
        var nextTicket: UInt64 = 0
        /// The request whose answer goes out next; every request before it was answered.
        var emitTicket: UInt64 = 0
        /// Answers that arrived before the answers of earlier requests, by request number.
        var held: [UInt64: [UInt8]] = [:]
        /// Work waiting for every request before `current` to be answered (`whenCaughtUp`).
        var deferred: (@Sendable () -> Void)?
        /// The line sizes of the unanswered requests, oldest first (answers go out in request
        /// order, so the oldest is always the next answered).
        var sizes = ArrayQueue<Int>(compactAfter: 64)
        /// Bytes of request lines dispatched and not yet answered.
        var inFlightBytes = 0
        /// The handler turned the connection into a one-way stream.
        var streaming = false
        /// `close()` or an overflow asked the I/O thread to close it.
        var closeRequested = false
        /// Close without flushing (the client stopped reading).
        var dropOutput = false
        /// Producers waiting for the queue to drain (`send(_:waitingUpTo:)`,
        /// `send(_:orWhenRoom:)`): run once when it is down to half the cap, or on close.
        var roomWaiters: [@Sendable () -> Void] = []
        var closeHandlers: [@Sendable () -> Void] = []
        /// Bytes written to the socket so far: the client's progress.
        var written: UInt64 = 0
        var closeHandlersRan = false

        var pendingCount: Int { output.count - outputStart }
        /// Requests dispatched and not yet answered.
        var inFlight: Int { Int(nextTicket - emitTicket) }
        /// A request holds the connection: the server waits for its answer (or its detach).
        var awaiting: Bool { current != nil }
    }

    /// A request whose answer comes later, through `send(_:for:)`: see `detach`.
    struct Ticket: Sendable, Hashable {
        fileprivate let number: UInt64
    }

    /// Runs work on the server's handler threads (for `whenCaughtUp`).
    private let submit: @Sendable (@escaping @Sendable () -> Void) -> Void

    init(
        peer: PeerCredentials, id: UInt64, outputCap: Int, budget: OutputBudget = OutputBudget(limit: .max), loop: LoopControl,
        submit: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void = { job in DispatchQueue.global().async(execute: job) }
    ) {
        self.peer = peer
        self.id = id
        self.outputCap = outputCap
        self.budget = budget
        self.loop = loop
        self.submit = submit
    }

    /// Whether sends are still accepted.
    var isOpen: Bool { state.withLock { !$0.closeRequested } }

    /// Queues `line` plus a newline for the client; the first send after a request is its response
    /// (it goes out after the answers of the connection's earlier requests).
    ///
    /// - Returns: false if the connection is closed, or if this line would take the queued output
    ///   past the cap — then the client is disconnected (it is not reading).
    @discardableResult
    func send(_ line: [UInt8]) -> Bool {
        let accepted = enqueue(line)
        loop.markDirty(self)
        return accepted
    }

    /// Answers the detached request `ticket` (from any thread). The answer goes out once every
    /// earlier request of the connection is answered; answers stay in request order.
    @discardableResult
    func send(_ line: [UInt8], for ticket: Ticket) -> Bool {
        let accepted = answer(line, ticket: ticket.number)
        loop.markDirty(self)
        return accepted
    }

    /// The request being handled, to answer later with `send(_:for:)`; nil when there is none
    /// (it was answered, or the connection streams). Call it while handling the request.
    var ticket: Ticket? {
        state.withLock { state in state.current.map { Ticket(number: $0) } }
    }

    /// Releases the connection from request `ticket`, whose answer comes later through
    /// `send(_:for:)`: the server may dispatch the connection's next request now, before this
    /// one is answered (pipelining). Does nothing if the request was already answered.
    ///
    /// - Parameter wake: whether to wake the server's I/O thread (not needed when called there).
    func detach(_ ticket: Ticket, wake: Bool = true) {
        let released = state.withLock { state -> Bool in
            guard state.current == ticket.number else { return false }
            state.current = nil
            return true
        }
        if released && wake { loop.markDirty(self) }
    }

    /// Runs `body` once every request the connection sent before the current one is answered:
    /// at once on this thread if they are, else later on a handler thread. For requests that
    /// must see the effects of the connection's earlier (detached) requests.
    func whenCaughtUp(_ body: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            guard let current = state.current, state.emitTicket != current else { return true }
            state.deferred = body
            return false
        }
        if now { body() }
    }

    /// Queues `line` like `send`, but when the queue is full waits (up to `timeout`) for the
    /// client to read, instead of disconnecting it at once: for a producer that can go faster than
    /// a healthy client reads, such as a subscription catching up. Blocks the calling thread.
    ///
    /// - Returns: false if the connection closed, or the client read nothing for `timeout`
    ///   (then it is disconnected).
    func send(_ line: [UInt8], waitingUpTo timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            let room = DispatchSemaphore(value: 0)
            let outcome = state.withLock { state -> Bool? in
                if state.closeRequested { return false }
                if (state.pendingCount + line.count + 1 <= outputCap && line.count + 1 <= budget.room)
                    || state.pendingCount + line.count + 1 <= OutputBudget.share || state.pendingCount == 0 {
                    return true
                }
                state.roomWaiters.append { room.signal() }
                return nil
            }
            if outcome == false { return false }
            if outcome == true { return send(line) }
            if room.wait(timeout: .now() + (deadline - ContinuousClock.now).dispatchInterval) == .timedOut {
                requestClose(dropOutput: true)
                loop.markDirty(self)
                return false
            }
        }
    }

    /// Queues as many of `lines` as fit under the output cap, in order (always the first one
    /// when nothing is queued), without blocking and without disconnecting: for a producer that
    /// can go faster than the client reads and can resume later, such as a subscription.
    ///
    /// When some lines are left over, `whenRoom` runs once the queue has drained to half the cap,
    /// or the connection closed. It runs on the server's I/O thread (or the closing thread), so it
    /// must only schedule work, never block.
    ///
    /// - Returns: how many lines were queued, or nil if the connection is closed.
    func send(_ lines: ArraySlice<[UInt8]>, orWhenRoom whenRoom: @escaping @Sendable () -> Void) -> Int? {
        let queued = state.withLock { state -> Int? in
            if state.closeRequested { return nil }
            var queued = 0
            for line in lines {
                let after = state.pendingCount + line.count + 1
                // Under the cap and the server's budget, or within the connection's guaranteed
                // share (always the first line).
                guard (after <= outputCap && budget.reserve(line.count + 1))
                    || ((after <= OutputBudget.share || state.pendingCount == 0) && budget.reserve(line.count + 1, force: true))
                else { break }
                Self.append(line, to: &state)
                queued += 1
            }
            if queued < lines.count { state.roomWaiters.append(whenRoom) }
            return queued
        }
        loop.markDirty(self)
        return queued
    }

    /// Disconnects the client at once, dropping what is queued for it (it stopped reading).
    func abort() {
        requestClose(dropOutput: true)
        loop.markDirty(self)
    }

    /// Bytes that may still be queued before the output cap (or the server's budget) is reached.
    var outputRoom: Int {
        state.withLock { max(min(budget.room, outputCap - $0.pendingCount), OutputBudget.share - $0.pendingCount, 0) }
    }

    /// Bytes written to the socket since the connection opened (the client takes them from
    /// the kernel's buffer as it reads).
    var bytesWritten: UInt64 { state.withLock { $0.written } }

    /// Bytes queued and not yet written to the socket.
    var pendingOutputBytes: Int { state.withLock { $0.pendingCount } }

    /// Marks the connection as a one-way stream (a subscription): from now on the server reads no
    /// more requests from it, and the handler may `send` any number of lines.
    func startStreaming() {
        state.withLock {
            $0.streaming = true
            // The subscribe request is answered by the stream's first line.
            if $0.current != nil {
                $0.current = nil
                Self.emitted(&$0)
            }
        }
        loop.markDirty(self)
    }

    /// Closes the connection after a best-effort flush of what is queued.
    func close() {
        requestClose(dropOutput: false)
        loop.markDirty(self)
    }

    /// Registers `body` to run once when the connection closes, for whatever reason (on a
    /// background queue). If it is already closed, `body` runs right away.
    func onClose(_ body: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { state -> Bool in
            if state.closeHandlersRan { return true }
            state.closeHandlers.append(body)
            return false
        }
        if runNow { body() }
    }

    // MARK: - Used by the I/O thread

    /// Marks the connection as listed for the I/O thread; false if it already was.
    func markQueued() -> Bool {
        !queued.exchange(true, ordering: .acquiringAndReleasing)
    }

    /// Called by the I/O thread as it takes the connection from the list, before looking at it.
    func clearQueued() {
        queued.store(false, ordering: .releasing)
    }

    /// Queues a line: the answer of the current request if there is one, else a line of its own
    /// (used directly by the I/O thread, which flushes right after).
    func enqueue(_ line: [UInt8]) -> Bool {
        answer(line, ticket: nil)
    }

    /// Queues `line` as the answer of request `ticket` (nil: the current request, if any), in
    /// request order; submits deferred work that this answer unblocked.
    private func answer(_ line: [UInt8], ticket: UInt64?) -> Bool {
        let (accepted, handlers, deferred) = state.withLock {
            state -> (Bool, [@Sendable () -> Void], (@Sendable () -> Void)?) in
            var number = ticket
            if number == nil, !state.streaming { number = state.current }
            if number != nil && number == state.current { state.current = nil }
            if state.closeRequested { return (false, [], nil) }
            guard let number else {
                // Not an answer: a line of a stream, or an extra line after an answer.
                let (accepted, handlers) = queue(line, to: &state)
                return (accepted, handlers, nil)
            }
            if number != state.emitTicket {
                state.held[number] = line
                return (true, [], nil)
            }
            var result = queue(line, to: &state)
            Self.emitted(&state)
            while result.0, let next = state.held.removeValue(forKey: state.emitTicket) {
                result = queue(next, to: &state)
                Self.emitted(&state)
            }
            var deferred: (@Sendable () -> Void)?
            if state.current == state.emitTicket, let body = state.deferred {
                state.deferred = nil
                deferred = body
            }
            return (result.0, result.1, deferred)
        }
        Self.run(handlers)
        if let deferred { submit(deferred) }
        return accepted
    }

    /// Counts the oldest unanswered request as answered.
    private static func emitted(_ state: inout State) {
        state.emitTicket += 1
        state.inFlightBytes -= state.sizes.pop()
    }

    /// Appends a line under the connection's cap and the server's budget; past either, marks the
    /// connection for closing (the client is not reading: it is disconnected, not buffered).
    private func queue(_ line: [UInt8], to state: inout State) -> (Bool, [@Sendable () -> Void]) {
        let after = state.pendingCount + line.count + 1
        if after > outputCap || !budget.reserve(line.count + 1, force: after <= OutputBudget.share) {
            state.closeRequested = true
            state.dropOutput = true
            budget.release(state.pendingCount)
            state.output = []
            state.outputStart = 0
            return (false, Self.takeHandlers(&state))
        }
        Self.append(line, to: &state)
        return (true, [])
    }

    private static func append(_ line: [UInt8], to state: inout State) {
        if state.outputStart > 0 && state.outputStart >= state.output.count / 2 {
            state.output.removeSubrange(0..<state.outputStart)
            state.outputStart = 0
        }
        state.output.append(contentsOf: line)
        state.output.append(UInt8(ascii: "\n"))
    }

    /// Reads the flags the I/O thread schedules by.
    func snapshot() -> ConnectionSnapshot {
        state.withLock {
            ConnectionSnapshot(
                awaiting: $0.awaiting, streaming: $0.streaming, closeRequested: $0.closeRequested,
                dropOutput: $0.dropOutput, pending: $0.pendingCount, inFlight: $0.inFlight,
                inFlightBytes: $0.inFlightBytes)
        }
    }

    /// Marks a request as dispatched; false if the connection is closing, streaming, or busy
    /// with a request that was not detached.
    ///
    /// - Parameter bytes: the size of the request line, counted in flight until it is answered.
    func beginRequest(bytes: Int) -> Bool {
        state.withLock { state in
            guard !state.closeRequested, !state.streaming, !state.awaiting else { return false }
            state.current = state.nextTicket
            state.nextTicket += 1
            state.sizes.push(bytes)
            state.inFlightBytes += bytes
            return true
        }
    }

    /// Drops whatever is still queued and gives its bytes back to the server's budget (the
    /// descriptor is being closed: nothing more can be written).
    func discardOutput() {
        state.withLock { state in
            budget.release(state.pendingCount)
            state.output = []
            state.outputStart = 0
        }
    }

    func requestClose(dropOutput: Bool) {
        let handlers = state.withLock { state -> [@Sendable () -> Void] in
            if !state.closeRequested {
                state.closeRequested = true
                state.dropOutput = dropOutput
            }
            return Self.takeHandlers(&state)
        }
        Self.run(handlers)
    }

    enum FlushResult {
        case done
        case blocked
        case failed
    }

    /// Writes queued output to `fd` until it is empty or the socket is full.
    func flush(to fd: Int32) -> FlushResult {
        let (result, waiters) = state.withLock { state -> (FlushResult, [@Sendable () -> Void]) in
            let before = state.written
            while state.pendingCount > 0 {
                let start = state.outputStart
                let result = state.output.withUnsafeBytes { raw in
                    Result { () throws(SystemCallError) -> Int? in
                        try Syscall.send(fd, UnsafeRawBufferPointer(rebasing: raw[start...]))
                    }
                }
                switch result {
                case .success(let written?):
                    state.outputStart += written
                    state.written += UInt64(written)
                    budget.release(written)
                case .success(nil):
                    // Producers waiting for room resume only when the client took something:
                    // otherwise a producer held back by the server's budget would be woken by
                    // every poll of a client that reads nothing, and spin.
                    let progressed = state.written != before
                    return (.blocked, progressed && state.pendingCount <= outputCap / 2 ? Self.takeRoomWaiters(&state) : [])
                case .failure:
                    budget.release(state.pendingCount)
                    state.output = []
                    state.outputStart = 0
                    return (.failed, Self.takeRoomWaiters(&state))
                }
            }
            state.output.removeAll(keepingCapacity: state.output.capacity <= 64 * 1024)
            state.outputStart = 0
            return (.done, Self.takeRoomWaiters(&state))
        }
        for waiter in waiters { waiter() }
        return result
    }

    private static func takeRoomWaiters(_ state: inout State) -> [@Sendable () -> Void] {
        defer { state.roomWaiters = [] }
        return state.roomWaiters
    }

    /// Takes the close handlers (they run once) and the room waiters (the queue will never
    /// drain: they must learn that the connection closed), to run off the lock.
    private static func takeHandlers(_ state: inout State) -> [@Sendable () -> Void] {
        let waiters = takeRoomWaiters(&state)
        if state.closeHandlersRan { return waiters }
        state.closeHandlersRan = true
        defer { state.closeHandlers = [] }
        return waiters + state.closeHandlers
    }

    /// Close handlers run off the caller's thread: the caller may be the I/O thread, or hold locks.
    private static func run(_ handlers: [@Sendable () -> Void]) {
        guard !handlers.isEmpty else { return }
        DispatchQueue.global().async {
            for handler in handlers { handler() }
        }
    }
}

/// The flags the I/O thread schedules a connection by.
struct ConnectionSnapshot {
    /// A request holds the connection (dispatched, not answered, not detached).
    var awaiting: Bool
    var streaming: Bool
    var closeRequested: Bool
    var dropOutput: Bool
    /// Bytes queued for the client.
    var pending: Int
    /// Requests dispatched and not yet answered.
    var inFlight: Int
    /// Bytes of their request lines.
    var inFlightBytes: Int
}

extension Duration {
    /// The same span for Dispatch deadlines, in whole nanoseconds; negative spans are zero.
    var dispatchInterval: DispatchTimeInterval {
        let (seconds, attoseconds) = max(self, .zero).components
        return .nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
    }
}
