import Glibc
import JourneyCore
import JourneyProtocol
import Synchronization

/// The durable, append-only log of events: an LMDB environment in one directory (SPEC §2).
///
/// Named databases: `log` (big-endian position → `EventRecord`), `ids` (id → position),
/// `subjects` (subject → big-endian positions, sorted duplicates), `meta` (format version),
/// `checkpoints` (projection snapshots, chunked) and `audit` (sequence → opaque entry).
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

    /// The store format this program writes and reads.
    public static let formatVersion: UInt32 = 1

    /// The store's directory.
    public let directory: String
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
    /// The store's writer lock, held for the life of the environment; nil when read-only.
    let writerLock: StoreLock?
    /// The single owner of the write path (LMDB allows one writer).
    private let writeLock = Mutex(())
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
                path: directory, flags: flags, maxDatabases: 8, mapSize: max(mapSize, 64 << 10),
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
            let stored = try txn.withValue(meta, forKey: Self.versionKey) { raw -> UInt32? in
                raw.count == 4 ? UInt32(littleEndian: raw.loadUnaligned(as: UInt32.self)) : nil
            }
            switch stored {
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

    /// Events already encoded as `EventRecord`s, back to back, ready for `appendEncoded`.
    /// Encoding can be done off the write path (e.g. by the import's parser threads).
    public struct EncodedBatch: Sendable {
        /// The records, back to back.
        public private(set) var bytes: [UInt8] = []
        /// The end offset of each record in `bytes`.
        public private(set) var ends: [Int] = []
        /// The record indices in id order and in subject order (LMDB's key order, ties in
        /// record order) once `sortKeys()` computed them; empty otherwise.
        public private(set) var idOrder: [Int32] = []
        public private(set) var subjectOrder: [Int32] = []
        /// With `idOrder`: where each id is in `bytes`, in id order (offset << 16 | length), so
        /// a write reads the ids without decoding the records again.
        private(set) var idSpans: [UInt64] = []

        public init(reservingEvents n: Int = 0) {
            bytes.reserveCapacity(n * 160)
            ends.reserveCapacity(n)
        }

        /// The number of events.
        public var count: Int { ends.count }

        /// Encodes and adds one event.
        public mutating func append(_ e: Event) throws(StoreError) {
            do { try EventRecord.encode(e, into: &bytes) } catch {
                throw StoreError(.tooLarge, "event \(e.id) at batch index \(ends.count): \(error.reason)",
                                 context: .init(id: e.id, batchIndex: ends.count))
            }
            ends.append(bytes.count)
            forgetOrder()
        }

        /// Parses one event's JSON text straight into its record and adds it; false, adding
        /// nothing, when the text needs the general path (`EventParser.parse`, then `append`),
        /// which then gives the same record or the error (see `EventRecord.appendParsing`).
        public mutating func appendParsing(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
            guard EventRecord.appendParsing(text, to: &bytes) else { return false }
            ends.append(bytes.count)
            forgetOrder()
            return true
        }

        /// Sorts the records' ids and subjects (into `idOrder`, `subjectOrder`), so that a write
        /// of many batches merges their sorted runs rather than sorting every key itself. Can
        /// run on any thread before the write; adding a record forgets the order. A batch with
        /// a malformed record gets no order (its write refuses it anyway).
        public mutating func sortKeys() {
            typealias Key = (prefix: KeyPrefix, start: Int, count: Int, record: Int32)
            var idKeys: [Key] = [], subjectKeys: [Key] = []
            idKeys.reserveCapacity(count)
            subjectKeys.reserveCapacity(count)
            func key(_ k: UnsafeRawBufferPointer, _ all: UnsafeRawBufferPointer, _ record: Int) -> Key {
                (KeyPrefix(k), k.baseAddress! - all.baseAddress!, k.count, Int32(record))
            }
            let ok = bytes.withUnsafeBytes { all -> Bool in
                for i in 0..<count {
                    let view = EventView(trusted: UnsafeRawBufferPointer(rebasing: all[range(i)]))
                    idKeys.append(key(view.id, all, i))
                    subjectKeys.append(key(view.subject, all, i))
                }
                let less = { (a: Key, b: Key) -> Bool in
                    let c = compareKeys(all, a.prefix, a.start, a.count, b.prefix, b.start, b.count)
                    return c != 0 ? c < 0 : a.record < b.record
                }
                idKeys.sort(by: less)
                subjectKeys.sort(by: less)
                return true
            }
            idOrder = ok ? idKeys.map(\.record) : []
            subjectOrder = ok ? subjectKeys.map(\.record) : []
            // An id is at most 64 scalars (256 bytes): its length fits the low 16 bits.
            idSpans = ok ? idKeys.map { UInt64($0.start) << 16 | UInt64($0.count) } : []
        }

        private mutating func forgetOrder() {
            if !idOrder.isEmpty {
                idOrder = []
                subjectOrder = []
                idSpans = []
            }
        }

        /// Removes every event, keeping the memory for the next batch.
        public mutating func removeAll() {
            bytes.removeAll(keepingCapacity: true)
            ends.removeAll(keepingCapacity: true)
            forgetOrder()
        }

        /// A batch of the one record at `i`.
        public func single(_ i: Int) -> EncodedBatch {
            var b = EncodedBatch()
            b.bytes = Array(bytes[range(i)])
            b.ends = [b.bytes.count]
            return b
        }

        /// The id of the record at `i`.
        public func id(at i: Int) -> String {
            bytes.withUnsafeBytes { all in
                String(decoding: EventView(trusted: UnsafeRawBufferPointer(rebasing: all[range(i)])).id, as: UTF8.self)
            }
        }

        func range(_ i: Int) -> Range<Int> { (i == 0 ? 0 : ends[i - 1])..<ends[i] }
    }

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
    /// looked up in key order first, and every new index entry is put in key order at the end,
    /// so a large write visits each leaf of the indexes once. A batch that fails for a reason of
    /// its own (a conflict, an invalid event) sets `failedAt` to its index and throws its error;
    /// the store's failures (`LMDBError`) leave `failedAt` nil. Either way the caller must drop
    /// the transaction.
    func appendRun(_ txn: borrowing LMDBTransaction, _ batches: [EncodedBatch], failedAt: inout Int?) throws -> [[AppendOutcome]] {
        var all: [[AppendOutcome]] = []
        all.reserveCapacity(batches.count)
        var deferred: Deferred? = Deferred(ids: try IdLookups(txn, ids, batches))
        for (i, batch) in batches.enumerated() {
            deferred!.subjects.beginBatch(batch.count)
            do { all.append(try appendInTransaction(txn, batch, deferring: &deferred)) } catch let e as LMDBError {
                throw e  // the store's failure, not the batch's
            } catch {
                failedAt = i
                throw error
            }
            deferred!.subjects.endBatch(order: batch.subjectOrder)
        }
        try deferred!.ids.putNew(txn, ids)
        try deferred!.subjects.put(txn, subjects)
        return all
    }

    /// Entries of the `subjects` index gathered during a write and put at its end in key
    /// order, so that a large write visits each leaf of the index once, in order, rather than
    /// at random.
    struct SubjectEntries {
        private typealias Entry = (prefix: KeyPrefix, start: Int, count: Int, position: UInt64)
        private var bytes: [UInt8] = []
        private var entries: [Entry] = []
        /// The current batch's first entry, and each of its records' entry (-1: none).
        private var batchStart = 0
        private var batchEntries: [Int32] = []

        mutating func beginBatch(_ count: Int) {
            batchStart = entries.count
            batchEntries = Array(repeating: -1, count: count)
        }

        /// Adds the entry of the current batch's record `record`.
        mutating func add(_ subject: UnsafeRawBufferPointer, _ position: UInt64, record: Int) {
            batchEntries[record] = Int32(entries.count)
            entries.append((KeyPrefix(subject), bytes.count, subject.count, position))
            bytes.append(contentsOf: subject)
        }

        /// Puts the current batch's entries in its subject `order` (see `EncodedBatch.sortKeys`),
        /// a sorted run that the final sort merges.
        mutating func endBatch(order: [Int32]) {
            guard order.count == batchEntries.count, entries.count > batchStart + 1 else { return }
            var run: [Entry] = []
            run.reserveCapacity(entries.count - batchStart)
            for r in order {
                let e = batchEntries[Int(r)]
                if e >= 0 { run.append(entries[Int(e)]) }
            }
            entries.replaceSubrange(batchStart..., with: run)
        }

        /// Puts every entry, by subject (LMDB's byte order) then position.
        func put(_ txn: borrowing LMDBTransaction, _ db: LMDBDatabase) throws {
            guard !entries.isEmpty else { return }
            try bytes.withUnsafeBytes { all in
                func key(_ e: Entry) -> UnsafeRawBufferPointer {
                    UnsafeRawBufferPointer(rebasing: all[e.start..<e.start + e.count])
                }
                let sorted = entries.sorted { a, b in
                    let c = compareKeys(all, a.prefix, a.start, a.count, b.prefix, b.start, b.count)
                    return c != 0 ? c < 0 : a.position < b.position
                }
                // One cursor: each key is searched from the leaf of the one before.
                try txn.withCursor(db) { c in
                    for e in sorted {
                        try withUnsafeBytes(of: e.position.bigEndian) { value in
                            try c.put(key: key(e), value: value, flags: .noDupData)
                        }
                    }
                }
            }
        }
    }

    /// The index entries of a multi-batch write, put at its end in key order, so that a large
    /// write visits each leaf of an index once, in order, rather than at random.
    struct Deferred {
        var ids: IdLookups
        var subjects = SubjectEntries()
        /// The global index (over the write's batches) of the first record of the current batch.
        var base = 0
    }

    /// The `ids` entries of a multi-batch write: every id looked up in key order before the
    /// write, new ones put in key order after it. Outcomes are those of claiming each id in
    /// record order.
    struct IdLookups {
        enum Stored { case absent, position(UInt64), malformed }
        private typealias Entry = (prefix: KeyPrefix, start: Int, count: Int, record: Int)
        private var bytes: [UInt8] = []
        /// By id, then record.
        private var sorted: [Entry] = []
        /// Per record (global index): what the store held for its id before the write.
        private(set) var stored: [Stored]
        /// Per record: the first record of the write with the same id, when not itself.
        private(set) var earlier: [Int?]
        /// Per record: the position it was appended at.
        var assigned: [UInt64?]

        init(_ txn: borrowing LMDBTransaction, _ db: LMDBDatabase, _ batches: [EncodedBatch]) throws {
            var entries: [Entry] = []
            var bytes: [UInt8] = []
            var record = 0
            for batch in batches {
                // In id order when the batch knows it: sorted runs, which the sort below merges.
                let ordered = batch.idOrder.count == batch.count && batch.idSpans.count == batch.count
                batch.bytes.withUnsafeBytes { all in
                    for k in 0..<batch.count {
                        let i = ordered ? Int(batch.idOrder[k]) : k
                        let id: UnsafeRawBufferPointer
                        if ordered {
                            // Found by `sortKeys` in a record it validated.
                            let start = Int(batch.idSpans[k] >> 16)
                            id = UnsafeRawBufferPointer(rebasing: all[start..<start + Int(batch.idSpans[k] & 0xFFFF)])
                        } else {
                            // A malformed record gets an empty id here; the append refuses it in order.
                            let view = try? EventView(validating: UnsafeRawBufferPointer(rebasing: all[batch.range(i)]))
                            id = view?.id ?? UnsafeRawBufferPointer(start: nil, count: 0)
                        }
                        entries.append((KeyPrefix(id), bytes.count, id.count, record + i))
                        bytes.append(contentsOf: id)
                    }
                }
                record += batch.count
            }
            var stored = [Stored](repeating: .absent, count: record)
            var earlier = [Int?](repeating: nil, count: record)
            let sorted = bytes.withUnsafeBytes { all in
                entries.sorted { a, b in
                    let c = IdLookups.compare(all, a, b)
                    return c != 0 ? c < 0 : a.record < b.record
                }
            }
            // One cursor: each key is searched from the leaf of the one before.
            try bytes.withUnsafeBytes { all in try txn.withCursor(db) { c in
                var first: Entry? = nil
                var firstStored = Stored.absent
                for e in sorted {
                    if let f = first, IdLookups.compare(all, f, e) == 0 {
                        earlier[e.record] = f.record
                        stored[e.record] = firstStored
                        continue
                    }
                    first = e
                    // Empty or over-long ids are refused when claimed, in record order.
                    let key = UnsafeRawBufferPointer(rebasing: all[e.start..<e.start + e.count])
                    firstStored = .absent
                    if e.count >= 1, e.count <= 511 {
                        firstStored = try c.get(.set, key: key) { _, v in
                            EventLog.position(from: v).map { Stored.position($0) } ?? .malformed
                        } ?? .absent
                    }
                    stored[e.record] = firstStored
                }
            } }
            self.bytes = bytes
            self.sorted = sorted
            self.stored = stored
            self.earlier = earlier
            assigned = Array(repeating: nil, count: record)
        }

        private static func compare(_ all: UnsafeRawBufferPointer, _ a: Entry, _ b: Entry) -> Int32 {
            compareKeys(all, a.prefix, a.start, a.count, b.prefix, b.start, b.count)
        }

        /// Puts the id of every record appended, in key order.
        func putNew(_ txn: borrowing LMDBTransaction, _ db: LMDBDatabase) throws {
            // One cursor: each key is searched from the leaf of the one before.
            try bytes.withUnsafeBytes { all in
                try txn.withCursor(db) { c in
                    for e in sorted {
                        guard let p = assigned[e.record] else { continue }
                        try withUnsafeBytes(of: p.bigEndian) { value in
                            try c.put(key: UnsafeRawBufferPointer(rebasing: all[e.start..<e.start + e.count]),
                                      value: value, flags: .noOverwrite)
                        }
                    }
                }
            }
        }
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
                let record = UnsafeRawBufferPointer(rebasing: all[batch.range(i)])
                // Checked where it entered: an EncodedBatch holds only records this program encoded.
                let view = EventView(trusted: record)
                // Claim the id for the next position; a stored id answers its position instead.
                let existing: UInt64??
                if let d = deferred {
                    let g = d.base + i
                    switch d.ids.stored[g] {
                    case .position(let p): existing = .some(p)
                    case .malformed: existing = .some(nil)
                    case .absent:
                        if let j = d.ids.earlier[g], let p = d.ids.assigned[j] {
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
                            Self.sameEvent(stored, record)
                        }
                    }
                    guard let same else {
                        throw corruptIndex(view.id, "ids points to missing position \(p)", position: p)
                    }
                    guard same else {
                        let id = String(decoding: view.id, as: UTF8.self)
                        let earlier = p >= first ? "batch index \(appendedIndex[Int(p - first)])" : "the event stored at position \(p)"
                        throw StoreError(
                            .conflict,
                            "event id \"\(id)\" at batch index \(i) has different content from \(earlier)",
                            context: .init(id: id, batchIndex: i, position: p))
                    }
                    outcomes.append(.duplicate(p))
                    continue
                }
                try withUnsafeBytes(of: next.bigEndian) { key in
                    do {
                        try logCursor.put(key: key, value: record, flags: .append)
                        if deferred == nil {
                            try txn.put(subjects, key: view.subject, value: key, flags: .noDupData)
                        } else {
                            guard view.subject.count >= 1, view.subject.count <= maxKey else { throw LMDBError.badValueSize }
                            deferred!.subjects.add(view.subject, next, record: i)
                            deferred!.ids.assigned[deferred!.base + i] = next
                        }
                    } catch let e as LMDBError where e == .badValueSize {
                        throw Self.badKeySize(view, i)
                    }
                }
                outcomes.append(.appended(next))
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
        return StoreError(.corrupt, "index of id \"\(id)\": \(what); run verify", context: .init(id: id, position: position))
    }

    /// Equal records are equal events (the encoding is canonical); decode only when bytes differ.
    static func sameEvent(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        if a.count == b.count, memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 { return true }
        guard let x = try? EventRecord.decode(a), let y = try? EventRecord.decode(b) else { return false }
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
    private func stopWrites(after error: LMDBError, _ what: String) -> StoreError {
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

    // MARK: Reading

    /// The position of the latest event, 0 when empty.
    ///
    /// Read from the store; should that read fail (no reader slot free), the position of this
    /// process's latest commit.
    public var lastPosition: UInt64 {
        (try? read { try self.lastPosition($0) }) ?? committedPosition.load(ordering: .acquiring)
    }

    /// The number of events stored (equal to `lastPosition`, since positions are dense).
    public var count: Int {
        (try? read { try $0.stat(self.log).entries }) ?? Int(lastPosition)
    }

    func lastPosition(_ txn: borrowing LMDBTransaction) throws -> UInt64 {
        try txn.withCursor(log) { c in
            try c.get(.last) { k, _ in try Self.logPosition(k) }
        } ?? 0
    }

    /// Runs `body` in a read transaction (one consistent snapshot).
    func read<R>(_ body: (borrowing LMDBTransaction) throws -> R) throws(StoreError) -> R {
        do { return try env.withReadTransaction(body) } catch {
            throw Self.storeError(error, "read", path: directory)
        }
    }

    /// Calls `body` with each event from `position` on, in log order, in one snapshot, until it
    /// answers false. The view is zero-copy: valid only during the call.
    ///
    /// - Throws: `StoreError` (`.corrupt` with the position for an unreadable record), or what
    ///   `body` throws.
    public func scan(from position: UInt64 = 1, _ body: (UInt64, EventView) throws -> Bool) throws {
        do {
            try env.withReadTransaction { txn in try scan(txn, from: position, body) }
        } catch let e as LMDBError {
            throw Self.storeError(e, "scan", path: directory)
        }
    }

    /// `scan` in a transaction of the caller's (LMDB's errors are not translated here).
    func scan(_ txn: borrowing LMDBTransaction, from position: UInt64, _ body: (UInt64, EventView) throws -> Bool) throws {
        try txn.withCursor(log) { c in
            try withUnsafeBytes(of: position.bigEndian) { start in
                var op = LMDBCursor.Operation.setRange
                while true {
                    let more = try c.get(op, key: start) { k, v -> Bool in
                        let p = try Self.logPosition(k)
                        return try body(p, try Self.view(v, p))
                    }
                    guard more == true else { return }
                    op = .next
                }
            }
        }
    }

    /// Up to `limit` events from `position` on, decoded, in log order.
    public func events(from position: UInt64 = 1, limit: Int = .max) throws(StoreError) -> [(UInt64, Event)] {
        var out: [(UInt64, Event)] = []
        if limit <= 0 { return out }
        do {
            try scan(from: position) { p, view in
                out.append((p, try Self.decode(view, p)))
                return out.count < limit
            }
        } catch {
            throw Self.storeError(error, "read", path: directory)
        }
        return out
    }

    /// The positions of the events whose subject is `subject`, ascending.
    public func positions(subject: String) throws(StoreError) -> [UInt64] {
        try read { txn in try self.positions(txn, subject: subject) }
    }

    private func positions(_ txn: borrowing LMDBTransaction, subject: String) throws -> [UInt64] {
        var out: [UInt64] = []
        var s = subject
        try s.withUTF8 { key in
            guard !key.isEmpty else { return }
            try txn.withCursor(subjects) { c in
                var op = LMDBCursor.Operation.set
                while let p = try c.get(op, key: UnsafeRawBufferPointer(key), { _, v in Self.position(from: v) }) {
                    guard let p else { throw StoreError(.corrupt, "subjects index of \"\(subject)\" holds a malformed position") }
                    out.append(p)
                    op = .nextDuplicate
                }
            }
        }
        return out
    }

    /// The events of every subject in `subjects` (e.g. all ids of one identity cluster), in
    /// position order, read in one snapshot.
    public func events(subjects: [String]) throws(StoreError) -> [(UInt64, Event)] {
        try read { txn in
            var all: [UInt64] = []
            for s in Set(subjects) { all += try self.positions(txn, subject: s) }
            all.sort()
            var out: [(UInt64, Event)] = []
            out.reserveCapacity(all.count)
            for p in all {
                let e = try withUnsafeBytes(of: p.bigEndian) { key in
                    try txn.withValue(self.log, forKey: key) { v in
                        try Self.decode(try Self.view(v, p), p)
                    }
                }
                guard let e else {
                    throw StoreError(.corrupt, "subjects index points to missing position \(p); run verify", context: .init(position: p))
                }
                out.append((p, e))
            }
            return out
        }
    }

    /// Counts the records from `position` on, touching each record's bytes without decoding:
    /// the physical floor of a full scan, for benchmarks.
    public func rawScanCount(from position: UInt64 = 1) throws(StoreError) -> Int {
        try read { txn in
            var n = 0
            var touched: UInt64 = 0
            try txn.withCursor(self.log) { c in
                try withUnsafeBytes(of: position.bigEndian) { start in
                    var op = LMDBCursor.Operation.setRange
                    while try c.get(op, key: start, { _, v in
                        touched &+= UInt64(v.count) &+ UInt64(v.first ?? 0) &+ UInt64(v.last ?? 0)
                    }) != nil {
                        n += 1
                        op = .next
                    }
                }
            }
            blackHole(touched)
            return n
        }
    }

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

    static func view(_ raw: UnsafeRawBufferPointer, _ p: UInt64) throws(StoreError) -> EventView {
        do { return try EventView(validating: raw) } catch {
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

/// The first 16 bytes of an index key as two numbers, zero-padded, the first byte the most
/// significant: keys whose prefixes differ order as these pairs do, so the sorts of index keys
/// read key bytes only for keys longer than 16 bytes that share all 16.
struct KeyPrefix: Equatable {
    var high: UInt64
    var low: UInt64

    @inline(__always)
    init(_ key: UnsafeRawBufferPointer) {
        high = KeyPrefix.word(key, from: 0)
        low = key.count > 8 ? KeyPrefix.word(key, from: 8) : 0
    }

    /// Bytes `from..<from + 8` of `key` (zero past its end) as a big-endian number.
    @inline(__always)
    private static func word(_ key: UnsafeRawBufferPointer, from: Int) -> UInt64 {
        // Eight bytes there: one load, the first byte made the most significant.
        if key.count - from >= 8 { return UInt64(bigEndian: key.loadUnaligned(fromByteOffset: from, as: UInt64.self)) }
        var w: UInt64 = 0
        for k in from..<from + 8 { w = w << 8 | UInt64(k < key.count ? key[k] : 0) }
        return w
    }
}

/// LMDB's default order of two keys held in `all` (by bytes, then the shorter first), given
/// their prefixes: negative, zero or positive.
@inline(__always)
private func compareKeys(_ all: UnsafeRawBufferPointer, _ aPrefix: KeyPrefix, _ aStart: Int, _ aCount: Int,
                         _ bPrefix: KeyPrefix, _ bStart: Int, _ bCount: Int) -> Int32 {
    if aPrefix.high != bPrefix.high { return aPrefix.high < bPrefix.high ? -1 : 1 }
    if aPrefix.low != bPrefix.low { return aPrefix.low < bPrefix.low ? -1 : 1 }
    // Equal prefixes: keys of at most 16 bytes are equal up to the shorter one's length.
    let n = Swift.min(aCount, bCount)
    let c = n <= 16 ? 0 : memcmp(all.baseAddress! + aStart + 16, all.baseAddress! + bStart + 16, n - 16)
    return c != 0 ? c : (aCount == bCount ? 0 : (aCount < bCount ? -1 : 1))
}
