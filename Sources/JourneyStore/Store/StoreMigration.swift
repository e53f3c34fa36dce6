import Glibc
import JourneyCore

/// Upgrades a store of format 1 (records without a checksum) to the current format
/// (`EventLog.formatVersion`), in place, so that a crash at any moment leaves a usable store.
///
/// The steps, each safe to interrupt:
/// 1. Take the store's writer lock (refused, `.storeBusy`, while any other process writes it).
/// 2. Copy every database into a new environment in `DIR/migrate.new`: each record checked as
///    format 1 knows how (layout, enum values, UTF-8) and framed with its checksum
///    (`RecordFrame`); index, checkpoint and audit entries as they are; the format version last.
///    Synced to disk.
/// 3. Open the copy and `verify` it; its counts must equal the original's.
/// 4. Keep the original under a second name (`DIR/data.mdb.format1`, a hard link), then rename
///    the copy's `data.mdb` over `DIR/data.mdb` (atomic) and sync the directory.
/// 5. Open the store in place, check its count, then remove the second name and `migrate.new`.
///
/// A crash before step 4's rename leaves the original `data.mdb` untouched (still format 1, so
/// still refused by everything but `migrate`, which starts over); a crash after it leaves the new
/// store in place, and the next `migrate` only removes what is left over.
public enum StoreMigration {
    /// What a migration did.
    public struct Report: Sendable, Hashable {
        /// The store's format before (equal to `toVersion` when there was nothing to do).
        public var fromVersion: UInt32
        /// The store's format after.
        public var toVersion: UInt32
        /// Events copied (each given its checksum).
        public var events: Int
        /// Entries of the `ids`, `subjects`, `checkpoints`, `audit` and `meta` databases copied.
        public var indexEntries: Int
        /// True when the store was already of the current format.
        public var alreadyCurrent: Bool { fromVersion == toVersion }
    }

    /// How far the copy of the log is: `done` of `total` events.
    public struct Progress: Sendable, Hashable {
        /// Events copied so far.
        public var done: Int
        /// Events to copy.
        public var total: Int
    }

    /// The directory the new environment is built in, inside the store's directory.
    static let newDirectoryName = "migrate.new"
    /// The second name the original data file keeps until the migration is done.
    static let keptOriginalName = "data.mdb.format1"
    /// Entries copied per write transaction.
    static let chunk = 16_384

    /// The databases of a store, with their flags (as `EventLog` opens them).
    static let databases: [(name: String, flags: LMDBDatabase.Flags)] = [
        ("log", []), ("ids", []), ("subjects", [.dupSort, .dupFixed]), ("meta", []), ("checkpoints", []), ("audit", []),
    ]

    /// Upgrades the store in `directory` to the current format (see the type's description).
    ///
    /// - Parameters:
    ///   - directory: the store's directory.
    ///   - progress: called after each chunk of the log is copied.
    /// - Returns: what was done; `alreadyCurrent` when the store needed nothing (leftovers of an
    ///   interrupted migration are removed then too).
    /// - Throws: `StoreError` `.notFound` when there is no store, `.storeBusy` when another
    ///   process writes it, `.futureVersion` for a newer format, `.corrupt` for a store that is
    ///   not one (no format version, an unknown one, a record that does not decode: named by
    ///   position), `.io` when a file cannot be written. The original is then unchanged.
    public static func migrate(directory: String, progress: ((Progress) -> Void)? = nil) throws(StoreError) -> Report {
        let dataPath = directory + "/data.mdb"
        guard access(dataPath, F_OK) == 0 else {
            throw StoreError(.notFound, "there is no store in \(directory)", context: .init(path: directory))
        }
        let lock = try StoreLock(directory: directory)
        let newDirectory = directory + "/" + newDirectoryName
        let keptPath = directory + "/" + keptOriginalName
        // Leftovers of an interrupted run: the original `data.mdb` is the store either way.
        try removeStore(newDirectory)
        try removeFile(keptPath)

        let version = try storedVersion(directory)
        if version == EventLog.formatVersion {
            withExtendedLifetime(lock) {}
            return Report(fromVersion: version, toVersion: version, events: 0, indexEntries: 0)
        }
        guard version == 1 else {
            if version > EventLog.formatVersion {
                throw StoreError(
                    .futureVersion,
                    "the store in \(directory) has format version \(version); this program reads up to \(EventLog.formatVersion): upgrade journeyd",
                    context: .init(path: directory))
            }
            throw StoreError(.corrupt, "the store in \(directory) has format version \(version), which no release wrote", context: .init(path: directory))
        }
        var report = Report(fromVersion: version, toVersion: EventLog.formatVersion, events: 0, indexEntries: 0)
        do {
            try copy(from: directory, to: newDirectory, report: &report, progress: progress)
            try check(newDirectory, against: report)
        } catch {
            try? removeStore(newDirectory)
            throw error
        }
        // The swap: `data.mdb` names a whole store (old, then new) at every moment.
        try system("link", link(dataPath, keptPath), keptPath)
        try system("rename", rename(newDirectory + "/data.mdb", dataPath), dataPath)
        try syncDirectory(directory)
        // The copy's lock file is fresh; the original's may describe the old file to a reader
        // that opens it later.
        if rename(newDirectory + "/lock.mdb", directory + "/lock.mdb") != 0 { _ = unlink(newDirectory + "/lock.mdb") }
        try check(directory, against: report)
        try removeFile(keptPath)
        try removeStore(newDirectory)
        try syncDirectory(directory)
        // The writer lock is held to the end.
        withExtendedLifetime(lock) {}
        return report
    }

    /// The format version recorded in the store in `directory`.
    private static func storedVersion(_ directory: String) throws(StoreError) -> UInt32 {
        do {
            let env = try LMDBEnvironment(path: directory, flags: .readOnly, maxDatabases: 8, mapSize: 1 << 20)
            return try env.withReadTransaction { txn -> UInt32 in
                let meta: LMDBDatabase
                do { meta = try txn.openDatabase("meta") } catch let e as LMDBError where e == .notFound {
                    throw StoreError(.corrupt, "the store in \(directory) has no meta database: it is not a Journey store", context: .init(path: directory))
                }
                let v = try txn.withValue(meta, forKey: EventLog.versionKey) { raw -> UInt32? in
                    raw.count == 4 ? UInt32(littleEndian: raw.loadUnaligned(as: UInt32.self)) : nil
                }
                guard let v = v ?? nil else {
                    throw StoreError(.corrupt, "the store in \(directory) has no readable format version", context: .init(path: directory))
                }
                return v
            }
        } catch {
            throw EventLog.storeError(error, "cannot read the store in \(directory)", path: directory)
        }
    }

    /// Step 2: copies the store in `source` into a new environment in `destination`.
    private static func copy(from source: String, to destination: String,
                             report: inout Report, progress: ((Progress) -> Void)?) throws(StoreError) {
        do {
            let old = try LMDBEnvironment(path: source, flags: .readOnly, maxDatabases: 8, mapSize: 1 << 20)
            let (_, used, _) = old.info()
            // Every record grows by its 4-byte checksum; the map doubles as it fills anyway.
            let new = try LMDBEnvironment(path: destination, flags: .noSync, maxDatabases: 8,
                                          mapSize: max(used * 2 + (64 << 20), 1 << 30))
            try old.withReadTransaction { from in
                for (name, flags) in databases {
                    let src = try from.openDatabase(name)
                    let total = try from.stat(src).entries
                    let created: LMDBDatabase = try {
                        let txn = try new.begin(readOnly: false)
                        let db = try txn.openDatabase(name, flags: flags.union(.create))
                        try txn.commit()
                        return db
                    }()
                    var pending: [(key: [UInt8], value: [UInt8])] = []
                    pending.reserveCapacity(chunk)
                    var done = 0
                    func flush() throws {
                        let txn = try new.begin(readOnly: false)
                        for (k, v) in pending where !(name == "meta" && k == EventLog.versionKey) {
                            // Entries come in key order: appended without a search (duplicates
                            // of a subject in their own order too, so no flag for them).
                            try txn.put(created, key: k, value: v, flags: flags.isEmpty ? .append : [])
                        }
                        if name == "meta" && done + pending.count == total {
                            var v = EventLog.formatVersion.littleEndian
                            let value = withUnsafeBytes(of: &v) { Array($0) }
                            try txn.put(created, key: EventLog.versionKey, value: value)
                        }
                        try txn.commit()
                        done += pending.count
                        pending.removeAll(keepingCapacity: true)
                        if name == "log" { progress?(Progress(done: done, total: total)) }
                    }
                    try from.withCursor(src) { c in
                        var op = LMDBCursor.Operation.first
                        while let entry = try c.get(op, { k, v in
                            name == "log" ? (Array(k), try framed(k, v)) : (Array(k), Array(v))
                        }) {
                            op = .next
                            pending.append(entry)
                            if pending.count == chunk { try flush() }
                        }
                    }
                    if !pending.isEmpty || name == "meta" { try flush() }
                    if name == "log" { report.events = done } else { report.indexEntries += done }
                }
            }
            try new.sync(force: true)
        } catch {
            throw EventLog.storeError(error, "migrating the store in \(source)", path: source)
        }
    }

    /// The record `v` stored under log key `k` by format 1, checked and framed with its checksum.
    private static func framed(_ k: UnsafeRawBufferPointer, _ v: UnsafeRawBufferPointer) throws -> [UInt8] {
        let p = try EventLog.logPosition(k)
        do {
            let view = try EventView(validating: v)
            try view.validateUTF8()
        } catch {
            throw StoreError(.corrupt, "record at position \(p) does not decode, nothing was migrated: \(error)", context: .init(position: p))
        }
        return RecordFrame.sealed(Array(v))
    }

    /// Steps 3 and 5: the store in `directory` verifies clean and holds what was copied.
    private static func check(_ directory: String, against report: Report) throws(StoreError) {
        let log = try EventLog(directory: directory, access: .readOnly)
        let verified = try log.verify()
        guard verified.isClean else {
            throw StoreError(.corrupt, "the migrated copy does not verify, nothing was changed: \(verified.problems[0])", context: .init(path: directory))
        }
        guard verified.recordsChecked == report.events else {
            throw StoreError(.corrupt, "the migrated copy holds \(verified.recordsChecked) events, the original \(report.events); nothing was changed", context: .init(path: directory))
        }
    }

    private static func system(_ call: String, _ rc: Int32, _ path: String) throws(StoreError) {
        guard rc == 0 else {
            throw StoreError(.io, "\(call) \(path): \(String(cString: strerror(errno)))", context: .init(path: path))
        }
    }

    private static func removeFile(_ path: String) throws(StoreError) {
        if unlink(path) != 0, errno != ENOENT {
            throw StoreError(.io, "cannot remove \(path): \(String(cString: strerror(errno)))", context: .init(path: path))
        }
    }

    /// Removes an environment directory this migration made (its two files, then itself).
    private static func removeStore(_ path: String) throws(StoreError) {
        try removeFile(path + "/data.mdb")
        try removeFile(path + "/lock.mdb")
        if rmdir(path) != 0, errno != ENOENT {
            throw StoreError(.io, "cannot remove \(path): \(String(cString: strerror(errno)))", context: .init(path: path))
        }
    }

    /// Makes the directory's entries (the renames) durable.
    private static func syncDirectory(_ path: String) throws(StoreError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { try system("open", -1, path); return }
        defer { close(fd) }
        try system("fsync", fsync(fd), path)
    }
}
