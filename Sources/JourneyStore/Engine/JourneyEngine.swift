import Glibc
import JourneyCore
import Synchronization

/// The engine: the event log plus the projections kept live over it.
///
/// Appends go to the log first (durable, atomic) and are folded into the projector in commit
/// order (each commit queues its batches to fold before the next commit starts), so a query
/// right after an append returns sees it. On open the projector
/// resumes from its checkpoint (saved with the log position it reflects, in one transaction) and
/// folds only what came after; a checkpoint written by another projector version is ignored and
/// the projections are rebuilt from position 1.
public final class JourneyEngine: Sendable {
    /// Checkpoint name of the projector state in the store.
    public static let checkpointName = "projector"

    public let log: EventLog

    struct Live: ~Copyable {
        var projector = Projector()
        /// The last log position folded into `projector`.
        var position: UInt64 = 0
        /// Set while a rebuild is running: queries answer `rebuilding`.
        var rebuild: RebuildProgress?
    }

    /// Progress of a projection rebuild.
    public struct RebuildProgress: Sendable, Hashable {
        public var done: UInt64
        public var total: UInt64
        public var eventsPerSecond: Double
        public var startedAt: Int64
    }

    private let live: Mutex<Live>
    /// Serializes appends; a commit queues its events to fold (`unfolded`) before it lets go.
    private let writer = Mutex<Void>(())

    /// Appended events waiting to be folded, in commit order.
    enum Unfolded: Sendable {
        case events([Event], [EventLog.AppendOutcome])
        case encoded(EventLog.EncodedBatch, [EventLog.AppendOutcome])
    }

    /// Committed batches not yet folded, queued under `writer` in commit order.
    private let unfolded = Mutex<[Unfolded]>([])
    /// Held while folding what `unfolded` held: whoever takes it folds everything queued, so
    /// once a caller has taken and released it, everything it had queued before is folded.
    private let folding = Mutex<Void>(())

    /// Opens (or creates) the store at `directory` and brings the projections up to date.
    ///
    /// - Parameters:
    ///   - durability: `.full` (fsync before every append returns) unless relaxed is asked for by name.
    ///   - deferRebuild: when true, a missing or stale checkpoint over a non-empty log leaves the
    ///     projections marked as rebuilding (queries answer `rebuilding`) and sets `needsRebuild`,
    ///     for a caller (the daemon) that rebuilds in the background while it serves appends.
    ///   - access: `.readWrite` makes this process the store's one writer (or throws `.storeBusy`
    ///     naming the writer); `.readOnly` answers queries from the checkpoint and the log as of
    ///     the open, beside any writer, and every append or checkpoint throws `.readOnly`.
    public init(directory: String, durability: EventLog.Durability = .full, deferRebuild: Bool = false,
                access: EventLog.Access = .readWrite) throws {
        log = try EventLog(directory: directory, durability: durability, access: access)
        var l = Live()
        needsRebuild = try Self.restore(log, into: &l, deferRebuild: deferRebuild && access == .readWrite)
        live = Mutex(l)
    }

    /// True when the engine opened without usable projections and `rebuild()` must run.
    public let needsRebuild: Bool

    /// Loads the checkpoint, refusing one ahead of the log, and folds the log's tail. Returns
    /// true when it deferred a full rebuild instead.
    private static func restore(_ log: EventLog, into l: inout Live, deferRebuild: Bool) throws -> Bool {
        var last = log.lastPosition
        var start: UInt64 = 0
        var projector = Projector()
        if let cp = try log.loadCheckpoint(name: checkpointName) {
            // Read-only beside a writer, the log may have grown and been checkpointed since.
            if cp.position > last { last = log.lastPosition }
            guard cp.position <= last else {
                throw StoreError(.corrupt, "projection checkpoint is at position \(cp.position) but the log ends at \(last): the log lost events it had acknowledged, or the checkpoint is from another store; run 'journeyd verify'")
            }
            // A snapshot of another projector version does not restore: rebuild from the log.
            if let restored = try? Projector(deserializing: cp.data) {
                projector = restored
                start = cp.position
            }
        }
        if deferRebuild && start == 0 && last > 0 {
            l.rebuild = RebuildProgress(done: 0, total: last, eventsPerSecond: 0, startedAt: Clock.nowMs())
            return true
        }
        let folded = try log.fold(after: start, into: &projector)
        l.projector = projector
        l.position = folded
        l.rebuild = nil
        return false
    }

    // MARK: writing

    /// Appends a batch atomically; folds the new events into the projections before returning.
    ///
    /// Returns one outcome per event: `.appended(position)` or `.duplicate(existing position)`.
    /// A conflicting id fails the whole batch and appends nothing.
    public func append(_ events: [Event]) throws(StoreError) -> [EventLog.AppendOutcome] {
        let outcomes = try writer.withLock { _ throws(StoreError) in
            let outcomes = try log.append(events)
            queue([.events(events, outcomes)])
            return outcomes
        }
        foldCommitted()
        return outcomes
    }

    /// Appends events already encoded (see `append`), e.g. by an import's parser thread; folds
    /// them into the projections from their records before returning.
    public func appendEncoded(_ batch: EventLog.EncodedBatch) throws(StoreError) -> [EventLog.AppendOutcome] {
        let outcomes = try writer.withLock { _ throws(StoreError) in
            let outcomes = try log.appendEncoded(batch)
            queue([.encoded(batch, outcomes)])
            return outcomes
        }
        foldCommitted()
        return outcomes
    }

    /// Appends batches already encoded in one transaction, up to the first that fails on its
    /// own (see `EventLog.appendEncoded(_:)` for batches); folds the appended ones.
    ///
    /// With `fold: false` the batches are appended but not folded: the caller must then pass
    /// them with their outcomes to `foldAppended`, in commit order, before anything else is
    /// appended and before a checkpoint (a bulk import folds on another thread meanwhile).
    public func appendEncoded(_ batches: [EventLog.EncodedBatch], fold: Bool = true) throws(StoreError) -> (outcomes: [[EventLog.AppendOutcome]], failure: StoreError?) {
        let r = try writer.withLock { _ throws(StoreError) in
            let r = try log.appendEncoded(batches)
            if fold { queue(zip(batches, r.outcomes).map { .encoded($0, $1) }) }
            return r
        }
        if fold { foldCommitted() }
        return r
    }

    /// Folds batches appended by `appendEncoded(_:fold: false)`, with their outcomes.
    public func foldAppended(_ batches: [EventLog.EncodedBatch], _ outcomes: [[EventLog.AppendOutcome]]) {
        for (batch, outcomes) in zip(batches, outcomes) { applyAppended(batch, outcomes) }
    }

    /// Appends several independent batches (group commit): each batch is atomic on its own
    /// (a conflict fails only its batch) and all that succeed share one durable commit.
    /// `audit` records are written in the same transaction. Folds the appended batches before
    /// returning.
    public func appendGroup(_ batches: [[Event]], audit: [AuditRecord] = []) -> [Result<[EventLog.AppendOutcome], StoreError>] {
        let results = commitGroup(batches, audit: audit)
        foldCommitted()
        return results
    }

    /// Commits a group as `appendGroup` does, but leaves the appended batches queued to fold:
    /// the caller answers them only after a later `foldCommitted()` returns (a writer commits
    /// the next group while another thread folds this one). Queries do not see the batches
    /// until then; a checkpoint saves only what is folded, with its position.
    public func commitGroup(_ batches: [[Event]], audit: [AuditRecord] = []) -> [Result<[EventLog.AppendOutcome], StoreError>] {
        commitGroup(encoded: batches.map(EventLog.encode), audit: audit)
    }

    /// `commitGroup` of batches given only encoded (a batch given as a failure fails with that
    /// error): the appended ones are folded from their records.
    public func commitGroup(encoded: [Result<EventLog.EncodedBatch, StoreError>],
                            audit: [AuditRecord] = []) -> [Result<[EventLog.AppendOutcome], StoreError>] {
        writer.withLock { _ in
            let results = log.appendGroup(encoded: encoded, audit: audit.map(\.encoded))
            var appended: [Unfolded] = []
            for (batch, r) in zip(encoded, results) {
                if case .success(let b) = batch, case .success(let outcomes) = r, !outcomes.isEmpty {
                    appended.append(.encoded(b, outcomes))
                }
            }
            queue(appended)
            return results
        }
    }

    /// Folds every committed batch not yet folded, in commit order. When it returns, every
    /// batch whose commit returned before this call began is folded.
    public func foldCommitted() {
        folding.withLock { _ in
            while true {
                let next = unfolded.withLock { q -> [Unfolded] in
                    defer { q.removeAll(keepingCapacity: true) }
                    return q
                }
                if next.isEmpty { return }
                for item in next {
                    switch item {
                    case .events(let events, let outcomes): applyAppended(events, outcomes)
                    case .encoded(let batch, let outcomes): applyAppended(batch, outcomes)
                    }
                }
            }
        }
    }

    /// Queues appended batches to fold; called under `writer`, so the queue is in commit order.
    private func queue(_ items: [Unfolded]) {
        guard !items.isEmpty else { return }
        unfolded.withLock { $0.append(contentsOf: items) }
    }

    /// Events folded per hold of the projection lock: a large group commit never makes a
    /// `handoff` wait for more than one chunk (a query may see part of a committed, not yet
    /// acknowledged batch; everything acknowledged is always visible).
    static let foldChunk = 256

    private func applyAppended(_ events: [Event], _ outcomes: [EventLog.AppendOutcome]) {
        applyAppended(outcomes) { projector, i, _ in projector.apply(events[i]) }
    }

    private func applyAppended(_ batch: EventLog.EncodedBatch, _ outcomes: [EventLog.AppendOutcome]) {
        batch.bytes.withUnsafeBytes { all in
            applyAppended(outcomes) { projector, i, position in
                // An EncodedBatch holds only records encoded from validated Events, so each
                // reads back; one that does not is a codec bug, and folding on without it
                // would leave the projections silently short of the log.
                do {
                    try projector.apply(EventView(validating: UnsafeRawBufferPointer(rebasing: all[batch.range(i)])))
                } catch {
                    preconditionFailure("the record appended at position \(position) does not read back: \(error)")
                }
            }
        }
    }

    /// Folds the appended events of a batch (`fold(projector, i, position)` folds event `i`,
    /// appended at `position`), `foldChunk` of them per hold of the projection lock; stops when a
    /// rebuild is running (it folds them when it catches up).
    private func applyAppended(_ outcomes: [EventLog.AppendOutcome], _ fold: (inout Projector, Int, UInt64) -> Void) {
        var start = 0
        while start < outcomes.count {
            let end = Swift.min(outcomes.count, start + Self.foldChunk)
            let stop = live.withLock { l -> Bool in
                guard l.rebuild == nil else { return true }
                for i in start..<end {
                    // At or below `position`: a rebuild folded it from the log before switching over.
                    guard case .appended(let p) = outcomes[i], p > l.position else { continue }
                    fold(&l.projector, i, p)
                    l.position = p
                }
                return false
            }
            if stop { return }
            start = end
        }
    }

    // MARK: checkpoints and rebuilds

    /// Saves the projector state with the log position it reflects, in one transaction.
    ///
    /// The projector is copied under the lock (its storage is shared until the next fold
    /// writes to it) and serialized outside it, so appends and queries go on meanwhile.
    public func checkpoint() throws(StoreError) {
        let (copy, position): (Projector, UInt64) = live.withLock { l in (l.projector, l.position) }
        try log.saveCheckpoint(name: Self.checkpointName, position: position, data: copy.serialize())
    }

    /// Rebuilds every projection from position 1 while appends continue: folds a read snapshot,
    /// then catches up with what arrived meanwhile and switches over. Queries answer
    /// `rebuilding` until then.
    public func rebuild(progress: (@Sendable (RebuildProgress) -> Void)? = nil) throws {
        let started = Clock.nowMs()
        let total = log.lastPosition
        live.withLock { l in l.rebuild = RebuildProgress(done: 0, total: total, eventsPerSecond: 0, startedAt: started) }
        var projector = Projector()
        var last: UInt64 = 0
        do {
            last = try log.fold(after: 0, into: &projector) { pos in
                let elapsed = Swift.max(1, Clock.nowMs() - started)
                let p = RebuildProgress(done: pos, total: Swift.max(total, pos),
                                        eventsPerSecond: Double(pos) * 1000 / Double(elapsed), startedAt: started)
                self.live.withLock { l in l.rebuild = p }
                progress?(p)
            }
            // Catch up under the writer lock so nothing is appended between the last fold and the switch.
            try writer.withLock { _ in
                last = try log.fold(after: last, into: &projector)
                let final = projector
                let position = last
                live.withLock { l in
                    l.projector = final
                    l.position = position
                    l.rebuild = nil
                }
            }
        } catch {
            // The previous state may be stale: restore synchronously from the checkpoint and log.
            // Under the writer lock, so nothing is appended between the fold and the switch.
            writer.withLock { _ in
                var l = Live()
                _ = try? Self.restore(log, into: &l, deferRebuild: false)
                let restored = l.projector, position = l.position
                live.withLock { x in
                    x.projector = restored
                    x.position = position
                    x.rebuild = nil
                }
            }
            throw error
        }
        let elapsed = Swift.max(1, Clock.nowMs() - started)
        progress?(RebuildProgress(done: last, total: last, eventsPerSecond: Double(last) * 1000 / Double(elapsed),
                                  startedAt: started))
    }

    // MARK: queries

    /// The error a query answers while projections are being rebuilt.
    public struct Rebuilding: Error, Sendable {
        public var progress: RebuildProgress
    }

    /// Runs `body` on the live projector, under its lock; throws `Rebuilding` during a rebuild.
    /// For short lookups (one cluster).
    public func read<T>(_ body: (borrowing Projector) throws -> T) throws -> T {
        try live.withLock { l in
            if let p = l.rebuild { throw Rebuilding(progress: p) }
            return try body(l.projector)
        }
    }

    /// Runs `body` on a copy of the projector taken under the lock, for queries that read every
    /// cluster (funnels, contacts, at-risk): folding goes on while they run. The copy shares
    /// storage until the next fold writes to it.
    public func readCopy<T>(_ body: (borrowing Projector) throws -> T) throws -> T {
        let copy = try live.withLock { l -> Projector in
            if let p = l.rebuild { throw Rebuilding(progress: p) }
            return l.projector
        }
        return try body(copy)
    }

    public func patient(id: String, asOf: Int64? = nil) throws -> JourneyState? {
        try read { $0.patient(id: id, asOf: asOf ?? Clock.nowMs()) }
    }

    public func handoff(id: String, asOf: Int64? = nil) throws -> HandoffContext? {
        try read { $0.handoff(id: id, asOf: asOf ?? Clock.nowMs()) }
    }

    public func funnel(_ query: FunnelQuery) throws -> FunnelReport {
        try readCopy { $0.funnel(query) }
    }

    public func contacts() throws -> ContactsReport {
        try readCopy { $0.contacts() }
    }

    public func atRisk(asOf: Int64? = nil, limit: Int = 100, after: String? = nil) throws -> AtRiskPage {
        try readCopy { $0.atRisk(asOf: asOf ?? Clock.nowMs(), limit: limit, after: after) }
    }

    /// Projection figures for `stats`.
    public var projectionStats: (position: UInt64, events: Int, clusters: Int, rebuild: RebuildProgress?) {
        live.withLock { l in (l.position, l.projector.eventCount, l.projector.clusterCount, l.rebuild) }
    }
}

/// Wall-clock milliseconds since the Unix epoch.
public enum Clock {
    public static func nowMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
