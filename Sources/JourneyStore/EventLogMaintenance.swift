import Glibc
import JourneyCore

/// Sizes and counts of a store, for `journeyd stats`.
public struct StoreStats: Sendable, Hashable {
    /// Entries and pages of one named database.
    public struct Database: Sendable, Hashable {
        /// The database's name (`log`, `ids`, …).
        public var name: String
        /// Its number of entries.
        public var entries: Int
        /// Branch, leaf and overflow pages.
        public var pages: Int
    }

    /// The number of events stored.
    public var events: Int
    /// The position of the latest event, 0 when empty.
    public var lastPosition: UInt64
    /// The map size: the most the data file may grow to before the map is grown again.
    public var mapSize: Int
    /// Bytes of the map in use (up to the last used page).
    public var mapUsed: Int
    /// LMDB's page size in bytes.
    public var pageSize: Int
    /// Size of `data.mdb` on disk.
    public var fileSize: Int
    /// Each named database.
    public var databases: [Database]
}

/// What `EventLog.verify()` found.
public struct VerifyReport: Sendable, Hashable {
    /// One inconsistency, with the log position concerned when there is one.
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        /// The log position concerned, if any.
        public var position: UInt64?
        /// What is wrong.
        public var message: String
        /// The problem in one line, with its position.
        public var description: String { position.map { "position \($0): \(message)" } ?? message }
    }

    /// Pages of the data file whose structure was checked (see `LMDBPageCheck`).
    public var pagesChecked: Int = 0
    /// Log records read and decoded.
    public var recordsChecked: Int = 0
    /// Entries of the id index checked against the log.
    public var idEntriesChecked: Int = 0
    /// Entries of the subject index checked against the log.
    public var subjectEntriesChecked: Int = 0
    /// Checkpoints read back.
    public var checkpointsChecked: Int = 0
    /// The problems found, at most `maxProblems` (see `problemsOmitted`).
    public var problems: [Problem] = []
    /// How many problems were found beyond those listed.
    public var problemsOmitted: Int = 0

    /// True when nothing is wrong.
    public var isClean: Bool { problems.isEmpty }

    static let maxProblems = 1000

    mutating func add(_ position: UInt64?, _ message: String) {
        if problems.count < Self.maxProblems {
            problems.append(Problem(position: position, message: message))
        } else {
            problemsOmitted += 1
        }
    }
}

extension EventLog {
    /// Counts and sizes of the store.
    public func stats() throws(StoreError) -> StoreStats {
        let named: [(String, LMDBDatabase)] = [
            ("log", log), ("ids", ids), ("subjects", subjects), ("meta", meta), ("checkpoints", checkpoints),
            ("audit", audit),
        ]
        let (databases, last): ([StoreStats.Database], UInt64) = try read { txn in
            let dbs = try named.map { name, db in
                let s = try txn.stat(db)
                return StoreStats.Database(name: name, entries: s.entries, pages: s.branchPages + s.leafPages + s.overflowPages)
            }
            return (dbs, try self.lastPosition(txn))
        }
        let (mapSize, used, pageSize) = env.info()
        var st = stat()
        let fileSize = stat(directory + "/data.mdb", &st) == 0 ? Int(st.st_size) : 0
        return StoreStats(
            events: databases[0].entries, lastPosition: last, mapSize: mapSize, mapUsed: used,
            pageSize: pageSize, fileSize: fileSize, databases: databases)
    }

    /// Checks the whole store in one snapshot: the structure of every page of the data file
    /// (`LMDBPageCheck`; when it is damaged, nothing else is read), every record's checksum,
    /// every record decodes, positions are dense from 1,
    /// every record has its `ids` and `subjects` entries, every index entry points to a record
    /// with that id or subject, and every checkpoint is whole and not ahead of the log.
    ///
    /// Every record carries a CRC-32C of its bytes (`RecordFrame`): any changed byte of a record
    /// is reported at its position (all changes of up to 3 bits, and all but 1 in 2^32 others).
    public func verify() throws(StoreError) -> VerifyReport {
        // The pages first: a damaged one would make the walks below read outside the map. The
        // snapshot below holds the pages checked, and those written since by their writer.
        var report = VerifyReport()
        do {
            report.pagesChecked = try Self.checkStructure(env, directory).pages
        } catch {
            report.add(nil, "damaged page structure: \(error.message)")
            return report
        }
        return try read { txn in
            var report = report
            try self.verifyLog(txn, &report)
            report.idEntriesChecked = try self.verifyIndex(txn, self.ids, "id", .id, &report)
            report.subjectEntriesChecked = try self.verifyIndex(txn, self.subjects, "subject", .subject, &report)
            report.checkpointsChecked = try self.verifyCheckpoints(txn, &report)
            return report
        }
    }

    /// Step 3 of `verify`: each checkpoint's header is readable, its chunks are all there, and
    /// its position is not past the log's end (that would mean the log lost acknowledged
    /// events). Answers how many checkpoints were checked.
    private func verifyCheckpoints(_ txn: borrowing LMDBTransaction, _ report: inout VerifyReport) throws -> Int {
        let last = try lastPosition(txn)
        var headers: [(name: String, header: (UInt64, Int, Int)?)] = []
        try txn.withCursor(checkpoints) { c in
            var op = LMDBCursor.Operation.first
            while let entry = try c.get(op, { k, v -> (String, (UInt64, Int, Int)?)? in
                // Header keys end with NUL + index 0.
                guard k.count > 5, k[k.count - 5] == 0, k.suffix(4).allSatisfy({ $0 == 0 }) else { return nil }
                return (String(decoding: k.prefix(k.count - 5), as: UTF8.self), Self.checkpointHeader(v))
            }) {
                op = .next
                if let entry { headers.append((entry.0, entry.1)) }
            }
        }
        for (name, header) in headers {
            guard let (position, length, chunks) = header else {
                report.add(nil, "checkpoint \"\(name)\" has a malformed header")
                continue
            }
            if position > last {
                report.add(position, "checkpoint \"\(name)\" is at position \(position), ahead of the log's last position \(last): the log lost events the checkpoint had seen")
            }
            let prefix = Array(name.utf8) + [0]
            var stored = 0
            var missing = false
            for i in 0..<chunks {
                let size = try txn.withValue(checkpoints, forKey: prefix + Self.be32(UInt32(i + 1))) { $0.count }
                guard let size else {
                    report.add(position, "checkpoint \"\(name)\" is missing chunk \(i + 1) of \(chunks)")
                    missing = true
                    break
                }
                stored += size
            }
            if !missing && stored != length {
                report.add(position, "checkpoint \"\(name)\" holds \(stored) bytes, its header says \(length)")
            }
        }
        return headers.count
    }

    /// Step 1 of `verify`: the log, and the index entries each record must have.
    private func verifyLog(_ txn: borrowing LMDBTransaction, _ report: inout VerifyReport) throws {
        var expected: UInt64 = 1
        try txn.withCursor(log) { c in
            try txn.withCursor(subjects) { subjectCursor in
                var op = LMDBCursor.Operation.first
                while try c.get(op, { k, v in
                    try self.verifyRecord(txn, subjectCursor, k, v, &expected, &report)
                }) != nil {
                    op = .next
                }
            }
        }
    }

    private func verifyRecord(
        _ txn: borrowing LMDBTransaction, _ subjectCursor: borrowing LMDBCursor,
        _ k: UnsafeRawBufferPointer, _ v: UnsafeRawBufferPointer, _ expected: inout UInt64, _ report: inout VerifyReport
    ) throws {
        report.recordsChecked += 1
        guard let p = Self.position(from: k) else {
            report.add(nil, "log key of \(k.count) bytes (expected 8)")
            return
        }
        if p != expected {
            report.add(p, p > expected ? "positions \(expected)…\(p - 1) are missing" : "position out of order")
        }
        expected = p + 1
        let record: UnsafeRawBufferPointer
        do { record = try RecordFrame.open(v) } catch {
            report.add(p, "corrupt record: \(error)")
            return
        }
        let view: EventView
        do {
            view = try EventView(validating: record)
            _ = try view.event()
        } catch {
            report.add(p, "record does not decode: \(error)")
            return
        }
        let id = String(decoding: view.id, as: UTF8.self)
        switch try txn.withValue(ids, forKey: view.id, { Self.position(from: $0) }) {
        case nil: report.add(p, "id \(Quote.short(id)) is missing from the ids index")
        case .some(nil): report.add(p, "ids entry of \(Quote.short(id)) is malformed")
        case .some(let q?) where q != p: report.add(p, "ids entry of \(Quote.short(id)) points to position \(q)")
        default: break
        }
        var pk = p.bigEndian
        let found = try withUnsafeBytes(of: &pk) { pv in
            try subjectCursor.get(.getBoth, key: view.subject, value: pv) { _, _ in true }
        }
        if found == nil {
            report.add(p, "subject \(Quote.short(String(decoding: view.subject, as: UTF8.self))) index entry is missing")
        }
    }

    /// Step 2 of `verify`: every index entry points back to a record with that id or subject.
    /// Answers how many entries were checked.
    private func verifyIndex(
        _ txn: borrowing LMDBTransaction, _ db: LMDBDatabase, _ kind: String, _ field: EventRecord.StringField,
        _ report: inout VerifyReport
    ) throws -> Int {
        var problems = VerifyReport()
        var n = 0
        try txn.withCursor(db) { c in
            var op = LMDBCursor.Operation.first
            while let entry = try c.get(op, { k, v in (Array(k), Self.position(from: v)) }) {
                op = .next
                n += 1
                let key = String(decoding: entry.0, as: UTF8.self)
                guard let p = entry.1 else {
                    problems.add(nil, "\(kind) entry of \(Quote.short(key)) is malformed")
                    continue
                }
                var pk = p.bigEndian
                let matches = try withUnsafeBytes(of: &pk) { pkb in
                    try txn.withValue(self.log, forKey: pkb) { record -> Bool? in
                        guard let checked = try? RecordFrame.open(record), let view = try? EventView(validating: checked),
                              let b = view.bytes(field) else { return nil }
                        return b.elementsEqual(entry.0)
                    }
                }
                switch matches {
                case nil: problems.add(p, "\(kind) entry of \(Quote.short(key)) points to a missing record")
                case .some(nil): break  // an unreadable record is reported by step 1
                case .some(false?): problems.add(p, "\(kind) entry of \(Quote.short(key)) points to a record with another \(kind)")
                case .some(true?): break
                }
            }
        }
        for problem in problems.problems { report.add(problem.position, problem.message) }
        report.problemsOmitted += problems.problemsOmitted
        return n
    }

    /// Writes a compacted, consistent copy of the store into `destination` (created if missing;
    /// it must not already hold a store). Readers and appends go on meanwhile.
    ///
    /// The directory is made mode 0700 and the copy 0600, whatever the umask (the copy is
    /// written inside the 0700 directory, so no one else can open it meanwhile).
    ///
    /// - Returns: the number of events the backup holds, read from the copy itself (appends
    ///   made during the copy are in the store, not in the backup).
    @discardableResult
    public func backup(to destination: String) throws(StoreError) -> UInt64 {
        if mkdir(destination, 0o700) != 0, errno != EEXIST {
            throw StoreError(.io, "cannot create \(destination): \(String(cString: strerror(errno)))", context: .init(path: destination))
        }
        guard chmod(destination, 0o700) == 0 else {
            throw StoreError(.io, "cannot make \(destination) owner-only: \(String(cString: strerror(errno)))", context: .init(path: destination))
        }
        do { try env.copy(to: destination, compact: true) } catch {
            throw StoreError.lmdb(error, "backup to \(destination)", path: destination)
        }
        // mdb_env_copy2 creates the file with 0666 less the umask.
        guard chmod(destination + "/data.mdb", 0o600) == 0 else {
            throw StoreError(.io, "cannot make \(destination)/data.mdb owner-only: \(String(cString: strerror(errno)))", context: .init(path: destination))
        }
        // The count of the copy, from its own snapshot (opened read-only: LMDB adds its lock
        // file, mode 0600).
        do {
            let copy = try EventLog(directory: destination, access: .readOnly)
            return UInt64(try copy.read { try $0.stat(copy.log).entries })
        } catch {
            throw StoreError(.io, "backup written to \(destination) but it cannot be read back: \(error)", context: .init(path: destination))
        }
    }
}
