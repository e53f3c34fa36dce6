import CLMDB
import Glibc
import Synchronization

/// A directory's identity, whatever path names it.
private struct FileIdentity: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64
}

/// The environments open in this process (LMDB allows each only once per process).
private let openEnvironments = Mutex<Set<FileIdentity>>([])

/// An open LMDB environment: one directory holding `data.mdb` and `lock.mdb`.
///
/// Opened with `MDB_NOTLS`, so a read transaction belongs to its `LMDBTransaction` value rather
/// than to a thread. Resizing the map is only allowed while this process has no transaction
/// open, so every transaction holds a shared lock and `setMapSize` takes it exclusively.
package final class LMDBEnvironment: @unchecked Sendable {
    /// Flags for `init`.
    package struct Flags: OptionSet, Sendable {
        package let rawValue: UInt32
        package init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Do not fsync on commit (`MDB_NOSYNC`): a crash may lose the latest commits.
        package static let noSync = Flags(rawValue: UInt32(MDB_NOSYNC))
        /// Open read-only (`MDB_RDONLY`).
        package static let readOnly = Flags(rawValue: UInt32(MDB_RDONLY))
    }

    /// Replaced only by `replaceWithCompactCopy`, under the exclusive lock; read under the
    /// shared lock (every transaction holds it).
    private(set) var handle: OpaquePointer
    /// The directory of the environment.
    package let path: String
    /// What `init` was given, to open the environment again (`replaceWithCompactCopy`).
    private let openFlags: Flags
    private let maxDatabases: UInt32
    private let maxReaders: UInt32
    private let resizeLock: UnsafeMutablePointer<pthread_rwlock_t>
    private let identity: FileIdentity
    /// Released only once the environment is closed (the store's writer lock, which must not
    /// come free while this process still has the environment open).
    private let heldUntilClosed: (any AnyObject & Sendable)?
    /// How many transactions the current thread holds (it holds the shared lock when > 0).
    private let depthKey: pthread_key_t
    /// Whether `faultPlan` holds a fault (tests only; see `LMDBFault`).
    let faultsArmed = Atomic<Bool>(false)
    let faultPlan = Mutex(LMDBFaultPlan())

    /// Creates the directory if needed (unless read-only) and opens the environment in it.
    ///
    /// - Parameters:
    ///   - path: the environment's directory.
    ///   - flags: extra flags; `MDB_NOTLS` is always added.
    ///   - maxDatabases: how many named databases may be opened.
    ///   - maxReaders: how many read transactions may be open at once.
    ///   - mapSize: the initial map size in bytes; the larger of it and the file's current size is used.
    ///   - heldUntilClosed: an object kept alive until after the environment is closed.
    ///
    /// Stale reader slots left by dead processes are cleared after opening.
    ///
    /// - Throws: `LMDBError` `EBUSY` when this process already has the environment open: LMDB
    ///   forbids it (closing one handle would drop the other's file locks), so share the instance.
    /// The corresponding C functions are `mdb_env_create`, `mdb_env_open` and `mdb_reader_check`.
    package init(
        path: String, flags: Flags = [], maxDatabases: UInt32, maxReaders: UInt32 = 510, mapSize: Int,
        heldUntilClosed: (any AnyObject & Sendable)? = nil
    ) throws(LMDBError) {
        if !flags.contains(.readOnly), mkdir(path, 0o700) != 0, errno != EEXIST { throw LMDBError(rawValue: errno) }
        var st = stat()
        guard stat(path, &st) == 0 else { throw LMDBError(rawValue: errno) }
        let identity = FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        guard openEnvironments.withLock({ $0.insert(identity).inserted }) else { throw LMDBError(rawValue: EBUSY) }
        let env: OpaquePointer
        do throws(LMDBError) {
            env = try Self.open(path: path, flags: flags, maxDatabases: maxDatabases, maxReaders: maxReaders, mapSize: mapSize)
        } catch {
            openEnvironments.withLock { _ = $0.remove(identity) }
            throw error
        }
        self.handle = env
        self.path = path
        self.openFlags = flags
        self.maxDatabases = maxDatabases
        self.maxReaders = maxReaders
        self.identity = identity
        self.heldUntilClosed = heldUntilClosed
        resizeLock = .allocate(capacity: 1)
        // Writer-preferring, so a steady stream of readers cannot starve a map resize; nested
        // reads on one thread are made safe by the per-thread depth below.
        var attributes = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attributes)
        pthread_rwlockattr_setkind_np(&attributes, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        pthread_rwlock_init(resizeLock, &attributes)
        pthread_rwlockattr_destroy(&attributes)
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        depthKey = key
    }

    /// A new LMDB environment handle opened on `path`.
    /// The corresponding C functions are `mdb_env_create`, `mdb_env_open` and `mdb_reader_check`.
    private static func open(path: String, flags: Flags, maxDatabases: UInt32, maxReaders: UInt32,
                             mapSize: Int) throws(LMDBError) -> OpaquePointer {
        var env: OpaquePointer?
        try lmdbCheck(mdb_env_create(&env))
        guard let env else { throw LMDBError(rawValue: ENOMEM) }
        do throws(LMDBError) {
            try lmdbCheck(mdb_env_set_maxdbs(env, maxDatabases))
            try lmdbCheck(mdb_env_set_maxreaders(env, maxReaders))
            try lmdbCheck(mdb_env_set_mapsize(env, mapSize))
            try lmdbCheck(mdb_env_open(env, path, flags.rawValue | UInt32(MDB_NOTLS), 0o600))
            var dead: Int32 = 0
            try lmdbCheck(mdb_reader_check(env, &dead))
        } catch {
            mdb_env_close(env)
            throw error
        }
        return env
    }

    deinit {
        mdb_env_close(handle)
        openEnvironments.withLock { _ = $0.remove(identity) }
        pthread_rwlock_destroy(resizeLock)
        resizeLock.deallocate()
        pthread_key_delete(depthKey)
    }

    // MARK: Transactions

    /// Begins a transaction; it aborts when dropped unless committed.
    ///
    /// A read-only transaction sees the snapshot of the last commit; only one write transaction
    /// may exist at a time (a second one blocks until the first ends).
    /// The corresponding C function is `mdb_txn_begin`.
    package func begin(readOnly: Bool) throws(LMDBError) -> LMDBTransaction {
        while true {
            acquireShared()
            var txn: OpaquePointer?
            var rc = injectedFault(readOnly ? .beginRead : .beginWrite)
            if rc == 0 { rc = mdb_txn_begin(handle, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &txn) }
            if rc == 0, let txn { return LMDBTransaction(handle: txn, environment: self) }
            releaseShared()
            // Another process grew the map: adopt its size, then try again.
            guard rc == MDB_MAP_RESIZED else { throw LMDBError(rawValue: rc) }
            try setMapSize(0)
        }
    }

    /// Runs `body` in a read-only transaction, aborted afterwards.
    package func withReadTransaction<R>(_ body: (borrowing LMDBTransaction) throws -> R) throws -> R {
        let txn = try begin(readOnly: true)
        // Dropping the transaction at the end of scope aborts it.
        return try body(txn)
    }

    /// Called by a transaction when it ends (on the thread that began it: transactions are not
    /// Sendable and are only used inside synchronous scopes).
    func transactionEnded() { releaseShared() }

    private var depth: Int { Int(bitPattern: pthread_getspecific(depthKey)) }

    func acquireShared() {
        let d = depth
        if d == 0 { pthread_rwlock_rdlock(resizeLock) }
        pthread_setspecific(depthKey, UnsafeRawPointer(bitPattern: d + 1))
    }

    func releaseShared() {
        let d = depth - 1
        pthread_setspecific(depthKey, UnsafeRawPointer(bitPattern: d))
        if d == 0 { pthread_rwlock_unlock(resizeLock) }
    }

    // MARK: Map

    /// Sets the map size (0 adopts the size another process set). Waits until this process has
    /// no open transaction.
    /// - Throws: `LMDBError` `EDEADLK` when the calling thread itself holds a transaction,
    ///   `ENOMEM` when the process has no address range that large (the map is left as it was).
    /// The corresponding C function is `mdb_env_set_mapsize`.
    package func setMapSize(_ bytes: Int) throws(LMDBError) {
        guard depth == 0 else { throw LMDBError(rawValue: EDEADLK) }
        if bytes != 0 {
            try lmdbCheck(injectedFault(.growMap))
            try Self.checkAddressSpace(bytes)
        }
        pthread_rwlock_wrlock(resizeLock)
        defer { pthread_rwlock_unlock(resizeLock) }
        try lmdbCheck(mdb_env_set_mapsize(handle, bytes))
    }

    /// Throws `ENOMEM` unless an address range of `bytes` can be mapped now.
    ///
    /// LMDB unmaps the old map before mapping the new size, and when that mmap fails it is left
    /// with no map at all: the next transaction would read through a null pointer. Reserving the
    /// range first (no memory, no file: `PROT_NONE`, `MAP_NORESERVE`) refuses such a size while
    /// the old map is still in place.
    private static func checkAddressSpace(_ bytes: Int) throws(LMDBError) {
        guard bytes > 0 else { throw LMDBError(rawValue: EINVAL) }
        let probe = mmap(nil, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let probe, probe != UnsafeMutableRawPointer(bitPattern: -1) else { throw LMDBError(rawValue: ENOMEM) }
        munmap(probe, bytes)
    }

    /// Sizes of the map. The corresponding C functions are `mdb_env_info` and `mdb_env_stat`.
    /// The longest key (and dupsort value) LMDB takes, in bytes.
    package var maxKeySize: Int {
        acquireShared()
        defer { releaseShared() }
        return Int(mdb_env_get_maxkeysize(handle))
    }

    package func info() -> (mapSize: Int, usedBytes: Int, pageSize: Int) {
        acquireShared()
        defer { releaseShared() }
        var info = MDB_envinfo()
        var stat = MDB_stat()
        mdb_env_info(handle, &info)
        mdb_env_stat(handle, &stat)
        let pageSize = Int(stat.ms_psize)
        return (info.me_mapsize, (info.me_last_pgno + 1) * pageSize, pageSize)
    }

    // MARK: Maintenance

    /// Flushes the data to disk; `force` syncs even when opened with `noSync`.
    /// The corresponding C function is `mdb_env_sync`.
    package func sync(force: Bool = true) throws(LMDBError) {
        try lmdbCheck(injectedFault(.sync))
        acquireShared()
        defer { releaseShared() }
        try lmdbCheck(mdb_env_sync(handle, force ? 1 : 0))
    }

    /// True when LMDB gave up on the environment (`MDB_PANIC`: a commit failed to write its
    /// meta page); every transaction is then refused until it is reopened.
    /// The corresponding C function is `mdb_txn_begin`.
    package var hasPanicked: Bool {
        acquireShared()
        defer { releaseShared() }
        var txn: OpaquePointer?
        let rc = mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &txn)
        if rc == 0, let txn { mdb_txn_abort(txn) }
        return rc == MDB_PANIC
    }

    /// Writes a consistent copy of the environment into the directory `destination` (which must
    /// exist and hold no `data.mdb`), optionally compacted (free pages omitted, pages renumbered).
    /// Other readers and the writer go on meanwhile.
    /// The corresponding C function is `mdb_env_copy2`.
    package func copy(to destination: String, compact: Bool) throws(LMDBError) {
        acquireShared()
        defer { releaseShared() }
        try lmdbCheck(mdb_env_copy2(handle, destination, compact ? UInt32(MDB_CP_COMPACT) : 0))
    }

    /// Clears reader slots of dead processes; answers how many were cleared.
    /// The corresponding C function is `mdb_reader_check`.
    @discardableResult
    package func readerCheck() throws(LMDBError) -> Int {
        acquireShared()
        defer { releaseShared() }
        var dead: Int32 = 0
        try lmdbCheck(mdb_reader_check(handle, &dead))
        return Int(dead)
    }

    /// Replaces the data file by a compacted copy of itself and reopens the environment on it,
    /// so that no page of the file holds bytes the last commits freed (LMDB keeps freed pages
    /// with their old content until it reuses them).
    ///
    /// Waits until this process has no transaction open, and holds every new one off until done.
    /// The copy is written into the directory `scratch` (created, then removed; it must be on the
    /// same filesystem), made owner-only, synced, renamed over `data.mdb`, and the directory
    /// synced; the lock file is removed so the reopened environment starts a fresh one (another
    /// process that still has the environment open keeps the old pair of files, whole, until it
    /// closes it). `reopen` then runs in a write transaction of the new environment to open its
    /// named databases again, in the order they were first opened, so their handles stay the same.
    ///
    /// - Throws: `LMDBError`; `replaced` tells whether the new file took the old one's name
    ///   (after that, a failure leaves this process on a file that is no longer the store's).
    /// The corresponding C functions are `mdb_env_copy2` (`MDB_CP_COMPACT`), `mdb_env_close`
    /// and `mdb_env_open`.
    package func replaceWithCompactCopy(scratch: String, replaced: inout Bool,
                                        reopen: (borrowing LMDBTransaction) throws -> Void) throws {
        guard depth == 0 else { throw LMDBError(rawValue: EDEADLK) }
        pthread_rwlock_wrlock(resizeLock)
        defer { pthread_rwlock_unlock(resizeLock) }
        let dataPath = path + "/data.mdb"
        let copyPath = scratch + "/data.mdb"
        func check(_ rc: Int32) throws(LMDBError) { if rc != 0 { throw LMDBError(rawValue: errno) } }
        // Leftovers of an interrupted run: the store is `data.mdb` either way.
        _ = unlink(copyPath)
        _ = rmdir(scratch)
        try check(mkdir(scratch, 0o700))
        defer {
            _ = unlink(copyPath)
            _ = rmdir(scratch)
        }
        try lmdbCheck(mdb_env_copy2(handle, scratch, UInt32(MDB_CP_COMPACT)))
        // mdb_env_copy2 neither syncs the copy nor gives it a narrow mode.
        let fd = Glibc.open(copyPath, O_RDWR | O_CLOEXEC)
        try check(fd < 0 ? -1 : 0)
        defer { close(fd) }
        try check(fchmod(fd, 0o600))
        try check(fsync(fd))
        var envInfo = MDB_envinfo()
        mdb_env_info(handle, &envInfo)  // not `info()`: that takes the shared lock
        let mapSize = envInfo.me_mapsize
        try check(rename(copyPath, dataPath))
        replaced = true
        _ = unlink(path + "/lock.mdb")
        let dir = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        try check(dir < 0 ? -1 : 0)
        defer { close(dir) }
        try check(fsync(dir))
        // The new files are other inodes than the old ones, so this process may hold both
        // environments open for a moment: the old one's file locks are not the new one's.
        let fresh = try Self.open(path: path, flags: openFlags, maxDatabases: maxDatabases, maxReaders: maxReaders, mapSize: mapSize)
        let old = handle
        handle = fresh
        mdb_env_close(old)
        // Transactions of this thread skip the shared lock while it holds the exclusive one.
        pthread_setspecific(depthKey, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(depthKey, UnsafeRawPointer(bitPattern: 0)) }
        let txn = try begin(readOnly: false)
        try reopen(txn)
        try txn.commit()
    }
}
