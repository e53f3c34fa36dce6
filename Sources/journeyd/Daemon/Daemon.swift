import Dispatch
import Glibc
import JourneyCore
import JourneyProtocol
import JourneyStore
import Synchronization

/// `journeyd serve`: the engine behind a Unix socket (SPEC §4).
///
/// Short requests are parsed on the server's I/O thread, long ones (append batches) on its
/// handler threads; appends go to the store's write pipeline (one writer, one fsync for many clients)
/// without waiting for each other and are answered once durable, in request order; queries read
/// the live projections; subscriptions stream the log from a position and then follow it.
final class Daemon: RequestHandler {
    let engine: JourneyEngine
    let socketPath: String
    /// The store's one write pipeline (the engine's).
    var writes: WritePipeline { engine.writes }
    let subscriptions: SubscriptionHub
    /// The streams of `signals`: each consumer's signals from a seq on, then live.
    let signalStreams: SubscriptionHub
    private let server: Mutex<UnixSocketServer?> = Mutex(nil)
    private let rebuilding = Atomic<Bool>(false)
    private let checkpoints: CheckpointPolicy
    /// Signalled at stop to end the checkpoint thread.
    private let stopCheckpoints = DispatchSemaphore(value: 0)
    private let checkpointsEnded = DispatchSemaphore(value: 0)
    private let checkpointThreadStarted = Atomic<Bool>(false)
    /// The server's longest request line, answered by `limits`.
    private let maxLineBytes = Atomic<Int>(ServerConfig().maxLineBytes)

    /// When the running daemon saves its projections, so that a restart after `kill -9` folds
    /// only what came since: every `interval`, if at least `minEvents` were folded since the
    /// last checkpoint.
    struct CheckpointPolicy: Sendable {
        var interval: Duration = .seconds(30)
        var minEvents: UInt64 = 10_000
    }

    /// - Parameters:
    ///   - subscriberStallTimeout: how long a subscriber's output queue may stay full (the
    ///     client reads nothing) before it is disconnected.
    ///   - cannotGoOn: called once, with the message logged, when the store stops accepting
    ///     writes (an I/O error left the disk's content uncertain). The daemon then refuses
    ///     appends with `writes_stopped`; the caller should stop it (`journeyd serve` exits with
    ///     status 3, and its service manager restarts it, which reopens the store).
    init(
        engine: JourneyEngine, socketPath: String, subscriberStallTimeout: Duration = .seconds(10),
        checkpoints: CheckpointPolicy = CheckpointPolicy(),
        cannotGoOn: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.engine = engine
        self.checkpoints = checkpoints
        self.socketPath = socketPath
        let hub = SubscriptionHub(log: engine.log, stallTimeout: subscriberStallTimeout)
        self.subscriptions = hub
        let log = engine.log
        let signalHub = SubscriptionHub(stallTimeout: subscriberStallTimeout) { from, line in
            try log.scanSignals(after: from - 1) { seq, stored in line(Signal.line(seq: seq, stored: stored)) }
        }
        self.signalStreams = signalHub
        engine.writes.onCommit { last in
            hub.advance(to: last)
            signalHub.advance(to: last)
        }
        engine.writes.onWritesStopped { failure in
            let message = "\(failure.message); journeyd is stopping"
            Log.error("writer", message)
            cannotGoOn(message)
        }
    }

    /// Starts the writer and the socket, and records the socket in the store's lock record.
    /// Throws when the socket cannot be served (e.g. another daemon holds the socket path) or
    /// the engine is read-only.
    func start(config: ServerConfig) throws {
        maxLineBytes.store(config.maxLineBytes, ordering: .relaxed)
        let s = UnixSocketServer(path: socketPath, config: config, handler: self)
        try s.start()
        // The store's lock record names the socket: the command line finds the daemon there.
        do { try engine.log.announce(socket: socketPath) } catch {
            s.stop()
            throw error
        }
        server.withLock { $0 = s }
        checkpointThreadStarted.store(true, ordering: .releasing)
        startThread { [self] in checkpointLoop() }
    }

    /// Saves a checkpoint now and then while serving (the serialization runs on a copy, so
    /// appends and queries go on; the write shares the store's single writer).
    private func checkpointLoop() {
        defer { checkpointsEnded.signal() }
        var saved = engine.projectionStats.position
        while stopCheckpoints.wait(timeout: .now() + checkpoints.interval.dispatchInterval) == .timedOut {
            let stats = engine.projectionStats
            guard stats.rebuild == nil, stats.position >= saved + checkpoints.minEvents else { continue }
            do {
                try engine.checkpoint()
                saved = stats.position
                Log.info("checkpoint", "position=\(stats.position) clusters=\(stats.clusters)")
            } catch {
                Log.warn("checkpoint", "not saved: \(error); a restart folds the log from the previous one")
            }
        }
    }

    /// Stops accepting, answers what was acknowledged, saves the checkpoint, removes the socket.
    func stop() throws {
        let s = server.withLock { s -> UnixSocketServer? in
            defer { s = nil }
            return s
        }
        if let s {
            s.stop()
            try? engine.log.announce(socket: nil)
        }
        subscriptions.closeAll()
        signalStreams.closeAll()
        // Everything acknowledged or in flight is committed, folded and answered (and its signals
        // stored) before the checkpoint.
        engine.writes.drain()
        engine.settleSignals()
        if checkpointThreadStarted.exchange(false, ordering: .acquiringAndReleasing) {
            stopCheckpoints.signal()
            checkpointsEnded.wait()
        }
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

    /// A short line is parsed here on the I/O thread, once: a short append goes to the group
    /// pipeline from here, and `ping` is answered here; the other ops take the parsed request to
    /// the pool (an answer that names patients waits there for its audit record to be durable).
    /// A long line (an append batch) is parsed there.
    ///
    /// Pipelining (README, "The socket protocol"): an append is submitted to the pipeline and
    /// then detached from the connection, so the connection's next request is dispatched before
    /// the commit is durable; appends are submitted in the order sent because the next request
    /// is dispatched only after that. Any other request waits until the connection's earlier
    /// requests are answered (`whenCaughtUp`), so it sees their effects.
    func accept(line: [UInt8], connection: ServerConnection) -> (@Sendable () -> Void)? {
        guard line.count <= 4096 else { return { self.handle(line: line, connection: connection) } }
        if let (batch, onConflict) = AppendFastPath.encodedWithOption(line) {
            submit(.success(batch), onConflict, connection, onIOThread: true)
            return nil
        }
        guard let (op, request) = parse(line, connection) else { return nil }
        if op == "append" {
            serveAppend(request, connection, onIOThread: true)
            return nil
        }
        if op == "ping" {
            connection.whenCaughtUp { self.serve(op, request, connection) }
            return nil
        }
        return { connection.whenCaughtUp { self.serve(op, request, connection) } }
    }

    func handle(line: [UInt8], connection: ServerConnection) {
        if let (batch, onConflict) = AppendFastPath.encodedWithOption(line) {
            submit(.success(batch), onConflict, connection, onIOThread: false)
            return
        }
        guard let (op, request) = parse(line, connection) else { return }
        if op == "append" {
            serveAppend(request, connection, onIOThread: false)
        } else {
            connection.whenCaughtUp { self.serve(op, request, connection) }
        }
    }

    /// Decodes an append request (the general path, with its error messages) and submits its
    /// events, or answers the error.
    private func serveAppend(_ request: JSONValue, _ connection: ServerConnection, onIOThread: Bool) {
        let append: AppendRequest
        do {
            append = try AppendRequest(decoding: request)
        } catch {
            _ = connection.send(error.line)
            return
        }
        submit(EventLog.encode(append.events), append.onConflict, connection, onIOThread: onIOThread)
    }

    /// Submits the current request's events to the write pipeline, then releases the
    /// connection for its next request; the answer goes out in its place once durable.
    private func submit(_ batch: Result<EventLog.EncodedBatch, StoreError>, _ onConflict: AppendRequest.OnConflict,
                        _ connection: ServerConnection, onIOThread: Bool) {
        // Nil only if the connection closed meanwhile; the batch is still committed.
        let ticket = connection.ticket
        switch onConflict {
        case .failBatch:
            writes.submit(encoded: batch) { result in
                guard let ticket else { return }
                switch result {
                case .success(let outcomes): _ = connection.send(AppendAnswer(outcomes).line, for: ticket)
                case .failure(let e): _ = connection.send(Ops.storeError(e).line, for: ticket)
                }
            }
        case .rejectEvent:
            // A conflicting batch is appended event by event in its place in the commit order.
            writes.submit(EventLog.GroupEntry(batch: batch, splitConflicts: true)) { result in
                guard let ticket else { return }
                switch result {
                case .success(let results):
                    let answer = Ops.appendAnswer(results) { i in
                        if case .success(let b) = batch { b.id(at: i) } else { "" }
                    }
                    _ = connection.send(answer.line, for: ticket)
                case .failure(let e): _ = connection.send(Ops.storeError(e).line, for: ticket)
                }
            }
        }
        // After the submit: the next append of this connection must queue behind this one.
        if let ticket { connection.detach(ticket, wake: !onIOThread) }
    }

    /// The op and request object of `line`; nil after answering the error when it is not a
    /// request. The request itself is decoded when served, in its turn.
    private func parse(_ line: [UInt8], _ connection: ServerConnection) -> (String, JSONValue)? {
        do {
            return try Request.envelope(line)
        } catch {
            _ = connection.send(error.line)
            return nil
        }
    }

    /// The ops, answering for the connection's peer as the request names itself (`as`, `reason`).
    private func ops(_ object: JSONValue, _ connection: ServerConnection) throws(ProtocolError) -> Ops {
        let requester = try Requester(decoding: object)
        let peer = connection.peer
        return Ops(engine: engine, reader: AuditContext(actor: requester.actor, reason: requester.reason, uid: peer.uid, pid: peer.pid))
    }

    private func serve(_ op: String, _ object: JSONValue, _ connection: ServerConnection) {
        let request: Request
        do {
            request = try Request.decode(op: op, object)
        } catch {
            _ = connection.send(error.line)
            return
        }
        switch request {
        case .append(let append):
            submit(EventLog.encode(append.events), append.onConflict, connection, onIOThread: false)
        case .subscribe(let r):
            // The stream discloses every event from `from` on: recorded before the first line.
            do {
                try ops(object, connection).disclosed(request, ids: [])
            } catch {
                _ = connection.send(error.line)
                return
            }
            connection.startStreaming()
            _ = connection.send(SubscribeAnswer(from: r.from).line)
            subscriptions.add(connection, from: r.from)
        case .signals(let r):
            let after: UInt64
            do throws(StoreError) {
                let consumer = try engine.log.openSignalConsumer(r.consumer, now: Clock.nowMs())
                after = r.from ?? consumer.acked
            } catch {
                _ = connection.send(Ops.signalError(error).line)
                return
            }
            let reader: AuditContext
            do {
                reader = try ops(object, connection).reader
            } catch {
                _ = connection.send(error.line)
                return
            }
            connection.startStreaming()
            _ = connection.send(SignalsAnswer(consumer: r.consumer, after: after).line)
            // Each batch is recorded in the read audit, with the patients it names, before it is sent.
            let engine = engine, consumer = r.consumer
            signalStreams.add(connection, from: after + 1) { first, lines throws(AuditUnavailable) in
                let patients = lines.lazy.compactMap { try? JSONParser.parse($0)["patient"]?.stringValue }
                try engine.discloseSignals(consumer: consumer, first: first, last: first + UInt64(lines.count) - 1,
                                           patients: patients, to: reader)
            }
        case .ack(let r):
            do {
                let c = try engine.ackSignals(consumer: r.consumer, seq: r.seq)
                _ = connection.send(AckAnswer(consumer: c.name, acked: c.acked).line)
            } catch {
                _ = connection.send(Ops.signalError(error).line)
            }
        case .limits:
            _ = connection.send(LimitsAnswer(
                maxLineBytes: maxLineBytes.load(ordering: .relaxed), maxEventBytes: EventLimits.maxEventBytes).line)
        case .replay:
            _ = connection.send(ReplayAnswer(rebuilding: startRebuild()).line)
        case .ping, .patient, .handoff, .funnel, .contacts, .atRisk, .stats,
             .appointments, .patients, .cohorts, .trends, .referrals, .segment, .audit, .erase:
            do {
                let answer = try ops(object, connection).answer(request)
                _ = connection.send(answer)
            } catch {
                _ = connection.send(error.line)
            }
        }
    }
}
