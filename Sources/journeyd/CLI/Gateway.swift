import Glibc
import JourneyClient
import JourneyCore
import JourneyProtocol
import JourneyStore

/// Sends a command's request to the daemon serving the data directory, or, when none does,
/// answers it from the store directly with the same code the daemon runs.
///
/// One process writes a store at a time, and it records itself in the store's lock file
/// (`DIR/writer.lock`): its pid and the socket it serves, if any. So the daemon is found
/// whatever its `--socket`; with none serving, reading commands open the store read-only (never
/// blocked, even beside another writer), and writing ones open it as its writer, refused with
/// `store_busy` while another process (a running import) writes it.
enum Gateway {
    /// The default socket of `journeyd serve --data dir`.
    static func socketPath(dir: String) -> String { dir + "/journeyd.sock" }

    /// The connection to the daemon serving `dir`, else nil: the socket its lock record names,
    /// when the process listening there is the one that recorded it (a record left by a daemon
    /// killed with -9 may name a socket another daemon reuses for another store). Without a
    /// record to read (none, or the file is the daemon user's only: a member of its
    /// `--allow-group`), the default socket.
    static func connect(dir: String) -> JourneyConnection? {
        guard let holder = EventLog.writer(of: dir) else {
            let path = socketPath(dir: dir)
            guard access(path, F_OK) == 0 else { return nil }
            return try? JourneyConnection(socketPath: path)
        }
        guard let socket = holder.socket, let c = try? JourneyConnection(socketPath: socket) else { return nil }
        guard c.peerProcessID == holder.pid else {
            c.close()
            return nil
        }
        return c
    }

    /// The daemon's answer to `line`, or nil when no daemon serves `dir`.
    static func remoteRequest(dir: String, _ line: [UInt8]) throws -> [UInt8]? {
        guard let c = connect(dir: dir) else { return nil }
        defer { c.close() }
        return try c.requestBytes(line)
    }

    /// The answer line to `request` sent by `requester`, from the daemon or from the store
    /// opened read-only (recording its reads in the store's read audit, as the daemon does).
    static func request(dir: String, _ request: Request, as requester: Requester) throws -> [UInt8] {
        let line = requester.adding(to: request.line)
        if let answer = try remoteRequest(dir: dir, line) { return answer }
        let engine = try JourneyEngine(directory: try readableStore(dir), access: .readOnly)
        do {
            // Read as the daemon reads it, so a request built with values the wire refuses
            // (`limit` 0) gets the daemon's error here too.
            let (op, object) = try Request.envelope(line)
            let who = try Requester(decoding: object)
            let ops = Ops(engine: engine, reader: AuditContext(actor: who.actor, reason: who.reason))
            if case .stats = request { return try ops.stats().line }
            return try ops.answer(try Request.decode(op: op, object))
        } catch let e as ProtocolError {
            return e.line
        }
    }

    /// `dir`, once it holds a store to open read-only. A directory without one yet (created
    /// empty) gets an empty store, when no one else writes it.
    static func readableStore(_ dir: String) throws -> String {
        guard access(dir, F_OK) == 0 else {
            throw CommandFailure(Exit.store, "no store at \(dir) (use --data DIR or set JOURNEY_DATA)")
        }
        if access(dir + "/data.mdb", F_OK) != 0 {
            // Unless its writer is creating it right now.
            let created = Result { () throws(StoreError) -> EventLog in try EventLog(directory: dir) }
            if case .failure(let e) = created, e.code != .storeBusy { throw e }
        }
        return dir
    }

    /// Where a writing command sends its writes.
    enum Writer {
        /// The daemon serving the store.
        case daemon(JourneyConnection)
        /// The store itself, this process holding its writer lock.
        case store(JourneyEngine)
    }

    /// The daemon serving `dir`, else the store opened for writing (created when missing).
    ///
    /// - Throws: `StoreError` `.storeBusy` naming the process that writes the store without
    ///   serving it (e.g. another import).
    static func writer(dir: String, durability: EventLog.Durability = .full, rebuildOnOpen: Bool = false) throws -> Writer {
        if let c = connect(dir: dir) { return .daemon(c) }
        do {
            return .store(try JourneyEngine(directory: dir, durability: durability, rebuildOnOpen: rebuildOnOpen))
        } catch {
            // A daemon that started meanwhile records its socket once it listens.
            guard let busy = error as? StoreError, busy.code == .storeBusy, busy.context.holder?.socket != nil else { throw error }
            guard let c = connect(dir: dir) else { throw error }
            return .daemon(c)
        }
    }
}

/// Counts of events appended and of duplicates skipped.
protocol OutcomeCounts {
    var appended: Int { get set }
    var duplicates: Int { get set }
}

extension OutcomeCounts {
    /// Counts each outcome as appended or duplicate.
    mutating func count(_ outcomes: [EventLog.AppendOutcome]) {
        for o in outcomes { count(o) }
    }

    /// Counts one outcome as appended or duplicate.
    mutating func count(_ outcome: EventLog.AppendOutcome) {
        if case .duplicate = outcome { duplicates += 1 } else { appended += 1 }
    }
}

/// How the import reports what the store refused.
enum ImportRefusal {
    /// The command failure for a batch the store refused as a whole.
    static func failure(_ e: ProtocolError) -> CommandFailure {
        CommandFailure(e.code == "invalid_event" ? Exit.badInput : Exit.store, "\(e.code): \(e.message)", errorCode: e.code)
    }

    /// The rejection of one event, appended alone after its batch conflicted.
    static func rejection(_ e: ProtocolError, id: String, line: Int) -> EventError {
        let why = e.code == "erased" ? "id of an event erased from the store: it cannot be stored again" : "id already stored with other content"
        return EventError(EventError.Code(rawValue: e.code), why, field: "id", value: id, line: line)
    }
}

/// The result of appending one import batch.
struct AppendTally: OutcomeCounts {
    var appended = 0
    var duplicates = 0
    /// Events refused by the store (an id stored with other content), with their line.
    var rejected: [EventError] = []
}

protocol Appender {
    /// Appends `events` (read from input `lines`); a conflict rejects only the conflicting events.
    func append(_ events: [Event], lines: [Int]) throws -> AppendTally
    /// Makes everything durable and saves what the next start needs.
    func finish() throws
}

extension Appender {
    /// Appends a batch; when it conflicts as a whole, appends its events one by one so that
    /// only the conflicting ones are rejected.
    func appendSplittingConflicts(_ events: [Event], lines: [Int],
                                  _ send: ([Event]) throws -> Result<[EventLog.AppendOutcome], ProtocolError>) throws -> AppendTally {
        var t = AppendTally()
        switch try send(events) {
        case .success(let outcomes):
            t.count(outcomes)
        case .failure(let e) where e.code == "conflict" || e.code == "erased":
            for (i, e) in events.enumerated() {
                switch try send([e]) {
                case .success(let outcomes): t.count(outcomes)
                case .failure(let err): t.rejected.append(ImportRefusal.rejection(err, id: e.id, line: lines[i]))
                }
            }
        case .failure(let e):
            throw ImportRefusal.failure(e)
        }
        return t
    }
}

/// Appends to a local engine one batch at a time (the reference the pipelined local import,
/// `Importer.runPipelined`, is tested against).
struct LocalAppender: Appender {
    let engine: JourneyEngine

    func append(_ events: [Event], lines: [Int]) throws -> AppendTally {
        try appendSplittingConflicts(events, lines: lines) { batch in
            do {
                return .success(try engine.append(batch))
            } catch let e as StoreError {
                return .failure(Ops.storeError(e))
            } catch {
                return .failure(ProtocolError("store_error", "\(error)"))
            }
        }
    }

    func finish() throws {
        try engine.log.sync()
        try engine.checkpoint()
    }
}
