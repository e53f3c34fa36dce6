import Dispatch
import JourneyCore
import JourneyProtocol

extension EventLog {
    /// Events the reader of a replay hands to the fold at a time.
    static let foldBatch = 4096

    /// Batches the reader may be ahead of the fold.
    static let foldReadAhead = 4

    /// Below this many events to fold, `fold` runs on the calling thread alone (starting a
    /// thread costs more than it saves).
    static let foldAloneBelow: UInt64 = 16_384

    /// Folds every event after `position` into `projector`, in log order, from one read
    /// snapshot, and answers the last position folded (`position` when there is none).
    ///
    /// Two threads share the work: a reader thread walks the log and checks each record (its
    /// layout and the UTF-8 of its strings, as `Projector.apply(_: EventView)` does), and the
    /// calling thread folds the checked records, up to `foldReadAhead` batches behind. The
    /// records are not copied: the reader keeps its snapshot open until the fold is done with
    /// them. `progress` is called on the calling thread every 65,536 positions.
    ///
    /// Clusters an unlink splits are rebuilt at the end (see `resolveSplits`), so the projector
    /// comes back ready to answer.
    ///
    /// - Throws: `StoreError` (`.corrupt` with the position of the first unreadable record);
    ///   the projector then holds every event before that record.
    package func fold(after position: UInt64, into projector: inout Projector,
                     progress: ((UInt64) -> Void)? = nil) throws(StoreError) -> UInt64 {
        let last: UInt64
        do {
            last = try foldEvents(after: position, into: &projector, progress: progress)
        } catch {
            // What was folded before the unreadable record is made whole all the same.
            let folded = error.context.position.map { $0 - 1 } ?? position
            try? resolveSplits(in: &projector, upTo: folded)
            throw error
        }
        try resolveSplits(in: &projector, upTo: last)
        return last
    }

    /// Rebuilds, from the log, the clusters in which an unlink withdrew a link
    /// (`Projector.dissolvePendingSplits`): folds again the events at positions up to
    /// `position` (those folded already) of every id of those clusters, found through the
    /// subjects index, from one read snapshot.
    ///
    /// - Throws: `StoreError` when the log cannot be read, before the projector is changed, or
    ///   (`.corrupt`) for an unreadable record, after: the projector then lacks those clusters'
    ///   events and must be rebuilt.
    package func resolveSplits(in projector: inout Projector, upTo position: UInt64) throws(StoreError) {
        while projector.hasPendingSplits {
            try read { txn in
                var all: [UInt64] = []
                for s in projector.pendingSplitSubjects {
                    for p in try self.positions(txn, subject: s) where p <= position { all.append(p) }
                }
                all.sort()
                _ = projector.dissolvePendingSplits()
                for p in all {
                    let found: Void? = try withUnsafeBytes(of: p.bigEndian) { key in
                        try txn.withValue(self.log, forKey: key) { v in
                            do { try projector.apply(try Self.view(v, p)) } catch {
                                throw Self.corruptRecord(p, error)
                            }
                        }
                    }
                    guard found != nil else {
                        throw StoreError(.corrupt, "subjects index points to missing position \(p); run verify", context: .init(position: p))
                    }
                }
            }
        }
    }

    /// `fold` without the rebuild of split clusters.
    private func foldEvents(after position: UInt64, into projector: inout Projector,
                            progress: ((UInt64) -> Void)?) throws(StoreError) -> UInt64 {
        let end = lastPosition
        if end <= position || end - position < Self.foldAloneBelow {
            return try foldAlone(after: position, into: &projector, progress: progress)
        }
        let queue = HandOff<ReadAhead>(capacity: Self.foldReadAhead)
        let released = DispatchSemaphore(value: 0)
        // The reader interns the strings too: the projector's string tables go to its thread and
        // come back with the last batch (handed over, not captured, so that no copy of them is
        // left behind to make the next write copy a table).
        let tables = HandOff<FoldPreparation>(capacity: 1)
        tables.put(projector.beginPreparation())
        startThread { [self] in read(after: position, tables: tables, into: queue, holdingUntil: released) }
        var last = position
        while true {
            let batch = queue.take()
            projector.apply(batch.views)
            if let p = batch.lastPosition { last = p }
            if let progress {
                for p in batch.progressPositions { progress(p) }
            }
            guard batch.isLast else { continue }
            projector.endPreparation(batch.preparation!)
            // Every view has been folded: the reader may end its snapshot.
            released.signal()
            if let failure = batch.failure { throw failure }
            return last
        }
    }

    /// `fold` on the calling thread alone.
    func foldAlone(after position: UInt64, into projector: inout Projector,
                   progress: ((UInt64) -> Void)?) throws(StoreError) -> UInt64 {
        var last = position
        do {
            try scan(from: position + 1) { p, view in
                do { try projector.apply(view) } catch {
                    throw Self.corruptRecord(p, error)
                }
                last = p
                if p & 0xFFFF == 0 { progress?(p) }
                return true
            }
        } catch {
            throw Self.storeError(error, "scan", path: directory)
        }
        return last
    }

    /// Checked records read ahead of a fold, their strings interned, with the position of the
    /// last and those a progress report is due at (multiples of 65,536); the last batch of a
    /// read gives back the string tables and says why it ended early, if it did.
    struct ReadAhead: @unchecked Sendable {
        // Unchecked: the views point into the reader's read snapshot, mapped memory no one
        // writes and that stays mapped until the fold signals the reader to end the snapshot.
        var views: [PreparedEventView] = []
        var lastPosition: UInt64?
        var progressPositions: [UInt64] = []
        var failure: StoreError?
        var preparation: FoldPreparation?
        var isLast = false
    }

    /// The reader of `fold`: hands every record after `position` to `queue` in batches, checked
    /// and with its strings interned in the tables it takes from `handedOver`; ends with a batch
    /// marked last, which gives the tables back (and carries the error that stopped the read, if
    /// any); and keeps its read snapshot open until `released` is signalled.
    private func read(after position: UInt64, tables handedOver: HandOff<FoldPreparation>, into queue: HandOff<ReadAhead>,
                      holdingUntil released: DispatchSemaphore) {
        var tables: FoldPreparation? = handedOver.take()
        var batch = ReadAhead()
        // Checked records waiting to be prepared as one batch (so that the strings of the next
        // ones can be fetched while one is interned).
        var checked: [CheckedEventView] = []
        checked.reserveCapacity(Self.foldBatch)
        var handedLast = false
        do {
            try env.withReadTransaction { txn in
                // Signalled once the fold has taken the last batch and folded every view, on
                // every way out of the snapshot.
                defer { if handedLast { released.wait() } }
                do {
                    try scan(txn, from: position + 1) { p, view in
                        do { checked.append(try CheckedEventView(view)) } catch {
                            throw Self.corruptRecord(p, error)
                        }
                        batch.lastPosition = p
                        if p & 0xFFFF == 0 { batch.progressPositions.append(p) }
                        if checked.count == Self.foldBatch {
                            batch.views = tables!.prepare(checked)
                            checked.removeAll(keepingCapacity: true)
                            queue.put(batch)
                            batch = ReadAhead()
                        }
                        return true
                    }
                } catch {
                    batch.failure = Self.storeError(error, "scan", path: directory)
                }
                batch.views = tables!.prepare(checked)
                batch.isLast = true
                batch.preparation = tables.take()
                handedLast = true
                queue.put(batch)
            }
        } catch {
            // The snapshot could not be opened (nothing was handed over) or closed.
            if !handedLast {
                var last = ReadAhead()
                last.failure = Self.storeError(error, "scan", path: directory)
                last.isLast = true
                last.preparation = tables.take()
                queue.put(last)
                released.wait()
            }
        }
    }
}
