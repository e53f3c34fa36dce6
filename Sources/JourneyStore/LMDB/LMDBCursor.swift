import CLMDB

/// A cursor over one database, lent by `LMDBTransaction.withCursor` and closed after it.
package struct LMDBCursor: ~Copyable {
    private let handle: OpaquePointer
    /// For the faults `put` injects.
    private let environment: LMDBEnvironment

    init(handle: OpaquePointer, environment: LMDBEnvironment) {
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

    /// Stores `value` under `key` and leaves the cursor on it, as `LMDBTransaction.put` does.
    /// Keys put in order through one cursor are cheaper than through `LMDBTransaction.put`:
    /// LMDB searches from the cursor's leaf page when the key falls inside it, and appends
    /// (`.append`) without any search once the cursor is at the end.
    /// The corresponding C function is `mdb_cursor_put`.
    @inline(__always)
    package func put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, flags: LMDBWriteFlags = []) throws(LMDBError) {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try lmdbCheck(environment.injectedFault(.put))
        try lmdbCheck(mdb_cursor_put(handle, &k, &v, flags.rawValue))
    }

    /// Stores `value` under `key` unless the key is present (`MDB_NOOVERWRITE`), leaving the
    /// cursor on it as `put` does: nil when stored, else `existing` of the value stored under
    /// `key` (which is left as it was). One search where a lookup then a put take two.
    /// The corresponding C function is `mdb_cursor_put`, which on `MDB_KEYEXIST` lends the
    /// stored value.
    @inline(__always)
    package func insert<R>(
        key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer,
        existing: (UnsafeRawBufferPointer) throws -> R
    ) throws -> R? {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try lmdbCheck(environment.injectedFault(.put))
        let rc = mdb_cursor_put(handle, &k, &v, UInt32(MDB_NOOVERWRITE))
        if rc == MDB_KEYEXIST { return try existing(UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)) }
        try lmdbCheck(rc)
        return nil
    }

    /// Deletes the entry the cursor is on. The corresponding C function is `mdb_cursor_del`.
    package func deleteCurrent() throws(LMDBError) {
        try lmdbCheck(mdb_cursor_del(handle, 0))
    }
}
