import Dispatch
import Glibc
import JourneyCore
import JourneyStore
import Synchronization

/// `journeyd serve`: the engine behind a Unix socket (SPEC §4).
///
/// Requests are parsed on the server's handler queue; appends go to the group committer (one
/// writer, one fsync for many clients) and are answered once durable; queries read the live
/// projections; subscriptions stream the log from a position and then follow it.
final class Daemon: RequestHandler {
    let engine: JourneyEngine
    let socketPath: String
    let committer: GroupCommitter
    let subscriptions: SubscriptionHub
    private let server: Mutex<UnixSocketServer?> = Mutex(nil)
    private let rebuilding = Atomic<Bool>(false)

    /// - Parameter cannotGoOn: called once, with the message logged, when the store stops
    ///   accepting writes (an I/O error left the disk's content uncertain). The daemon then
    ///   refuses appends with `writes_stopped`; the caller should stop it (`journeyd serve`
    ///   exits with status 3, and its service manager restarts it, which reopens the store).
    init(engine: JourneyEngine, socketPath: String, cannotGoOn: @escaping @Sendable (String) -> Void = { _ in }) {
        self.engine = engine
        self.socketPath = socketPath
        let hub = SubscriptionHub(log: engine.log)
        self.subscriptions = hub
        self.committer = GroupCommitter(engine: engine, afterCommit: { last in hub.advance(to: last) }) { failure in
            let message = "\(failure.message); journeyd is stopping"
            Log.error("writer", message)
            cannotGoOn(message)
        }
    }

    /// Starts the writer and the socket. Throws when the socket cannot be served (e.g. another
    /// daemon holds the directory).
    func start(config: ServerConfig) throws {
        let s = UnixSocketServer(path: socketPath, config: config, handler: self)
        try s.start()
        server.withLock { $0 = s }
        committer.start()
    }

    /// Stops accepting, answers what was acknowledged, saves the checkpoint, removes the socket.
    func stop() throws {
        let s = server.withLock { s -> UnixSocketServer? in
            defer { s = nil }
            return s
        }
        s?.stop()
        subscriptions.closeAll()
        committer.stop()
        if engine.log.durability == .relaxed {
            // Relaxed appends reach the disk here; closing the store would sync without a word.
            do { try engine.log.sync() } catch {
                Log.error("serve", "flushing relaxed appends to disk failed: \(error)")
            }
        }
        // Without a checkpoint the next start folds the log from the previous one: nothing is
        // lost, so a store that takes no writes (disk full, I/O error) still stops cleanly.
        do { try engine.checkpoint() } catch {
            Log.warn("serve", "projection checkpoint not saved: \(error); the next start folds the log from the previous checkpoint")
        }
    }

    /// Rebuilds the projections in the background while appends continue.
    func startRebuild() -> Bool {
        guard rebuilding.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            return false
        }
        startThread { [self] in
            do {
                try engine.rebuild { p in
                    if p.done == p.total { Log.info("rebuild", "done=\(p.done) events_per_s=\(Int(p.eventsPerSecond))") }
                }
                try engine.checkpoint()
            } catch {
                Log.error("rebuild", "failed: \(error)")
            }
            rebuilding.store(false, ordering: .releasing)
        }
        return true
    }

    func handle(line: [UInt8], connection: ServerConnection) {
        let op: String, request: JSONValue
        do {
            (op, request) = try Ops.parseRequest(line)
        } catch {
            _ = connection.send(error.json)
            return
        }
        switch op {
        case "append":
            let events: [Event]
            do {
                events = try Ops.appendEvents(request)
            } catch {
                _ = connection.send(error.json)
                return
            }
            committer.submit(events) { result in
                switch result {
                case .success(let outcomes): _ = connection.send(Ops.appendAnswer(outcomes))
                case .failure(let e): _ = connection.send(Ops.storeError(e).json)
                }
            }
        case "subscribe":
            let from: Int64
            do {
                from = try Ops.int(request, "from") ?? 1
            } catch {
                _ = connection.send(error.json)
                return
            }
            guard from >= 1 else {
                _ = connection.send(OpError("bad_request", "\"from\" must be a position ≥ 1").json)
                return
            }
            connection.startStreaming()
            _ = connection.send(ok { w in w.key("subscribed"); w.int(from) })
            subscriptions.add(connection, from: UInt64(from))
        case "replay":
            let started = startRebuild()
            _ = connection.send(ok { w in w.key("rebuilding"); w.bool(started) })
        default:
            let peer = connection.peer
            do {
                let answer = try Ops(engine: engine).answer(op: op, request) { op, id in
                    committer.audit(AuditRecord(at: Clock.nowMs(), uid: peer.uid, pid: peer.pid, op: op, id: id))
                }
                _ = connection.send(answer)
            } catch {
                _ = connection.send(error.json)
            }
        }
    }
}

/// Subscriptions: each catches up from its position, then follows live appends, without gaps
/// or repeats. A subscriber that stops reading is disconnected by the server when its buffer
/// fills; it never slows the writer or other clients (each is pumped on its own queue).
final class SubscriptionHub: Sendable {
    private final class Subscriber: Sendable {
        let connection: ServerConnection
        let queue = DispatchQueue(label: "journeyd.subscriber")
        /// The next position to send, and whether a pump is scheduled.
        let state: Mutex<(next: UInt64, scheduled: Bool)>
        init(connection: ServerConnection, next: UInt64) {
            self.connection = connection
            self.state = Mutex((next, false))
        }
    }

    private let log: EventLog
    private let subscribers = Mutex<[ObjectIdentifier: Subscriber]>([:])
    /// Events sent per read transaction while catching up.
    private let chunk = 1000

    init(log: EventLog) {
        self.log = log
    }

    func add(_ connection: ServerConnection, from: UInt64) {
        let s = Subscriber(connection: connection, next: from)
        let key = ObjectIdentifier(s)
        subscribers.withLock { $0[key] = s }
        connection.onClose { [weak self] in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: key) }
        }
        schedule(s)
    }

    /// Wakes every subscriber after a commit.
    func advance(to last: UInt64) {
        for s in subscribers.withLock({ Array($0.values) }) { schedule(s) }
    }

    func closeAll() {
        for s in subscribers.withLock({ Array($0.values) }) { s.connection.close() }
    }

    private func schedule(_ s: Subscriber) {
        let go = s.state.withLock { st -> Bool in
            if st.scheduled { return false }
            st.scheduled = true
            return true
        }
        if go { s.queue.async { self.pump(s) } }
    }

    /// Sends everything from the subscriber's next position to the end of the log.
    private func pump(_ s: Subscriber) {
        while s.connection.isOpen {
            // Clear the flag before reading, so a commit landing during the read reschedules us.
            let next = s.state.withLock { st -> UInt64 in
                st.scheduled = false
                return st.next
            }
            var sent = next
            var lines: [[UInt8]] = []
            do {
                try log.scan(from: next) { pos, view in
                    let e = try view.event()
                    var w = JSONWriter()
                    w.beginObject()
                    w.key("position"); w.int(Int64(pos))
                    w.key("event")
                    EventJSON.write(e, into: &w)
                    w.endObject()
                    lines.append(w.bytes)
                    sent = pos + 1
                    return lines.count < chunk
                }
            } catch {
                _ = s.connection.send(OpError("store_error", "\(error)").json)
                s.connection.close()
                return
            }
            for l in lines where !s.connection.send(l) { return }
            let more = s.state.withLock { st -> Bool in
                st.next = sent
                // A full chunk means more may follow; otherwise a commit that landed meanwhile
                // has already scheduled the next pump.
                if lines.count == chunk && !st.scheduled {
                    st.scheduled = true
                    return true
                }
                return false
            }
            if !more { return }
        }
    }
}
