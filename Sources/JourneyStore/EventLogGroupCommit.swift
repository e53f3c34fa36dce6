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
    package func appendGroup(_ batches: [[Event]], audit: [[UInt8]] = []) -> [Result<[AppendOutcome], StoreError>] {
        appendGroup(encoded: batches.map(Self.encode), audit: audit)
    }

    /// Encodes a batch for `appendGroup(encoded:)`: fails when the store cannot take one of its
    /// events (that batch then fails alone).
    package static func encode(_ events: [Event]) -> Result<EncodedBatch, StoreError> {
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
    package func appendGroup(encoded: [Result<EncodedBatch, StoreError>], audit: [[UInt8]] = []) -> [Result<[AppendOutcome], StoreError>] {
        appendGroup(entries: encoded.map { GroupEntry(batch: $0) }, audit: audit).map { r in
            r.map(\.outcomes)
        }
    }

    /// One batch of a group commit.
    package struct GroupEntry: Sendable {
        /// The batch, or the error it fails with.
        package var batch: Result<EncodedBatch, StoreError>
        /// When the batch fails on its own (a conflict), append its events one by one instead,
        /// each in a nested transaction, so that only the events at fault are left out (an import
        /// keeps the rest of a batch, in the order of its lines).
        package var splitConflicts: Bool = false
        /// A batch of a chain is refused once an earlier batch of the same chain failed, so a
        /// stream of batches (an import) never leaves a hole behind a failure.
        package var chain: WriteChain?

        package init(batch: Result<EncodedBatch, StoreError>, splitConflicts: Bool = false, chain: WriteChain? = nil) {
            self.batch = batch
            self.splitConflicts = splitConflicts
            self.chain = chain
        }
    }

    /// The error of a chained batch refused because an earlier batch of its chain failed.
    static let afterChainFailure = StoreError(.invalidArgument, "not appended: an earlier batch of the same stream failed")

    /// What became of each event of a batch: its outcome, or, for a batch that split its
    /// conflicts, the error of an event left out.
    package struct EventResults: RandomAccessCollection, Sendable {
        /// One outcome per event, in batch order (a placeholder for an event left out).
        package private(set) var outcomes: [AppendOutcome]
        /// The events left out, by batch index, with their error (empty unless the batch split
        /// its conflicts).
        package private(set) var rejected: [Int: StoreError] = [:]

        /// The results of a batch appended whole.
        package init(_ outcomes: [AppendOutcome]) { self.outcomes = outcomes }

        init(reservingCapacity n: Int = 0) {
            outcomes = []
            outcomes.reserveCapacity(n)
        }

        mutating func append(_ outcome: AppendOutcome) { outcomes.append(outcome) }

        mutating func reject(_ error: StoreError) {
            rejected[outcomes.count] = error
            outcomes.append(.duplicate(.none))
        }

        package var startIndex: Int { 0 }
        package var endIndex: Int { outcomes.count }

        /// What became of event `i`: its outcome, or the error that left it out.
        package subscript(i: Int) -> Result<AppendOutcome, StoreError> {
            if !rejected.isEmpty, let e = rejected[i] { return .failure(e) }
            return .success(outcomes[i])
        }

        /// True when event `i` was stored at a new position (not a duplicate, not left out).
        @inline(__always)
        func appended(_ i: Int) -> Position? {
            guard case .appended(let p) = outcomes[i], rejected.isEmpty || rejected[i] == nil else { return nil }
            return p
        }
    }

    /// Appends a group of batches in one transaction (one fsync), each atomic on its own.
    ///
    /// The group is written as one run of the batches with every index entry put in key order
    /// at the end of the transaction (as `appendEncoded(_:)` for batches does); when a batch
    /// fails on its own, that transaction is dropped and the group is written again with each
    /// batch in a nested transaction, so that only the failing batches (or, with
    /// `splitConflicts`, the failing events) are left out. When the store fails (disk full, I/O),
    /// every batch fails with that error and nothing is written; the chains of the failed
    /// batches are marked failed.
    package func appendGroup(entries: [GroupEntry], audit: [[UInt8]] = []) -> [Result<EventResults, StoreError>] {
        var written = false
        return appendGroup(entries: entries, audit: audit, signals: [], wrote: &written)
    }

    /// `appendGroup(entries:audit:)` that also appends `signals` (signal objects,
    /// `Signal.storedBytes`) to the `signals` database in the same transaction, numbered on from
    /// the last seq. `wrote` is set when the audit entries and signals were committed (false
    /// when the store failed: nothing was written).
    package func appendGroup(entries: [GroupEntry], audit: [[UInt8]], signals: [[UInt8]],
                             wrote: inout Bool) -> [Result<EventResults, StoreError>] {
        var results: [Result<EventResults, StoreError>] = []
        var batches: [EncodedBatch?] = []
        var bytes = audit.reduce(0) { $0 + $1.count } + signals.reduce(0) { $0 + $1.count + 64 }
        for entry in entries {
            if let chain = entry.chain, chain.hasFailed {
                batches.append(nil)
                results.append(.failure(Self.afterChainFailure))
                continue
            }
            switch entry.batch {
            case .success(let batch):
                batches.append(batch)
                results.append(.success(EventResults()))
                bytes += batch.bytes.count * 2 + batch.count * 64
            case .failure(let error):
                batches.append(nil)
                results.append(.failure(error))
            }
        }
        let outcome = appendGroup(entries, batches, results, audit: audit, signals: signals, bytes: bytes, wrote: &wrote)
        for (entry, r) in zip(entries, outcome) {
            if case .failure = r { entry.chain?.markFailed() }
        }
        return outcome
    }

    private func appendGroup(_ entries: [GroupEntry], _ encodedBatches: [EncodedBatch?],
                             _ pending: [Result<EventResults, StoreError>], audit: [[UInt8]],
                             signals: [[UInt8]], bytes: Int, wrote: inout Bool) -> [Result<EventResults, StoreError>] {
        let runs = encodedBatches.compactMap { $0 }.filter { $0.count > 0 }
        wrote = false
        if runs.isEmpty && audit.isEmpty && signals.isEmpty {
            wrote = true
            return pending
        }
        var failedAt: Int?
        do throws(StoreError) {
            let outcomes = try write(estimatedBytes: bytes) { txn in
                let all = try self.appendRun(txn, runs, failedAt: &failedAt)
                try self.appendAudit(txn, audit)
                try self.appendSignals(txn, signals)
                return all
            }
            var out = pending, k = 0
            for (i, batch) in encodedBatches.enumerated() {
                guard let batch, batch.count > 0 else { continue }
                out[i] = .success(EventResults(outcomes[k]))
                k += 1
            }
            wrote = true
            return out
        } catch {
            guard failedAt != nil else { return entries.map { _ in .failure(error) } }
        }
        do {
            let result = try write(estimatedBytes: bytes) { txn in
                var out = pending
                // The chains with a failed batch so far in this group: their later batches are refused.
                var failedChains = Set<ObjectIdentifier>()
                for (i, batch) in encodedBatches.enumerated() {
                    let chain = entries[i].chain.map(ObjectIdentifier.init)
                    defer {
                        if let chain, case .failure = out[i] { failedChains.insert(chain) }
                    }
                    guard let batch else { continue }
                    if batch.count == 0 { continue }
                    if let chain, failedChains.contains(chain) {
                        out[i] = .failure(Self.afterChainFailure)
                        continue
                    }
                    do {
                        out[i] = .success(EventResults(try self.appendNested(txn, batch)))
                    } catch let e as LMDBError {
                        // Not this batch's fault but the store's (map or disk full, I/O): the
                        // whole group fails, or grows the map and runs again.
                        throw e
                    } catch {
                        // The child was aborted: this batch left no trace.
                        let failure = Self.storeError(error, "append", path: self.directory)
                        guard entries[i].splitConflicts, failure.code == .conflict || failure.code == .erased else {
                            out[i] = .failure(failure)
                            continue
                        }
                        var events = EventResults(reservingCapacity: batch.count)
                        for k in 0..<batch.count {
                            do {
                                events.append(try self.appendNested(txn, batch.single(k))[0])
                            } catch let e as LMDBError {
                                throw e
                            } catch {
                                var failure = Self.storeError(error, "append", path: self.directory)
                                failure.context.batchIndex = k
                                events.reject(failure)
                            }
                        }
                        out[i] = .success(events)
                    }
                }
                try self.appendAudit(txn, audit)
                try self.appendSignals(txn, signals)
                return out
            }
            wrote = true
            return result
        } catch {
            return entries.map { _ in .failure(error) }
        }
    }

    /// Appends `batch` in a transaction nested in `txn`: all of it, or, when it throws, nothing.
    private func appendNested(_ txn: borrowing LMDBTransaction, _ batch: EncodedBatch) throws -> [AppendOutcome] {
        let child = try txn.beginChild()
        let outcomes = try appendInTransaction(child, batch)
        try child.commit()
        return outcomes
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
    package func appendAudit(_ entries: [[UInt8]]) throws(StoreError) {
        guard !entries.isEmpty else { return }
        try write(estimatedBytes: entries.reduce(0) { $0 + $1.count + 64 }) { txn in
            try self.appendAudit(txn, entries)
        }
    }

    /// The audit entries from sequence number `sequence` on (dense from 1, in commit order),
    /// up to `limit`, with their sequence numbers.
    package func auditEntries(from sequence: UInt64 = 1, limit: Int = .max) throws(StoreError) -> [(UInt64, [UInt8])] {
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
