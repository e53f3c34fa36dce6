import CLMDB

/// A cursor over one database, lent by `LMDBTransaction.withCursor` and closed after it.
package struct LMDBCursor: ~Copyable {
    private let handle: OpaquePointer
    /// Where the faults of `put` are armed (nil for a cursor that never writes).
    private let environment: LMDBEnvironment?

    init(handle: OpaquePointer, environment: LMDBEnvironment? = nil) {
        self.handle = handle
        self.environment = environment
    }

    deinit { mdb_cursor_close(handle) }

    /// A cursor movement.
    package struct Operation: Sendable {
        let raw: MDB_cursor_op
        /// The first entry.
        package static let first = Operation(raw: MDB_FIRST)
        /// The last entry.
        package static let last = Operation(raw: MDB_LAST)
        /// The next entry (the next duplicate first, in a dupsort database).
        package static let next = Operation(raw: MDB_NEXT)
        /// The previous entry.
        package static let previous = Operation(raw: MDB_PREV)
        /// The entry with exactly the given key.
        package static let set = Operation(raw: MDB_SET_KEY)
        /// The first entry whose key is ≥ the given key.
        package static let setRange = Operation(raw: MDB_SET_RANGE)
        /// Dupsort: exactly the given key and value.
        package static let getBoth = Operation(raw: MDB_GET_BOTH)
        /// Dupsort: the next value of the current key.
        package static let nextDuplicate = Operation(raw: MDB_NEXT_DUP)
        /// The entry the cursor is on.
        package static let current = Operation(raw: MDB_GET_CURRENT)
    }

    /// Moves the cursor and lends the key and value it lands on to `body`; nil when there is no
    /// such entry (`MDB_NOTFOUND`). `key`/`value` are the search arguments of `set`, `setRange`
    /// and `getBoth`. The corresponding C function is `mdb_cursor_get`.
    @inline(__always)
    package func get<R>(
        _ op: Operation, key: UnsafeRawBufferPointer? = nil, value: UnsafeRawBufferPointer? = nil,
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> R
    ) throws -> R? {
        var k = MDB_val(mv_size: key?.count ?? 0, mv_data: UnsafeMutableRawPointer(mutating: key?.baseAddress))
        var v = MDB_val(mv_size: value?.count ?? 0, mv_data: UnsafeMutableRawPointer(mutating: value?.baseAddress))
        let rc = mdb_cursor_get(handle, &k, &v, op.raw)
        if rc == MDB_NOTFOUND { return nil }
        try lmdbCheck(rc)
        return try body(
            UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size),
            UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
    }

    /// Stores `value` under `key` (flags and errors as `LMDBTransaction.put`) and leaves the
    /// cursor on it. For keys put in increasing order this is cheaper than `put`: when the key
    /// falls within the leaf page the cursor is on, LMDB searches only that page instead of
    /// descending from the root. The corresponding C function is `mdb_cursor_put`.
    package func put(
        key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, flags: LMDBWriteFlags = []
    ) throws(LMDBError) {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try lmdbCheck(environment?.injectedFault(.put) ?? 0)
        try lmdbCheck(mdb_cursor_put(handle, &k, &v, flags.rawValue))
    }

    /// Deletes the entry the cursor is on. The corresponding C function is `mdb_cursor_del`.
    package func deleteCurrent() throws(LMDBError) {
        try lmdbCheck(mdb_cursor_del(handle, 0))
    }
}
