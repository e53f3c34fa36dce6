import CLMDB
import Glibc

/// A handle to one database (a named B-tree) of an environment. Valid for the environment's life
/// once the transaction that opened it committed.
package struct LMDBDatabase: Sendable, Hashable {
    let dbi: MDB_dbi

    /// Flags for `LMDBTransaction.openDatabase`.
    package struct Flags: OptionSet, Sendable {
        package let rawValue: UInt32
        package init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Create the database if missing (`MDB_CREATE`).
        package static let create = Flags(rawValue: UInt32(MDB_CREATE))
        /// Sorted duplicate values per key (`MDB_DUPSORT`).
        package static let dupSort = Flags(rawValue: UInt32(MDB_DUPSORT))
        /// With `dupSort`, all values of a key have the same size (`MDB_DUPFIXED`).
        package static let dupFixed = Flags(rawValue: UInt32(MDB_DUPFIXED))
    }
}

/// Statistics of one database.
package struct LMDBStat: Sendable {
    package var entries: Int
    package var depth: Int
    package var branchPages: Int
    package var leafPages: Int
    package var overflowPages: Int
    package var pageSize: Int
}

/// Flags for `LMDBTransaction.put`.
package struct LMDBWriteFlags: OptionSet, Sendable {
    package let rawValue: UInt32
    package init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Fail with `MDB_KEYEXIST` if the key is present (`MDB_NOOVERWRITE`).
    package static let noOverwrite = LMDBWriteFlags(rawValue: UInt32(MDB_NOOVERWRITE))
    /// In a dupsort database, fail with `MDB_KEYEXIST` if the pair is present (`MDB_NODUPDATA`).
    package static let noDupData = LMDBWriteFlags(rawValue: UInt32(MDB_NODUPDATA))
    /// The key sorts after every key present: store it without a search (`MDB_APPEND`).
    package static let append = LMDBWriteFlags(rawValue: UInt32(MDB_APPEND))
}

/// One LMDB transaction. Ends exactly once: by `commit()`, `abort()`, or when dropped (abort).
///
/// Values read are only lent to closures, since LMDB's memory is valid only until the
/// transaction ends or (in a write transaction) the next write.
package struct LMDBTransaction: ~Copyable {
    private var handle: OpaquePointer?
    private let environment: LMDBEnvironment
    /// Whether this transaction is nested in another (`beginChild`).
    private let isChild: Bool

    init(handle: OpaquePointer, environment: LMDBEnvironment, isChild: Bool = false) {
        self.handle = handle
        self.environment = environment
        self.isChild = isChild
    }

    deinit {
        if let handle {
            mdb_txn_abort(handle)
            environment.transactionEnded()
        }
    }

    private var txn: OpaquePointer { handle! }

    /// The transaction's id: for a read transaction, that of the snapshot it sees.
    /// The corresponding C function is `mdb_txn_id`.
    package var id: UInt64 { UInt64(mdb_txn_id(txn)) }

    /// Commits the transaction; it is ended even when the commit fails.
    /// The corresponding C function is `mdb_txn_commit`.
    package consuming func commit() throws(LMDBError) {
        let h = handle!
        handle = nil
        var rc: Int32 = isChild ? 0 : environment.injectedFault(.commit)
        if rc == 0 {
            rc = mdb_txn_commit(h)
        } else {
            mdb_txn_abort(h)  // as LMDB does when a commit fails
        }
        environment.transactionEnded()
        try lmdbCheck(rc)
    }

    /// Begins a transaction nested in this write transaction: its changes join this one when it
    /// commits and vanish when it aborts. This transaction must not be used until the child ends.
    /// The corresponding C function is `mdb_txn_begin` (with a parent).
    package func beginChild() throws(LMDBError) -> LMDBTransaction {
        environment.acquireShared()
        var child: OpaquePointer?
        let rc = mdb_txn_begin(environment.handle, txn, 0, &child)
        guard rc == 0, let child else {
            environment.releaseShared()
            throw LMDBError(rawValue: rc == 0 ? EINVAL : rc)
        }
        return LMDBTransaction(handle: child, environment: environment, isChild: true)
    }

    /// Abandons the transaction's changes. The corresponding C function is `mdb_txn_abort`.
    package consuming func abort() {
        // deinit does the work.
    }

    // MARK: Databases

    /// Opens (or with `.create`, creates) a named database.
    /// The corresponding C function is `mdb_dbi_open`.
    package func openDatabase(_ name: String, flags: LMDBDatabase.Flags = []) throws(LMDBError) -> LMDBDatabase {
        var dbi: MDB_dbi = 0
        try lmdbCheck(mdb_dbi_open(txn, name, flags.rawValue, &dbi))
        return LMDBDatabase(dbi: dbi)
    }

    /// Opens a named database as `openDatabase` does; nil when it does not exist and `flags`
    /// lacks `.create`. The corresponding C function is `mdb_dbi_open`.
    package func openOptionalDatabase(_ name: String, flags: LMDBDatabase.Flags = []) throws(LMDBError) -> LMDBDatabase? {
        var dbi: MDB_dbi = 0
        let rc = mdb_dbi_open(txn, name, flags.rawValue, &dbi)
        if rc == MDB_NOTFOUND { return nil }
        try lmdbCheck(rc)
        return LMDBDatabase(dbi: dbi)
    }

    /// Statistics of a database. The corresponding C function is `mdb_stat`.
    package func stat(_ db: LMDBDatabase) throws(LMDBError) -> LMDBStat {
        var s = MDB_stat()
        try lmdbCheck(mdb_stat(txn, db.dbi, &s))
        return LMDBStat(
            entries: s.ms_entries, depth: Int(s.ms_depth), branchPages: s.ms_branch_pages,
            leafPages: s.ms_leaf_pages, overflowPages: s.ms_overflow_pages, pageSize: Int(s.ms_psize))
    }

    // MARK: Reads and writes

    /// Lends the value stored under `key` to `body`; nil when the key is absent.
    /// The corresponding C function is `mdb_get`.
    package func withValue<R>(
        _ db: LMDBDatabase, forKey key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> R
    ) throws -> R? {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        let rc = mdb_get(txn, db.dbi, &k, &v)
        if rc == MDB_NOTFOUND { return nil }
        try lmdbCheck(rc)
        return try body(UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
    }

    /// Stores `value` under `key`.
    /// - Throws: `LMDBError.keyExists` with `.noOverwrite`/`.noDupData` when present,
    ///   `LMDBError.mapFull` when the map is full (the transaction must then be aborted).
    /// The corresponding C function is `mdb_put`.
    package func put(
        _ db: LMDBDatabase, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, flags: LMDBWriteFlags = []
    ) throws(LMDBError) {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try lmdbCheck(environment.injectedFault(.put))
        try lmdbCheck(mdb_put(txn, db.dbi, &k, &v, flags.rawValue))
    }

    /// Stores `value` under `key` unless the key is present; then lends the stored value to
    /// `existing` and stores nothing. One search instead of a `withValue` then a `put`.
    /// - Throws: `LMDBError.mapFull` when the map is full (the transaction must then be aborted).
    /// The corresponding C function is `mdb_put` with `MDB_NOOVERWRITE`, which on `MDB_KEYEXIST`
    /// points the value at the stored one.
    package func insert<R>(
        _ db: LMDBDatabase, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer,
        existing: (UnsafeRawBufferPointer) throws -> R
    ) throws -> R? {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try lmdbCheck(environment.injectedFault(.put))
        let rc = mdb_put(txn, db.dbi, &k, &v, UInt32(MDB_NOOVERWRITE))
        if rc == MDB_KEYEXIST { return try existing(UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)) }
        try lmdbCheck(rc)
        return nil
    }

    /// Deletes `key` (in a dupsort database, only the pair with `value` when given); answers
    /// whether something was deleted. The corresponding C function is `mdb_del`.
    @discardableResult
    package func delete(
        _ db: LMDBDatabase, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer? = nil
    ) throws(LMDBError) -> Bool {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        let rc: Int32
        if let value {
            var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
            rc = mdb_del(txn, db.dbi, &k, &v)
        } else {
            rc = mdb_del(txn, db.dbi, &k, nil)
        }
        if rc == MDB_NOTFOUND { return false }
        try lmdbCheck(rc)
        return true
    }

    /// Lends a cursor over `db` to `body`; it is closed afterwards.
    /// The corresponding C functions are `mdb_cursor_open` and `mdb_cursor_close`.
    package func withCursor<R>(_ db: LMDBDatabase, _ body: (borrowing LMDBCursor) throws -> R) throws -> R {
        var cursor: OpaquePointer?
        try lmdbCheck(mdb_cursor_open(txn, db.dbi, &cursor))
        let c = LMDBCursor(handle: cursor!, environment: environment)
        return try body(c)
    }
}

// MARK: Byte helpers

extension LMDBTransaction {
    /// `withValue` for a key held in an array.
    package func withValue<R>(
        _ db: LMDBDatabase, forKey key: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> R
    ) throws -> R? {
        try key.withUnsafeBytes { try withValue(db, forKey: $0, body) }
    }

    /// `put` for a key and value held in arrays.
    package func put(_ db: LMDBDatabase, key: [UInt8], value: [UInt8], flags: LMDBWriteFlags = []) throws(LMDBError) {
        let rc: Int32 = key.withUnsafeBytes { k in
            value.withUnsafeBytes { v in
                do throws(LMDBError) { try put(db, key: k, value: v, flags: flags); return 0 } catch { return error.rawValue }
            }
        }
        try lmdbCheck(rc)
    }

    /// `delete` for a key held in an array.
    @discardableResult
    package func delete(_ db: LMDBDatabase, key: [UInt8]) throws(LMDBError) -> Bool {
        let result: Result<Bool, LMDBError> = key.withUnsafeBytes { k in
            do throws(LMDBError) { return .success(try delete(db, key: k)) } catch { return .failure(error) }
        }
        return try result.get()
    }
}
