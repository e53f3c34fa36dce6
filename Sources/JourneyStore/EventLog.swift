import Glibc
import JourneyCore
import JourneyProtocol
import Synchronization

/// The durable, append-only log of events: an LMDB environment in one directory (SPEC §2).
///
/// Named databases: `log` (big-endian position → `EventRecord`), `ids` (id → position),
/// `subjects` (subject → big-endian positions, sorted duplicates), `meta` (format version),
/// `checkpoints` (projection snapshots, chunked), `audit` (sequence → opaque entry), `signals`
/// (big-endian seq → signal object), `consumers` (signal consumer name → acknowledged seq),
/// `erased` (id of an event an erasure rewrote → its position) and `erasures` (big-endian seq →
/// erasure receipt).
/// Writes are serialized by one lock; reads may run on any thread at once, each in its own
/// snapshot. Open a store once per process (a second open throws `.alreadyOpen`) and share it.
/// One process writes a store at a time: opening it for writing takes the store's writer lock,
/// and any other writer is refused (`.storeBusy`); readers open it `.readOnly`, never blocked.
///
/// Do not append from inside a `scan` body: should the map need to grow, that append fails
/// (growing waits for every open read of the process, including the caller's own).
public final class EventLog: Sendable {
    /// Whether an append is on disk when it returns.
    public enum Durability: Sendable, Hashable {
        /// fsync on every commit (the default): an acknowledged append survives power loss.
        case full
        /// No fsync on commit (`MDB_NOSYNC`), only on `sync()` and close: a crash may lose the
        /// latest appends, never corrupt the store. Must be asked for by name.
        case relaxed
    }

    /// The store format this program writes and reads: 2, whose records carry a checksum
    /// (`RecordFrame`). Stores of format 1 (records without one) are upgraded by `StoreMigration`
    /// (`journeyd migrate`); every other use refuses them (`.oldFormat`).
    public static let formatVersion: UInt32 = 2

    /// The store's directory.
    public let directory: String
    /// Whether an append is on disk when it returns (see `Durability`).
    public let durability: Durability
    /// Whether this process may write the store (see `Access`).
    public let access: Access

    let env: LMDBEnvironment
    let log: LMDBDatabase
    let ids: LMDBDatabase
    let subjects: LMDBDatabase
    let meta: LMDBDatabase
    let checkpoints: LMDBDatabase
    let audit: LMDBDatabase
    /// Nil only in a store opened read-only that no writer of this version has opened yet.
    let signals: LMDBDatabase?
    let consumers: LMDBDatabase?
    /// The ids of erased events (see `erase`), and the erasures' receipts.
    let erased: LMDBDatabase?
    let erasures: LMDBDatabase?
    /// The store's writer lock, held for the life of the environment; nil when read-only.
    let writerLock: StoreLock?
    /// The single owner of the write path (LMDB allows one writer).
    let writeLock = Mutex(())
    /// How many times a write found the map full and grew it (for tests and stats).
    let mapGrowths = Atomic<Int>(0)
    /// Set once a failure leaves the disk's content uncertain: writes are refused from then on.
    private let stoppedWrites = Mutex<StoreError?>(nil)
    /// The last position as of the latest commit of this process (a fallback for `lastPosition`).
    let committedPosition = Atomic<UInt64>(0)

    static let versionKey = Array("format_version".utf8)

    /// Opens the store in `directory`, creating it (and the directory) when missing.
    ///
    /// - Parameters:
    ///   - directory: the store's directory (an LMDB environment: `data.mdb`, `lock.mdb`).
    ///   - durability: `.full` unless relaxed durability is wanted by name.
    ///   - mapSize: the initial map size in bytes (address space, not disk); the map doubles
    ///     whenever it fills.
    ///   - access: `.readWrite` (the default) takes the store's writer lock; `.readOnly` takes
    ///     none and writes nothing (the store must exist).
    /// - Throws: `StoreError` `.storeBusy` (naming the holder in `context.holder`) when another
    ///   process writes the store, `.futureVersion` for a store written by a newer format,
    ///   `.oldFormat` for a store of an earlier format (upgrade it with `StoreMigration`),
    ///   `.alreadyOpen` when this process has it open already, `.notFound` when a store opened
    ///   read-only does not exist, `.corrupt` or `.io` when it cannot be opened.
    public init(directory: String, durability: Durability = .full, mapSize: Int = 1 << 30,
                access: Access = .readWrite) throws(StoreError) {
        self.directory = directory
        self.durability = durability
        self.access = access
        // The lock comes first: a refused writer touches nothing of the store.
        let lock = access == .readWrite ? try StoreLock(directory: directory) : nil
        writerLock = lock
        var flags: LMDBEnvironment.Flags = durability == .relaxed ? .noSync : []
        if access == .readOnly { flags.insert(.readOnly) }
        do {
            env = try LMDBEnvironment(
                path: directory, flags: flags, maxDatabases: 16, mapSize: max(mapSize, 64 << 10),
                heldUntilClosed: lock)
        } catch where access == .readOnly && (error.rawValue == ENOENT || error.rawValue == ENOTDIR) {
            throw StoreError(.notFound, "there is no store in \(directory)", context: .init(path: directory, lmdb: error))
        } catch where error.rawValue == EBUSY {
            throw StoreError(
                .alreadyOpen, "the store in \(directory) is already open in this process; share that EventLog",
                context: .init(path: directory, lmdb: error))
        } catch {
            throw StoreError.lmdb(error, "cannot open the store in \(directory)", path: directory)
        }
        // Before LMDB reads any tree: its pages are checked first, so a damaged one is refused
        // here rather than faulting a reader.
        try Self.checkStructure(env, directory)
        do {
            let writing = access == .readWrite
            let create: LMDBDatabase.Flags = writing ? .create : []
            let txn = try env.begin(readOnly: !writing)
            log = try txn.openDatabase("log", flags: create)
            ids = try txn.openDatabase("ids", flags: create)
            subjects = try txn.openDatabase("subjects", flags: create.union([.dupSort, .dupFixed]))
            meta = try txn.openDatabase("meta", flags: create)
            checkpoints = try txn.openDatabase("checkpoints", flags: create)
            audit = try txn.openDatabase("audit", flags: create)
            // Absent from a store a reader opens before any writer of this version did: the
            // signals are then empty (`openOptionalDatabase`).
            signals = try txn.openOptionalDatabase("signals", flags: create)
            consumers = try txn.openOptionalDatabase("consumers", flags: create)
            erased = try txn.openOptionalDatabase("erased", flags: create)
            erasures = try txn.openOptionalDatabase("erasures", flags: create)
            let stored = try txn.withValue(meta, forKey: Self.versionKey) { raw -> UInt32? in
                raw.count == 4 ? UInt32(littleEndian: raw.loadUnaligned(as: UInt32.self)) : nil
            }
            switch stored {
            case nil where try lastPosition(txn) != 0:
                throw StoreError(.corrupt, "the store in \(directory) holds events but no format version", context: .init(path: directory))
            case nil where !writing:
                break  // a store being created: its writer records the version
            case nil:
                var v = Self.formatVersion.littleEndian
                try withUnsafeBytes(of: &v) { value in
                    try Self.versionKey.withUnsafeBytes { try txn.put(meta, key: $0, value: value) }
                }
            case .some(nil):
                throw StoreError(.corrupt, "the store's format version entry is malformed", context: .init(path: directory))
            case .some(let v?) where v > Self.formatVersion:
                throw StoreError(
                    .futureVersion,
                    "the store in \(directory) has format version \(v); this program reads up to \(Self.formatVersion): upgrade journeyd",
                    context: .init(path: directory))
            case .some(let v?) where v < 1:
                throw StoreError(.corrupt, "the store's format version \(v) is invalid", context: .init(path: directory))
            case .some(let v?) where v < Self.formatVersion:
                throw Self.oldFormat(v, directory)
            default:
                break
            }
            let last = try lastPosition(txn)
            // Committed even when read-only: LMDB keeps the databases opened by a committed transaction.
            try txn.commit()
            committedPosition.store(last, ordering: .relaxed)
        } catch {
            throw Self.storeError(error, "cannot open the store in \(directory)", path: directory)
        }
        // An erasure interrupted before its audit rewrite or its compaction is finished.
        if access == .readWrite { try finishInterruptedErasure() }
    }

    /// Checks the B-tree pages of the snapshot of a read transaction on `env` (see
    /// `LMDBPageCheck`), which keeps the pages checked from reuse while the check runs.
    ///
    /// - Throws: `StoreError` `.corrupt` naming the damaged page.
    @discardableResult
    static func checkStructure(_ env: LMDBEnvironment, _ directory: String) throws(StoreError) -> LMDBPageCheck.Summary {
        do {
            var attempts = 0
            while true {
                do {
                    return try checkSnapshot(env, directory)
                } catch let e as LMDBPageCheck.Damage where e.snapshotMoved && attempts < 10 {
                    // Another process committed twice since the snapshot began: take a newer one.
                    attempts += 1
                }
            }
        } catch let e as LMDBPageCheck.Damage {
            throw StoreError(
                .corrupt, "the store in \(directory) is damaged: \(e); nothing was read from it (restore a backup)",
                context: .init(path: directory))
        } catch {
            throw storeError(error, "cannot check the store in \(directory)", path: directory)
        }
    }

    /// `LMDBPageCheck` of the snapshot of a read transaction held meanwhile.
    private static func checkSnapshot(_ env: LMDBEnvironment, _ directory: String) throws -> LMDBPageCheck.Summary {
        let pin = try env.begin(readOnly: true)
        let summary = try LMDBPageCheck.check(directory: directory, transaction: pin.id)
        pin.abort()  // the snapshot is held up to here
        return summary
    }

    /// The refusal of a store of the earlier format `version`.
    static func oldFormat(_ version: UInt32, _ directory: String) -> StoreError {
        StoreError(
            .oldFormat,
            "the store in \(directory) has format version \(version), whose records carry no checksum; this program reads format \(formatVersion): upgrade the store with 'journeyd migrate --data \(directory)' (stop every process using it first)",
            context: .init(path: directory))
    }

    deinit {
        // Relaxed durability defers fsync to close.
        if durability == .relaxed && access == .readWrite { try? env.sync(force: true) }
    }

    /// Flushes every commit to disk (a no-op cost with full durability, and when read-only).
    ///
    /// - Throws: `StoreError` `.writesStopped` when the flush fails: the commits it should have
    ///   made durable may be lost, and the store refuses writes from then on.
    public func sync() throws(StoreError) {
        guard access == .readWrite else { return }  // nothing of this process to flush
        if let stopped = writeFailure { throw stopped }
        do { try env.sync(force: true) } catch {
            throw stopWrites(after: error, "flushing commits to disk failed")
        }
    }

    // MARK: Appending

    /// What an append did with one event (`JourneyProtocol.AppendOutcome`, the type an
    /// append answer carries): `.appended(position)` or `.duplicate(position)`.
    public typealias AppendOutcome = JourneyProtocol.AppendOutcome

    /// Appends a batch atomically, in one transaction (SPEC §2).
    ///
    /// An id already stored with equal content is a `duplicate` answering the stored position;
    /// an id stored (or earlier in the batch) with different content fails the whole batch with
    /// `.conflict`, and nothing is appended. New events get dense positions in batch order. The
    /// batch is on disk when this returns, unless the store is relaxed.
    package func append(_ events: [Event]) throws(StoreError) -> [AppendOutcome] {
        var batch = EncodedBatch(reservingEvents: events.count)
        for e in events { try batch.append(e) }
        return try appendEncoded(batch)
    }

    /// Appends events already encoded (see `append` for the semantics).
    package func appendEncoded(_ batch: EncodedBatch) throws(StoreError) -> [AppendOutcome] {
        if batch.count == 0 { return [] }
        return try write(estimatedBytes: batch.bytes.count * 2 + batch.count * 64) { txn in
            try self.appendInTransaction(txn, batch)
        }
    }

    /// Appends several batches in one transaction (one fsync), each with the semantics of
    /// `append`, in order, up to the first batch that fails for a reason of its own (a
    /// conflict, an invalid event): that batch and the ones after it are not appended, and its
    /// error is returned with the outcomes of the batches before it. Positions are those that
    /// appending the batches one after the other would give.
    ///
    /// - Throws: `StoreError` when the store fails (disk full, I/O): nothing is appended.
    package func appendEncoded(_ batches: [EncodedBatch]) throws(StoreError) -> (outcomes: [[AppendOutcome]], failure: StoreError?) {
        var count = batches.count
        var failure: StoreError?
        while count > 0 {
            var failedAt: Int?
            let prefix = batches[0..<count]
            let estimate = prefix.reduce(0) { $0 + $1.bytes.count * 2 + $1.count * 64 }
            do {
                let outcomes = try write(estimatedBytes: estimate) { txn in
                    try self.appendRun(txn, Array(prefix), failedAt: &failedAt)
                }
                return (outcomes, failure)
            } catch {
                // Batch `failedAt` is at fault: redo the batches before it without it.
                guard let i = failedAt else { throw error }
                failure = error
                count = i
            }
        }
        return ([], failure)
    }

    /// Appends `batches` in `txn` as one run, each with the semantics of `append`: their ids are
    /// claimed in key order first (`IdLookups.claim`), and every `subjects` entry is put in key
    /// order at the end, so a large write visits each leaf of the indexes once. A batch that
    /// fails for a reason of its own (a conflict, an invalid event) sets `failedAt` to its index
    /// and throws its error; the store's failures (`LMDBError`) leave `failedAt` nil. Either way
    /// the caller must drop the transaction.
    func appendRun(_ txn: borrowing LMDBTransaction, _ batches: [EncodedBatch], failedAt: inout Int?) throws -> [[AppendOutcome]] {
        var all: [[AppendOutcome]] = []
        all.reserveCapacity(batches.count)
        var lookups = IdLookups(batches)
        try lookups.claim(txn, ids, first: try lastPosition(txn) + 1)
        var deferred: Deferred? = Deferred(ids: lookups)
        for (i, batch) in batches.enumerated() {
            let base = deferred!.base
            do { all.append(try appendInTransaction(txn, batch, deferring: &deferred)) } catch let e as LMDBError {
                throw e  // the store's failure, not the batch's
            } catch {
                failedAt = i
                throw error
            }
            if batch.hasSortedSubjects {
                // Its subjects in order from `sortKeys`, at the positions the append gave.
                let assigned = deferred!.ids.assigned
                deferred!.subjects.addSorted(batch, assigned: assigned, base: base)
            }
        }
        try deferred!.subjects.put(txn, subjects)
        return all
    }


    func appendInTransaction(_ txn: borrowing LMDBTransaction, _ batch: EncodedBatch) throws -> [AppendOutcome] {
        var none: Deferred? = nil
        return try appendInTransaction(txn, batch, deferring: &none)
    }

    /// Appends `batch` in `txn`; its index entries are put at once, or, with `deferred`, looked
    /// up there and gathered for the end of the write (after the checks LMDB would make).
    func appendInTransaction(_ txn: borrowing LMDBTransaction, _ batch: EncodedBatch,
                                     deferring deferred: inout Deferred?) throws -> [AppendOutcome] {
        defer { deferred?.base += batch.count }
        let maxKey = deferred == nil ? 0 : env.maxKeySize
        let first = try lastPosition(txn) + 1
        var next = first
        var outcomes: [AppendOutcome] = []
        outcomes.reserveCapacity(batch.count)
        // The batch index of each appended position, to name in-batch conflicts.
        var appendedIndex: [Int] = []
        // The log's keys only grow: one cursor appends them without searching the tree.
        try batch.bytes.withUnsafeBytes { all in try txn.withCursor(log) { logCursor in
            for i in 0..<batch.count {
                // The framed record (record and checksum) is what is stored.
                let record = UnsafeRawBufferPointer(rebasing: all[batch.range(i)])
                // Checked where it entered: an EncodedBatch holds only records this program encoded.
                let view = EventView(trusted: RecordFrame.record(trusted: record))
                // Claim the id for the next position; a stored id answers its position instead.
                let existing: UInt64??
                if deferred != nil {
                    // Read in place: a copy of the lookups would retain each of their arrays.
                    let g = deferred!.base + i
                    switch deferred!.ids.stored[g] {
                    case .position(let p): existing = .some(p)
                    case .malformed: existing = .some(nil)
                    case .absent:
                        if let j = deferred!.ids.earlier[g], let p = deferred!.ids.assigned[j] {
                            existing = .some(p)
                        } else {
                            guard view.id.count >= 1, view.id.count <= maxKey else { throw Self.badKeySize(view, i) }
                            existing = nil
                        }
                    }
                } else {
                    existing = try withUnsafeBytes(of: next.bigEndian) { key in
                        do {
                            return try txn.insert(ids, key: view.id, value: key) { Self.position(from: $0) }
                        } catch let e as LMDBError where e == .badValueSize {
                            throw Self.badKeySize(view, i)
                        }
                    }
                }
                if let existing {
                    guard let p = existing else { throw corruptIndex(view.id, "ids value is not 8 bytes") }
                    let same = try withUnsafeBytes(of: p.bigEndian) { key in
                        try txn.withValue(log, forKey: key) { stored in
                            try Self.sameEvent(stored, record, p)
                        }
                    }
                    guard let same else {
                        throw corruptIndex(view.id, "ids points to missing position \(p)", position: p)
                    }
                    guard same else {
                        let id = String(decoding: view.id, as: UTF8.self)
                        if try isErased(txn, view.id) {
                            throw StoreError(
                                .erased,
                                "event id \(Quote.short(id)) at batch index \(i) belongs to an erased patient (journeyd erase): it cannot be stored again",
                                context: .init(id: id, batchIndex: i, position: p))
                        }
                        let earlier = p >= first ? "batch index \(appendedIndex[Int(p - first)])" : "the event stored at position \(p)"
                        throw StoreError(
                            .conflict,
                            "event id \(Quote.short(id)) at batch index \(i) has different content from \(earlier)",
                            context: .init(id: id, batchIndex: i, position: p))
                    }
                    outcomes.append(.duplicate(Position(p)))
                    continue
                }
                try withUnsafeBytes(of: next.bigEndian) { key in
                    do {
                        try logCursor.put(key: key, value: record, flags: .append)
                        if deferred == nil {
                            try txn.put(subjects, key: view.subject, value: key, flags: .noDupData)
                        } else {
                            guard view.subject.count >= 1, view.subject.count <= maxKey else { throw LMDBError.badValueSize }
                            let g = deferred!.base + i
                            // `claim` put the id with the position the record gets here.
                            guard deferred!.ids.positions[g] == next else {
                                throw StoreError(.invalidArgument, "batch index \(i): the id index would hold position \(deferred!.ids.positions[g]) for the event appended at \(next); nothing of this write was stored")
                            }
                            if !batch.hasSortedSubjects { deferred!.subjects.add(view.subject, next) }
                            deferred!.ids.assigned[g] = next
                        }
                    } catch let e as LMDBError where e == .badValueSize {
                        throw Self.badKeySize(view, i)
                    }
                }
                outcomes.append(.appended(Position(next)))
                appendedIndex.append(i)
                next += 1
            }
        } }
        return outcomes
    }

    private static func badKeySize(_ view: EventView, _ i: Int) -> StoreError {
        StoreError(
            .invalidArgument, "batch index \(i): id or subject is empty or over 511 bytes",
            context: .init(id: String(decoding: view.id, as: UTF8.self), batchIndex: i))
    }

    private func corruptIndex(_ id: UnsafeRawBufferPointer, _ what: String, position: UInt64? = nil) -> StoreError {
        let id = String(decoding: id, as: UTF8.self)
        return StoreError(.corrupt, "index of id \(Quote.short(id)): \(what); run verify", context: .init(id: id, position: position))
    }

    /// Whether the framed record stored at position `p` and a framed record of this program's
    /// hold the same event. Equal frames are equal events (the encoding is canonical); the
    /// records are decoded only when the bytes differ.
    ///
    /// - Throws: `StoreError` `.corrupt` when the stored record fails its checksum or does not
    ///   decode: an answer from it (duplicate or conflict) would be an answer from bad data.
    static func sameEvent(_ stored: UnsafeRawBufferPointer, _ new: UnsafeRawBufferPointer, _ p: UInt64) throws(StoreError) -> Bool {
        if stored.count == new.count, memcmp(stored.baseAddress!, new.baseAddress!, stored.count) == 0 {
            return true
        }
        let x = try decode(try view(stored, p), p)
        guard let y = try? EventRecord.decode(RecordFrame.record(trusted: new)) else { return false }
        return x == y
    }

    /// Runs `body` in a write transaction and commits it, growing the map and retrying when full.
    ///
    /// - Parameters:
    ///   - estimatedBytes: about how much the write adds; the map grows by at least twice that
    ///     when it fills.
    ///   - reserve: grow the map before starting when less than `estimatedBytes` is free (for
    ///     large blobs, so they are not written once per doubling).
    /// - Throws: `StoreError` `.diskFull` when the filesystem is full (nothing was written; retry
    ///   once space is freed), `.mapFull` when the map cannot grow enough, `.writesStopped` after
    ///   a failure that leaves what is on disk uncertain (see `writeFailure`), `.readOnly` when
    ///   the store was opened read-only.
    func write<R: Sendable>(
        estimatedBytes: Int, reserve: Bool = false, _ body: (borrowing LMDBTransaction) throws -> R
    ) throws(StoreError) -> R {
        guard access == .readWrite else { throw readOnlyError("write") }
        let result: Result<R, StoreError> = writeLock.withLock { _ in
            if let stopped = stoppedWrites.withLock({ $0 }) { return .failure(stopped) }
            do {
                if reserve { try growIfNeeded(for: estimatedBytes) }
                var growths = 0
                while true {
                    do {
                        let txn = try env.begin(readOnly: false)
                        let r = try body(txn)
                        let last = try lastPosition(txn)
                        try txn.commit()
                        committedPosition.store(last, ordering: .releasing)
                        return .success(r)
                    } catch let e as LMDBError where e == .mapFull {
                        // The transaction is gone (aborted on scope exit): grow, then redo it.
                        try growAfterMapFull(estimatedBytes: estimatedBytes, growths: &growths)
                    }
                }
            } catch {
                return .failure(writeFailed(error, estimatedBytes: estimatedBytes))
            }
        }
        return try result.get()
    }

    /// How many times one write may grow the map (a factor of at least 4096) before it gives up.
    static let maxMapGrowths = 12

    private func growAfterMapFull(estimatedBytes: Int, growths: inout Int) throws(StoreError) {
        let (size, used, _) = env.info()
        guard growths < Self.maxMapGrowths else {
            throw StoreError(
                .mapFull,
                "write: the map is still full after growing it \(growths) times, to \(size) bytes (\(used) in use); nothing of this write was stored",
                context: .init(path: directory, lmdb: .mapFull))
        }
        growths += 1
        mapGrowths.add(1, ordering: .relaxed)
        let (doubled, overflow) = size.multipliedReportingOverflow(by: 2)
        let target = Self.rounded(max(overflow ? Int.max / 2 : doubled, used + estimatedBytes * 2))
        do { try env.setMapSize(target) } catch where error.rawValue == ENOMEM {
            throw StoreError(
                .mapFull,
                "write: the map is full at \(size) bytes and cannot grow to \(target) bytes (\(error)); nothing of this write was stored",
                context: .init(path: directory, lmdb: error))
        } catch {
            throw StoreError.lmdb(error, "write", path: directory)
        }
    }

    /// Classifies a failed write. A full disk is transient: LMDB's last commit is intact and the
    /// next write may succeed once space is freed. An I/O error, a filesystem gone read-only or
    /// an environment LMDB gave up on stop every later write (see `writeFailure`).
    private func writeFailed(_ error: any Error, estimatedBytes: Int) -> StoreError {
        guard let e = error as? LMDBError else { return Self.storeError(error, "write", path: directory) }
        if env.hasPanicked {
            return stopWrites(after: e, "a commit could not write its meta page")
        }
        if e.rawValue == ENOSPC || e.rawValue == EDQUOT || (e.rawValue == EIO && diskIsFull(needing: estimatedBytes)) {
            // LMDB reports a short write (what a nearly full filesystem gives) as EIO.
            return StoreError(
                .diskFull,
                "write: the filesystem holding \(directory) is full (\(e)); nothing of this write was stored: free space, then retry",
                context: .init(path: directory, lmdb: e))
        }
        if e.rawValue == EIO || e.rawValue == EROFS || e == .panic {
            return stopWrites(after: e, "a write failed")
        }
        return Self.storeError(e, "write", path: directory)
    }

    /// Whether the filesystem holding the store has less free space than a write of `bytes` needs.
    private func diskIsFull(needing bytes: Int) -> Bool {
        var fs = statvfs()
        guard statvfs(directory, &fs) == 0 else { return false }
        return Int(fs.f_bavail) * Int(fs.f_frsize) < bytes + (1 << 20)
    }

    /// Refuses every later write with the error answered now (`.writesStopped`).
    ///
    /// After an I/O error at commit or sync, the disk's content is uncertain: Linux may have
    /// dropped the pages it failed to write from its cache and marked them clean, so a retried
    /// fsync can report success for data that never reached the disk. Rather than acknowledge
    /// appends on such a store, it takes no more writes; reads go on. Reopening it (restarting
    /// journeyd) recovers the last commit LMDB made durable; `verify` then checks it.
    func stopWrites(after error: LMDBError, _ what: String) -> StoreError {
        let acknowledged = durability == .full
            ? "appends acknowledged before it are on disk"
            : "appends since the last successful sync may be lost (relaxed durability)"
        let failure = StoreError(
            .writesStopped,
            "the store in \(directory) stopped accepting writes: \(what) (\(error)), so what is on disk is uncertain. Nothing of that write was acknowledged; \(acknowledged). Check the disk, then reopen the store (restart journeyd) and run 'journeyd verify'",
            context: .init(path: directory, lmdb: error))
        return stoppedWrites.withLock { stopped in
            if stopped == nil { stopped = failure }
            return stopped!
        }
    }

    /// Arms a fault at this store's C boundary (for tests of the error paths; see `LMDBFault`).
    package func injectFault(_ fault: LMDBFault) { env.inject(fault) }

    /// Disarms every fault armed on this store.
    package func clearFaults() { env.clearFaults() }

    /// How many failures were injected into `call` on this store.
    package func injectedFailures(_ call: LMDBFault.Call) -> Int { env.injectedFailures(call) }

    /// The failure that stopped writes, or nil while the store takes them. Once set, every write
    /// (append, checkpoint, audit) throws it until the store is reopened.
    public var writeFailure: StoreError? { stoppedWrites.withLock { $0 } }

    private func growIfNeeded(for bytes: Int) throws(LMDBError) {
        let (size, used, _) = env.info()
        if size - used < bytes + (1 << 20) {
            try env.setMapSize(Self.rounded(max(size * 2, used + bytes * 2 + (1 << 20))))
        }
    }

    private static func rounded(_ n: Int) -> Int { (n + 0xFFFF) & ~0xFFFF }

    // MARK: Helpers

    static func position(from raw: UnsafeRawBufferPointer) -> UInt64? {
        raw.count == 8 ? UInt64(bigEndian: raw.loadUnaligned(as: UInt64.self)) : nil
    }

    static func logPosition(_ key: UnsafeRawBufferPointer) throws -> UInt64 {
        guard let p = position(from: key) else {
            throw StoreError(.corrupt, "log key of \(key.count) bytes (expected 8)")
        }
        return p
    }

    /// The error for the unreadable record at position `p`.
    static func corruptRecord(_ p: UInt64, _ error: any Error) -> StoreError {
        StoreError(.corrupt, "record at position \(p): \(error)", context: .init(position: p))
    }

    /// The record stored at position `p`, checked: its checksum (`RecordFrame.open`), then its
    /// layout (`EventView(validating:)`).
    ///
    /// - Parameter frame: the log's value at `p` (the record and its checksum).
    /// - Throws: `StoreError` `.corrupt` naming `p` when either check fails.
    @inline(__always)
    static func view(_ frame: UnsafeRawBufferPointer, _ p: UInt64) throws(StoreError) -> EventView {
        do { return try EventView(validating: try RecordFrame.open(frame)) } catch {
            throw Self.corruptRecord(p, error)
        }
    }

    static func decode(_ view: EventView, _ p: UInt64) throws(StoreError) -> Event {
        do { return try view.event() } catch {
            throw Self.corruptRecord(p, error)
        }
    }

    /// Turns any error of the layers below into a `StoreError`.
    static func storeError(_ error: any Error, _ operation: String, path: String?) -> StoreError {
        switch error {
        case let e as StoreError: e
        case let e as LMDBError: StoreError.lmdb(e, operation, path: path)
        default: StoreError(.io, "\(operation): \(error)", context: .init(path: path))
        }
    }
}

@inline(never)
func blackHole(_ x: UInt64) {
    if x == 0x5EED_5EED_5EED_5EED { print("", terminator: "") }
}
