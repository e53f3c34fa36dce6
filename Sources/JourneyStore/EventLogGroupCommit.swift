import JourneyCore

/// Group commit: many clients' batches in one transaction and one fsync (SPEC §4), plus the
/// append-only audit trail written with them.
extension EventLog {
    /// Appends several independent batches in one transaction (one fsync for all).
    ///
    /// Each batch keeps the semantics of `append`: it is atomic on its own (a nested transaction),
    /// so a conflict fails only its batch; the others commit, in order, with dense positions.
    /// `audit` entries (opaque bytes, e.g. who read which patient) are appended to the `audit`
    /// database in the same transaction.
    ///
    /// - Returns: one result per batch, in order. A batch fails alone for a reason of its own
    ///   (a conflict, an invalid event). When the store fails (disk full, I/O, at any point
    ///   until the commit is durable), every batch fails with that error and nothing is written.
    public func appendGroup(_ batches: [[Event]], audit: [[UInt8]] = []) -> [Result<[AppendOutcome], StoreError>] {
        appendGroup(encoded: batches.map(Self.encode), audit: audit)
    }

    /// Encodes a batch for `appendGroup(encoded:)`: fails when the store cannot take one of its
    /// events (that batch then fails alone).
    public static func encode(_ events: [Event]) -> Result<EncodedBatch, StoreError> {
        var batch = EncodedBatch(reservingEvents: events.count)
        do throws(StoreError) {
            for e in events { try batch.append(e) }
            return .success(batch)
        } catch {
            return .failure(error)
        }
    }

    /// `appendGroup` of batches already encoded (e.g. by the threads that parsed them); a batch
    /// given as a failure fails with that error and takes no part.
    ///
    /// The group is written as one run of the batches with every index entry put in key order
    /// at the end of the transaction (as `appendEncoded(_:)` for batches does); when a batch
    /// fails on its own, that transaction is dropped and the group is written again with each
    /// batch in a nested transaction, so that only the failing batches are left out.
    public func appendGroup(encoded: [Result<EncodedBatch, StoreError>], audit: [[UInt8]] = []) -> [Result<[AppendOutcome], StoreError>] {
        var results: [Result<[AppendOutcome], StoreError>] = []
        var batches: [EncodedBatch?] = []
        var bytes = audit.reduce(0) { $0 + $1.count }
        for r in encoded {
            switch r {
            case .success(let batch):
                batches.append(batch)
                results.append(.success([]))
                bytes += batch.bytes.count * 2 + batch.count * 64
            case .failure(let error):
                batches.append(nil)
                results.append(.failure(error))
            }
        }
        let encodedBatches = batches
        let runs = encodedBatches.compactMap { $0 }.filter { $0.count > 0 }
        var failedAt: Int?
        do throws(StoreError) {
            let outcomes = try write(estimatedBytes: bytes) { txn in
                let all = try self.appendRun(txn, runs, failedAt: &failedAt)
                try self.appendAudit(txn, audit)
                return all
            }
            var out = results, k = 0
            for (i, batch) in encodedBatches.enumerated() {
                guard let batch, batch.count > 0 else { continue }
                out[i] = .success(outcomes[k])
                k += 1
            }
            return out
        } catch {
            guard failedAt != nil else { return encoded.map { _ in .failure(error) } }
        }
        let pending = results
        do {
            return try write(estimatedBytes: bytes) { txn in
                var out = pending
                for (i, batch) in encodedBatches.enumerated() {
                    guard let batch else { continue }
                    if batch.count == 0 { continue }
                    do {
                        let child = try txn.beginChild()
                        let outcomes = try self.appendInTransaction(child, batch)
                        try child.commit()
                        out[i] = .success(outcomes)
                    } catch let e as LMDBError {
                        // Not this batch's fault but the store's (map or disk full, I/O): the
                        // whole group fails, or grows the map and runs again.
                        throw e
                    } catch {
                        // The child was aborted: this batch left no trace.
                        out[i] = .failure(Self.storeError(error, "append", path: self.directory))
                    }
                }
                try self.appendAudit(txn, audit)
                return out
            }
        } catch {
            return encoded.map { _ in .failure(error) }
        }
    }

    private func appendAudit(_ txn: borrowing LMDBTransaction, _ entries: [[UInt8]]) throws {
        guard !entries.isEmpty else { return }
        var next = try txn.withCursor(audit) { c in
            try c.get(.last) { k, _ in Self.position(from: k) }
        }.flatMap { $0 }.map { $0 + 1 } ?? 1
        for entry in entries {
            try txn.put(audit, key: Self.be64(next), value: entry, flags: .append)
            next += 1
        }
    }

    /// Appends audit entries (opaque bytes) in their own transaction, numbered on from the last.
    public func appendAudit(_ entries: [[UInt8]]) throws(StoreError) {
        guard !entries.isEmpty else { return }
        try write(estimatedBytes: entries.reduce(0) { $0 + $1.count + 64 }) { txn in
            try self.appendAudit(txn, entries)
        }
    }

    /// The audit entries from sequence number `sequence` on (dense from 1, in commit order),
    /// up to `limit`, with their sequence numbers.
    public func auditEntries(from sequence: UInt64 = 1, limit: Int = .max) throws(StoreError) -> [(UInt64, [UInt8])] {
        try read { txn in
            var out: [(UInt64, [UInt8])] = []
            guard limit > 0 else { return out }
            try txn.withCursor(self.audit) { c in
                try withUnsafeBytes(of: sequence.bigEndian) { start in
                    var op = LMDBCursor.Operation.setRange
                    while let entry = try c.get(op, key: start, { k, v in (Self.position(from: k), Array(v)) }) {
                        guard let seq = entry.0 else { throw StoreError(.corrupt, "audit key is not 8 bytes") }
                        out.append((seq, entry.1))
                        if out.count >= limit { return }
                        op = .next
                    }
                }
            }
            return out
        }
    }
}
