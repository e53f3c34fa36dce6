import Dispatch
import Glibc
import JourneyCore
import JourneyProtocol
import JourneyStore
import Synchronization

/// What other threads share with the I/O thread: the connections that need attention, the
/// stop request, and the pipe that wakes `poll`.
final class LoopControl: Sendable {
    private struct State {
        var dirty: [ServerConnection] = []
        var wakePending = false
        var stopRequested = false
        var wakeWriteFd: Int32
    }
    private let state: Mutex<State>
    /// Signalled once when the I/O thread has closed everything and exited.
    let finished = DispatchSemaphore(value: 0)

    init(wakeWriteFd: Int32) {
        state = Mutex(State(wakeWriteFd: wakeWriteFd))
    }

    /// Asks the I/O thread to look at `connection` (new output, response sent, close requested).
    func markDirty(_ connection: ServerConnection) {
        // Once in the list until the I/O thread takes it: a group commit answering many
        // requests of one connection adds it once.
        guard connection.markQueued() else { return }
        state.withLock { state in
            // After the loop exited nobody would take the list: every connection is closed anyway.
            guard state.wakeWriteFd >= 0 else { return }
            state.dirty.append(connection)
            wake(&state)
        }
    }

    func requestStop() {
        state.withLock { state in
            state.stopRequested = true
            wake(&state)
        }
    }

    /// Called by the I/O thread after each `poll`.
    func take() -> (dirty: [ServerConnection], stop: Bool) {
        state.withLock { state in
            state.wakePending = false
            defer { state.dirty = [] }
            return (state.dirty, state.stopRequested)
        }
    }

    /// Called by the I/O thread as it exits: later wakes must not write to a reused descriptor.
    func closeWakePipe() {
        state.withLock { state in
            if state.wakeWriteFd >= 0 { Syscall.close(state.wakeWriteFd) }
            state.wakeWriteFd = -1
        }
    }

    /// One byte per batch of wake-ups: the I/O thread takes the whole dirty list at once.
    private func wake(_ state: inout State) {
        guard !state.wakePending, state.wakeWriteFd >= 0 else { return }
        state.wakePending = true
        var byte: UInt8 = 1
        let fd = state.wakeWriteFd
        // A full pipe (EAGAIN) already guarantees a wake-up.
        _ = try? withUnsafeBytes(of: &byte) { raw in
            try Syscall.write(fd, raw) ?? 0
        }
    }
}

/// The I/O thread: one `poll` loop that accepts, reads and frames requests, dispatches them to
/// the handler queue, and writes responses. It is created and runs entirely on that thread.
final class EventLoop {
    private struct Client {
        let fd: Int32
        let connection: ServerConnection
        var framer: LineFramer
        var readEOF = false
        /// Close once the queued output is flushed (input ended, nothing in flight).
        var closeWhenFlushed = false
        /// After `close()` from a handler: give up flushing at this time.
        var lingerDeadline: ContinuousClock.Instant?
        /// When the client last sent a byte (for the idle timeout).
        var lastActive: ContinuousClock.Instant = .now
        /// Bytes written to it at the last check, and since when that count stands still while
        /// output is queued (for the stall timeout).
        var written: UInt64 = 0
        var stalledSince: ContinuousClock.Instant?
    }

    private let socketPath: String
    private var listenFd: Int32
    private let wakeReadFd: Int32
    private let control: LoopControl
    private let config: ServerConfig
    private let handler: any RequestHandler
    private let handlerPool: HandlerPool
    private let ownUID = geteuid()

    private var clients: [Int32: Client] = [:]
    /// Finds a dirty connection's descriptor, and ignores connections already closed (whose
    /// descriptor may have been reused).
    private var descriptors: [ObjectIdentifier: Int32] = [:]
    private var nextID: UInt64 = 1
    private var draining = false
    private var drainDeadline: ContinuousClock.Instant = .now
    private var acceptPausedUntil: ContinuousClock.Instant?
    private var readBuffer = [UInt8](repeating: 0, count: 64 * 1024)
    /// Every client's queued output together, against `config.maxTotalOutputBytes`.
    private let budget: OutputBudget
    /// A descriptor held in reserve: when accept fails for want of descriptors, it is closed to
    /// accept the waiting client, tell it so and close it, then taken again.
    private var spareFd: Int32 = -1
    /// Refusals since the last log line about them (logged at most once a second).
    private var refusals: [String: Int] = [:]
    private var refusalsLogged: ContinuousClock.Instant = .now - .seconds(2)
    private var idleChecked: ContinuousClock.Instant = .now

    init(
        socketPath: String, listenFd: Int32, wakeReadFd: Int32, control: LoopControl,
        config: ServerConfig, handler: any RequestHandler
    ) {
        self.socketPath = socketPath
        self.listenFd = listenFd
        self.wakeReadFd = wakeReadFd
        self.control = control
        self.config = config
        self.handler = handler
        self.handlerPool = HandlerPool()
        self.budget = OutputBudget(limit: config.maxTotalOutputBytes)
        spareFd = open("/dev/null", O_RDONLY | O_CLOEXEC)
    }

    /// Runs until a stop request has been served, then closes every descriptor it owns.
    func run() {
        var fds: [pollfd] = []
        while true {
            fds.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: wakeReadFd, events: Int16(POLLIN), revents: 0))
            let listening = listenFd >= 0 && acceptPausedUntil == nil
            if listening { fds.append(pollfd(fd: listenFd, events: Int16(POLLIN), revents: 0)) }
            let firstClient = fds.count
            for (fd, client) in clients {
                fds.append(pollfd(fd: fd, events: interest(client), revents: 0))
            }
            var timeout: Int32 = clients.isEmpty && refusals.isEmpty ? -1 : 1000
            if draining || acceptPausedUntil != nil || lingering > 0 { timeout = 20 }

            do {
                _ = try Syscall.poll(&fds, timeoutMs: timeout)
            } catch {
                // poll only fails on programming errors (EFAULT/EINVAL) or ENOMEM; back off.
                usleep(10_000)
                continue
            }

            if fds[0].revents != 0 { drainWakePipe() }
            if listening && fds[1].revents != 0 { acceptAll() }
            for index in firstClient..<fds.count where fds[index].revents != 0 {
                service(fd: fds[index].fd, revents: fds[index].revents)
            }
            let (dirty, stop) = control.take()
            for connection in dirty {
                connection.clearQueued()
                // The descriptor may have been closed and reused: check it is the same client.
                if let fd = descriptors[ObjectIdentifier(connection)] { pump(fd) }
            }
            if let until = acceptPausedUntil, ContinuousClock.now >= until { acceptPausedUntil = nil }
            if lingering > 0 { expireLingering() }
            closeIdle()
            logRefusals()
            if stop && !draining { beginDrain() }
            if draining {
                for fd in Array(clients.keys) { drainStep(fd) }
                if clients.isEmpty { break }
            }
        }
        // Write end first, under the lock: a wake racing with the exit must never write to a
        // pipe whose reader is gone (that raises SIGPIPE in whichever thread wrote).
        control.closeWakePipe()
        Syscall.close(wakeReadFd)
        if spareFd >= 0 { Syscall.close(spareFd) }
        handlerPool.shutdown()
    }

    // MARK: - Accepting

    private func acceptAll() {
        while true {
            let fd: Int32
            do {
                guard let accepted = try Syscall.accept(listenFd) else { return }
                fd = accepted
            } catch {
                if error.errno == EMFILE || error.errno == ENFILE { refuseForWantOfDescriptors(error.errno) }
                // Stop polling the listener briefly instead of spinning on it; clients still
                // queued are answered then.
                acceptPausedUntil = .now + .milliseconds(100)
                return
            }
            if clients.count >= config.maxConnections {
                refuse(fd, code: "too_many_connections",
                       message: "journeyd serves at most \(config.maxConnections) connections at once; retry later", reason: "connection limit")
                continue
            }
            guard let credentials = try? Syscall.peerCredentials(fd) else {
                Syscall.close(fd)
                continue
            }
            let peer = PeerCredentials(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid)
            guard isAllowed(peer) else {
                refuse(fd, peer: peer)
                continue
            }
            let pool = handlerPool
            let connection = ServerConnection(
                peer: peer, id: nextID, outputCap: config.maxOutputBytes, budget: budget, loop: control,
                submit: { job in pool.submit(job) })
            nextID += 1
            clients[fd] = Client(fd: fd, connection: connection, framer: LineFramer(maxLineBytes: config.maxLineBytes))
            descriptors[ObjectIdentifier(connection)] = fd
        }
    }

    private func isAllowed(_ peer: PeerCredentials) -> Bool {
        Self.isAllowed(peer, ownUID: ownUID, allowGroup: config.allowGroup)
    }

    /// Only the server's own user may connect, or members of `allowGroup` (the peer's primary
    /// group at connect time, or the user's groups from the group database). Not root: a daemon
    /// run by a user serves that user.
    static func isAllowed(_ peer: PeerCredentials, ownUID: uid_t, allowGroup: gid_t?) -> Bool {
        if peer.uid == ownUID { return true }
        guard let group = allowGroup else { return false }
        return peer.gid == group || Syscall.user(peer.uid, isMemberOf: group)
    }

    private func refuse(_ fd: Int32, peer: PeerCredentials) {
        let who = config.allowGroup == nil ? "the daemon's own user" : "the daemon's user or group \(config.allowGroup!)"
        refuse(fd, code: "forbidden", message: "uid \(peer.uid) may not use this socket: only \(who) may",
               reason: "uid \(peer.uid) pid \(peer.pid) not allowed")
    }

    /// Sends one error line to a client being turned away, closes it and counts it for the log.
    private func refuse(_ fd: Int32, code: String, message: String, reason: String) {
        var line = ProtocolError(code, message).line
        line.append(UInt8(ascii: "\n"))
        // Best effort: a fresh socket's buffer has room for one short line.
        _ = line.withUnsafeBytes { try? Syscall.send(fd, $0) }
        Syscall.close(fd)
        refusals[reason, default: 0] += 1
        logRefusals()
    }

    /// Out of descriptors: the spare one is given up to accept the waiting client, which is
    /// told so and closed (it does not hang), then taken again.
    private func refuseForWantOfDescriptors(_ errno: Int32) {
        let what = errno == EMFILE ? "EMFILE: the process's descriptor limit" : "ENFILE: the system's descriptor limit"
        guard spareFd >= 0 else {
            refusals["accept failed (\(what)); no spare descriptor", default: 0] += 1
            logRefusals()
            return
        }
        Syscall.close(spareFd)
        spareFd = -1
        if let fd = try? Syscall.accept(listenFd) {
            refuse(fd, code: "unavailable", message: "journeyd is out of file descriptors; retry later",
                   reason: "out of descriptors (\(what))")
        }
        spareFd = open("/dev/null", O_RDONLY | O_CLOEXEC)
    }

    /// Logs the connections turned away since the last such line, at most once a second.
    private func logRefusals() {
        guard !refusals.isEmpty, ContinuousClock.now - refusalsLogged >= .seconds(1) else { return }
        refusalsLogged = .now
        for (reason, count) in refusals.sorted(by: { $0.key < $1.key }) {
            Log.warn("server", "refused \(count) connection\(count == 1 ? "" : "s"): \(reason)")
        }
        refusals = [:]
    }

    /// Closes the connections idle for longer than `config.idleTimeout`, and those whose client
    /// took none of their queued output for `config.stallTimeout` (checked twice a second).
    private func closeIdle() {
        guard !draining, ContinuousClock.now - idleChecked >= .milliseconds(500) else { return }
        let now = ContinuousClock.now
        idleChecked = now
        for (fd, var client) in clients {
            let s = client.connection.snapshot()
            if s.closeRequested { continue }
            if s.pending > 0 && !s.streaming {
                // Subscriptions have their own stall check (they wait for room, not overflow).
                let written = client.connection.bytesWritten
                if written != client.written || client.stalledSince == nil {
                    client.written = written
                    client.stalledSince = now
                    clients[fd] = client
                } else if let since = client.stalledSince, now - since > config.stallTimeout {
                    Log.warn("server", "closing connection \(client.connection.id) (pid \(client.connection.peer.pid)): \(s.pending) bytes of answers untaken for \(config.stallTimeout)")
                    close(fd, dropOutput: true)
                }
                continue
            }
            if client.stalledSince != nil {
                client.stalledSince = nil
                clients[fd] = client
            }
            guard let limit = config.idleTimeout, now - client.lastActive > limit, !s.streaming, s.inFlight == 0, s.pending == 0
            else { continue }
            Log.info("server", "closing connection \(client.connection.id) (pid \(client.connection.peer.pid)): idle for \(limit)")
            close(fd, dropOutput: true)
        }
    }

    // MARK: - Serving a client

    /// Whether the connection may take another request now: none holds it, the unanswered ones
    /// are under the in-flight bounds (one request always may go), and the client is reading
    /// its answers.
    private func mayDispatch(_ state: ConnectionSnapshot) -> Bool {
        guard !state.awaiting, state.pending < config.maxOutputBytes / 2 else { return false }
        return state.inFlight == 0
            || (state.inFlight < config.maxRequestsInFlight && state.inFlightBytes < config.maxInFlightBytes)
    }

    private func interest(_ client: Client) -> Int16 {
        let state = client.connection.snapshot()
        var events: Int16 = 0
        // At the bound the socket is not read: the client's writes block (backpressure).
        let reading = !client.readEOF && !state.closeRequested && !draining && (state.streaming || mayDispatch(state))
        if reading { events |= Int16(POLLIN) }
        if state.pending > 0 { events |= Int16(POLLOUT) }
        return events
    }

    private func service(fd: Int32, revents: Int16) {
        guard clients[fd] != nil else { return }
        if revents & Int16(POLLERR | POLLNVAL | POLLHUP) != 0 {
            // POLLHUP on a Unix stream socket: the peer closed both directions, so no answer
            // can reach it. A half-close (shutdown of its write side) is only a read of 0.
            close(fd, dropOutput: true)
            return
        }
        if revents & Int16(POLLIN) != 0 { readAvailable(fd) }
        if clients[fd] != nil { pump(fd) }
    }

    /// Reads while the connection may take requests, dispatching the lines of each read.
    private func readAvailable(_ fd: Int32) {
        for _ in 0..<16 {
            guard var client = clients[fd] else { return }
            let state = client.connection.snapshot()
            if client.readEOF || state.closeRequested || (!state.streaming && !mayDispatch(state)) { return }
            let result = readBuffer.withUnsafeMutableBytes { raw in
                Result { () throws(SystemCallError) -> Int? in try Syscall.read(fd, into: raw) }
            }
            switch result {
            case .failure:
                close(fd, dropOutput: true)
                return
            case .success(nil):
                return
            case .success(0?):
                client.readEOF = true
                clients[fd] = client
                return
            case .success(let count?):
                client.lastActive = .now
                // A streaming connection takes no more requests: its input is discarded.
                if !state.streaming {
                    readBuffer.withUnsafeBytes { client.framer.append(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
                }
                clients[fd] = client
                dispatchNext(fd)
            }
        }
    }

    /// Hands the buffered requests to the handler, in order, while the connection may take them.
    private func dispatchNext(_ fd: Int32) {
        guard var client = clients[fd], !draining else { return }
        frames: while true {
            let state = client.connection.snapshot()
            if state.streaming || state.closeRequested || !mayDispatch(state) { break }
            let frame = client.readEOF ? client.framer.finish() : client.framer.next()
            guard let frame else {
                if client.readEOF { client.closeWhenFlushed = true }
                break
            }
            switch frame {
            case .tooLong:
                // Answered in its place among the connection's requests.
                guard client.connection.beginRequest(bytes: 0) else { break frames }
                let line = ProtocolError(
                    "line_too_long", "request line longer than \(config.maxLineBytes) bytes; it was discarded").line
                _ = client.connection.enqueue(line)
            case .line(let line):
                guard client.connection.beginRequest(bytes: line.count) else { break frames }
                // An answer given here is flushed by `pump` right after this returns.
                if let job = handler.accept(line: line, connection: client.connection) {
                    handlerPool.submit(job)
                }
            }
        }
        clients[fd] = client
    }

    /// Brings a connection up to date: close if asked, dispatch, flush.
    private func pump(_ fd: Int32) {
        guard var client = clients[fd] else { return }
        let state = client.connection.snapshot()
        if state.closeRequested {
            // A handler's close() keeps what it queued (e.g. the tail of a stream) until it is
            // flushed or the linger time passes; an overflow or a dead peer drops it.
            if state.dropOutput || client.connection.flush(to: fd) != .blocked {
                close(fd, dropOutput: true)
            } else if client.lingerDeadline == nil {
                client.lingerDeadline = .now + config.drainTimeout
                clients[fd] = client
            }
            return
        }
        dispatchNext(fd)
        switch client.connection.flush(to: fd) {
        case .failed:
            close(fd, dropOutput: true)
        case .done:
            if let updated = clients[fd], updated.closeWhenFlushed, updated.connection.snapshot().inFlight == 0 {
                close(fd, dropOutput: false)
            }
        case .blocked:
            break
        }
    }

    private func close(_ fd: Int32, dropOutput: Bool) {
        guard let client = clients.removeValue(forKey: fd) else { return }
        descriptors[ObjectIdentifier(client.connection)] = nil
        if !dropOutput { _ = client.connection.flush(to: fd) }
        client.connection.requestClose(dropOutput: dropOutput)
        client.connection.discardOutput()
        Syscall.close(fd)
    }

    private var lingering: Int { clients.values.reduce(0) { $0 + ($1.lingerDeadline == nil ? 0 : 1) } }

    private func expireLingering() {
        let now = ContinuousClock.now
        for (fd, client) in clients {
            if let deadline = client.lingerDeadline, now >= deadline { close(fd, dropOutput: true) }
        }
    }

    // MARK: - Stopping

    private func beginDrain() {
        draining = true
        drainDeadline = .now + config.drainTimeout
        if listenFd >= 0 {
            Syscall.close(listenFd)
            listenFd = -1
        }
        // New clients now find no socket (and fall back to opening the store themselves).
        try? Syscall.unlink(socketPath)
    }

    /// Closes a connection once it has nothing in flight and nothing queued, or at the deadline.
    private func drainStep(_ fd: Int32) {
        guard let client = clients[fd] else { return }
        let state = client.connection.snapshot()
        let idle = (state.streaming || state.inFlight == 0) && state.pending == 0
        if idle || ContinuousClock.now >= drainDeadline {
            close(fd, dropOutput: false)
        }
    }

    private func drainWakePipe() {
        var scratch = [UInt8](repeating: 0, count: 64)
        while true {
            let count = scratch.withUnsafeMutableBytes { try? Syscall.read(wakeReadFd, into: $0) }
            guard let count, count > 0 else { return }
        }
    }
}
