import Glibc
import JourneyCore
import JourneyProtocol

/// Erasure (SPEC §6): a patient's identifying data rewritten out of the store, then the file
/// compacted so no page holds the old bytes.
extension EventLog {
    /// Rewrites, in one transaction, every event that names one of `ids` (the ids of one
    /// cluster), and stores the receipt of the erasure:
    ///
    /// - an event of the cluster (its `subject` is one of `ids`): `subject`, and `patient` and
    ///   `referrer` when present, become `pseudonym`; `concern`, `agent`, `term` and `attrs` are
    ///   dropped;
    /// - an event of another cluster whose `patient` or `referrer` is one of `ids` (a referral
    ///   by the erased patient, a withdrawn identify): that field becomes `pseudonym`.
    ///
    /// Each rewritten record keeps its position, with a new checksum; the `subjects` index
    /// follows; the rewritten event ids are marked erased (an append of one of them with other
    /// content is refused, `.erased`); the projection checkpoints are dropped (they hold the
    /// ids; the projections are refolded from the log); stored signals and entries of the
    /// earlier releases' `audit` database that name one of `ids` name `pseudonym` instead.
    /// The old bytes are still in free pages of the file until `compact()` runs.
    ///
    /// - Returns: the receipt stored, numbered after the store's previous erasures.
    /// - Throws: `StoreError` `.notFound` when no event names one of `ids` (nothing is
    ///   changed), `.readOnly`, or the store's write errors.
    package func erase(ids: [String], pseudonym: String, at: Int64, actor: String?, reason: String) throws(StoreError) -> ErasureReceipt {
        guard let erased, let erasures, let signals else { throw readOnlyError("erase") }
        let targets = Set(ids.map { Array($0.utf8) })
        let lengths = Set(targets.map(\.count))
        let pseudonymBytes = Array(pseudonym.utf8)
        // Whether a field's bytes are one of the erased ids (lengths first: no copy per event).
        func named(_ b: UnsafeRawBufferPointer?) -> Bool {
            guard let b, lengths.contains(b.count) else { return false }
            return targets.contains(Array(b))
        }
        return try write(estimatedBytes: 1 << 20) { txn in
            // The events to rewrite, found in one pass over the log.
            var found: [(position: UInt64, event: Event, ofCluster: Bool)] = []
            try txn.withCursor(self.log) { c in
                var op = LMDBCursor.Operation.first
                while let hit = try c.get(op, { k, v -> (UInt64, Event, Bool)? in
                    let p = try Self.logPosition(k)
                    let view = try Self.view(v, p)
                    let ofCluster = named(view.subject)
                    guard ofCluster || named(view.bytes(.patient)) || named(view.bytes(.referrer)) else { return nil }
                    return (p, try Self.decode(view, p), ofCluster)
                }) {
                    op = .next
                    if let hit { found.append((hit.0, hit.1, hit.2)) }
                }
            }
            let events = found.count { $0.ofCluster }
            guard !found.isEmpty else {
                throw StoreError(.notFound, "no event of the store names \(Quote.short(ids.first ?? "")) or its cluster: nothing was erased")
            }
            for (position, old, ofCluster) in found {
                var e = old
                if ofCluster {
                    e.subject = pseudonym
                    if e.patient != nil { e.patient = pseudonym }
                    if e.referrer != nil { e.referrer = pseudonym }
                    e.concern = nil
                    e.agent = nil
                    e.term = nil
                    e.attrs = []
                } else {
                    if let p = e.patient, targets.contains(Array(p.utf8)) { e.patient = pseudonym }
                    if let r = e.referrer, targets.contains(Array(r.utf8)) { e.referrer = pseudonym }
                }
                let record: [UInt8]
                do { record = RecordFrame.sealed(try EventRecord.encode(e)) } catch {
                    throw StoreError(.corrupt, "record at position \(position) cannot be encoded again: \(error)", context: .init(position: position))
                }
                let key = Self.be64(position)
                try txn.put(self.log, key: key, value: record)
                if ofCluster && old.subject != pseudonym {
                    try Array(old.subject.utf8).withUnsafeBytes { s in
                        try key.withUnsafeBytes { v in _ = try txn.delete(self.subjects, key: s, value: v) }
                    }
                    try txn.put(self.subjects, key: pseudonymBytes, value: key, flags: .noDupData)
                }
                try txn.put(erased, key: Array(e.id.utf8), value: key)
            }
            try self.dropCheckpoints(txn)
            try self.renameInSignals(txn, signals, targets, pseudonym)
            try self.renameInLegacyAudit(txn, targets, pseudonym)
            let seq = (try txn.withCursor(erasures) { c in try c.get(.last) { k, _ in Self.position(from: k) } } ?? nil).map { $0 + 1 } ?? 1
            let receipt = ErasureReceipt(seq: seq, at: at, actor: actor, reason: reason, events: events,
                                         references: found.count - events, pseudonym: pseudonym)
            try txn.put(erasures, key: Self.be64(seq), value: receipt.json, flags: .append)
            try txn.put(self.meta, key: Self.pendingAuditRewriteKey, value: Self.pendingAuditRewrite(ids: ids, pseudonym: pseudonym))
            return receipt
        }
    }

    /// Until the read audit names the pseudonym instead of the erased ids, the ids and the
    /// pseudonym are kept here (in the same transaction as the rewritten events), so that a
    /// process stopped before the audit's rewrite has it redone at the next writing open.
    /// Deleting the entry frees its page: a compaction follows.
    static let pendingAuditRewriteKey = Array("erasure_audit_rewrite_pending".utf8)

    /// `[pseudonym, id…]` as a JSON array.
    private static func pendingAuditRewrite(ids: [String], pseudonym: String) -> [UInt8] {
        var w = JSONWriter()
        w.beginArray()
        for s in [pseudonym] + ids { w.string(s) }
        w.endArray()
        return w.bytes
    }

    /// The erased ids whose read-audit rewrite is still to do, and their pseudonym.
    package func pendingAuditRewrite() throws(StoreError) -> (ids: Set<String>, pseudonym: String)? {
        let raw: [UInt8]?? = try read { txn in try txn.withValue(self.meta, forKey: Self.pendingAuditRewriteKey) { Array($0) } }
        guard let bytes = raw ?? nil else { return nil }
        guard let list = try? JSONParser.parse(bytes).arrayValue?.compactMap(\.stringValue), list.count >= 2 else {
            throw StoreError(.corrupt, "the pending erasure's audit rewrite entry does not decode")
        }
        return (Set(list.dropFirst()), list[0])
    }

    /// Forgets the pending audit rewrite once it is done (`compact()` must follow).
    package func clearPendingAuditRewrite() throws(StoreError) {
        try write(estimatedBytes: 64) { txn in _ = try txn.delete(self.meta, key: Self.pendingAuditRewriteKey) }
    }

    /// At a writing open: redoes the read audit's rewrite of an erasure the process stopped
    /// before finishing, then compacts when an erasure's bytes may still be in free pages. A
    /// rewrite that fails again is left pending (the entry stays, tried at the next open).
    func finishInterruptedErasure() throws(StoreError) {
        var cleared = false
        if let pending = try pendingAuditRewrite(),
           (try? AuditLog.rewrite(directory: directory, replacing: pending.ids, with: pending.pseudonym)) != nil {
            try clearPendingAuditRewrite()
            cleared = true
        }
        let compactionDue = try needsCompaction()
        if cleared || compactionDue { try compact() }
    }

    /// Whether `id` is the id of an event an erasure rewrote.
    func isErased(_ txn: borrowing LMDBTransaction, _ id: UnsafeRawBufferPointer) throws -> Bool {
        guard let erased, id.count >= 1 else { return false }
        return try txn.withValue(erased, forKey: id) { _ in true } ?? false
    }

    /// Every erasure's receipt, oldest first.
    public func erasureReceipts() throws(StoreError) -> [ErasureReceipt] {
        guard let erasures else { return [] }
        return try read { txn in
            var out: [ErasureReceipt] = []
            try txn.withCursor(erasures) { c in
                var op = LMDBCursor.Operation.first
                while let raw = try c.get(op, { _, v in Array(v) }) {
                    op = .next
                    do { out.append(try ErasureReceipt(json: try JSONParser.parse(raw))) } catch {
                        throw StoreError(.corrupt, "erasure receipt \(out.count + 1) does not decode: \(error)")
                    }
                }
            }
            return out
        }
    }

    /// Deletes every checkpoint chunk.
    private func dropCheckpoints(_ txn: borrowing LMDBTransaction) throws {
        var keys: [[UInt8]] = []
        try txn.withCursor(checkpoints) { c in
            var op = LMDBCursor.Operation.first
            while let k = try c.get(op, { k, _ in Array(k) }) {
                keys.append(k)
                op = .next
            }
        }
        for k in keys { try txn.delete(checkpoints, key: k) }
    }

    /// Stored signals about one of `targets` now name `pseudonym` (same seq, same order).
    private func renameInSignals(_ txn: borrowing LMDBTransaction, _ signals: LMDBDatabase,
                                 _ targets: Set<[UInt8]>, _ pseudonym: String) throws {
        var renamed: [(key: [UInt8], value: [UInt8])] = []
        try txn.withCursor(signals) { c in
            var op = LMDBCursor.Operation.first
            while let entry = try c.get(op, { k, v -> ([UInt8], [UInt8])? in
                guard let seq = Self.position(from: k) else { throw StoreError(.corrupt, "signals key is not 8 bytes") }
                guard let json = try? JSONParser.parse(Signal.line(seq: seq, stored: v)), var s = try? Signal(json: json) else {
                    throw StoreError(.corrupt, "signal \(seq) is not a signal object", context: .init(position: seq))
                }
                guard targets.contains(Array(s.patient.utf8)) else { return nil }
                s.patient = pseudonym
                return (Array(k), s.storedBytes)
            }) {
                op = .next
                if let entry { renamed.append((entry.0, entry.1)) }
            }
        }
        for (k, v) in renamed { try txn.put(signals, key: k, value: v) }
    }

    /// Entries of the `audit` database (earlier releases' read records) about one of `targets`
    /// now name `pseudonym`.
    private func renameInLegacyAudit(_ txn: borrowing LMDBTransaction, _ targets: Set<[UInt8]>, _ pseudonym: String) throws {
        var renamed: [(key: [UInt8], value: [UInt8])] = []
        try txn.withCursor(audit) { c in
            var op = LMDBCursor.Operation.first
            while let entry = try c.get(op, { k, v -> ([UInt8], [UInt8])? in
                guard var r = AuditRecord(decoding: v), targets.contains(Array(r.id.utf8)) else { return nil }
                r.id = pseudonym
                return (Array(k), r.encoded)
            }) {
                op = .next
                if let entry { renamed.append((entry.0, entry.1)) }
            }
        }
        for (k, v) in renamed { try txn.put(audit, key: k, value: v) }
    }

    /// Replaces the data file by a compacted copy (`LMDBEnvironment.replaceWithCompactCopy`), so
    /// that no page of it holds what earlier commits freed (after `erase`: the erased bytes).
    /// Writes wait meanwhile; reads of this process wait for the swap. The copy is built in
    /// `DIR/compact.new`.
    ///
    /// - Throws: `StoreError`; when the failure came after the copy took the data file's name,
    ///   the store stops taking writes (`.writesStopped`): reopen it.
    package func compact() throws(StoreError) {
        guard access == .readWrite else { throw readOnlyError("compact") }
        let result: Result<Void, StoreError> = writeLock.withLock { _ in
            if let stopped = writeFailure { return .failure(stopped) }
            var replaced = false
            do {
                try env.replaceWithCompactCopy(scratch: directory + "/compact.new", replaced: &replaced) { txn in
                    try self.reopenDatabases(txn)
                }
            } catch {
                guard replaced else { return .failure(Self.storeError(error, "compacting the store", path: directory)) }
                return .failure(stopWrites(after: (error as? LMDBError) ?? LMDBError(rawValue: EIO), "reopening the compacted store failed"))
            }
            return .success(())
        }
        try result.get()
        // Which erasures the file is compacted after (an interrupted one is finished at open).
        try write(estimatedBytes: 64) { txn in
            let last = try self.lastErasure(txn)
            try txn.put(self.meta, key: Self.compactedKey, value: Self.be64(last))
        }
    }

    static let compactedKey = Array("compacted_after_erasure".utf8)

    /// The seq of the latest erasure (0: none).
    private func lastErasure(_ txn: borrowing LMDBTransaction) throws -> UInt64 {
        guard let erasures else { return 0 }
        let found: UInt64?? = try txn.withCursor(erasures) { c in try c.get(.last) { k, _ in Self.position(from: k) } }
        return (found ?? nil) ?? 0
    }

    /// Whether an erasure was committed but the file not compacted after it (the process
    /// stopped in between): the old bytes may still be in free pages.
    func needsCompaction() throws(StoreError) -> Bool {
        try read { txn in
            let last = try self.lastErasure(txn)
            guard last > 0 else { return false }
            let done: UInt64?? = try txn.withValue(self.meta, forKey: Self.compactedKey) { Self.position(from: $0) }
            return ((done ?? nil) ?? 0) < last
        }
    }

    /// Opens the store's databases in a new environment in the order `init` opened them, and
    /// checks that each got the handle it had.
    private func reopenDatabases(_ txn: borrowing LMDBTransaction) throws {
        let opened: [(String, LMDBDatabase.Flags, LMDBDatabase?)] = [
            ("log", [], log), ("ids", [], ids), ("subjects", [.dupSort, .dupFixed], subjects), ("meta", [], meta),
            ("checkpoints", [], checkpoints), ("audit", [], audit), ("signals", [], signals), ("consumers", [], consumers),
            ("erased", [], erased), ("erasures", [], erasures),
        ]
        for (name, flags, db) in opened {
            guard let db else { continue }
            let again = try txn.openDatabase(name, flags: flags.union(.create))
            guard again == db else {
                throw StoreError(.corrupt, "database \(name) reopened under another handle", context: .init(path: directory))
            }
        }
    }
}
