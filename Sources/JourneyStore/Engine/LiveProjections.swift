import JourneyCore
import Synchronization

/// Progress of a projection rebuild.
public struct RebuildProgress: Sendable, Hashable {
    /// Log positions folded so far.
    public var done: UInt64
    /// The log's last position when the rebuild started (or the furthest folded, if more).
    public var total: UInt64
    /// The rebuild's rate so far.
    public var eventsPerSecond: Double
    /// When it started, in epoch milliseconds.
    public var startedAt: Int64
}

/// What marks an answer given while projections rebuild: the answer came from the projections
/// that were live before the rebuild, which reflect the log up to `position`.
public struct Staleness: Sendable, Hashable {
    /// The last log position the answering projections reflect.
    public var position: Position
    /// How far the rebuild has come.
    public var progress: RebuildProgress
}

/// The error a query answers while projections are rebuilt and there are no earlier ones to
/// answer from (the first start of a new projection version).
public struct Rebuilding: Error, Sendable {
    /// How far the rebuild has come.
    public var progress: RebuildProgress
}

/// The projections kept live over the log: one projector, the log position it reflects, and
/// during a rebuild the previous projector that keeps answering (blue/green).
///
/// The write pipeline folds each commit here in commit order; a rebuild folds the log into a
/// new projector on its own thread, catches up with what was appended meanwhile and swaps it in
/// at once, under the lock, so no query sees a half-rebuilt state.
final class LiveProjections: Sendable {
    private struct Live: ~Copyable {
        var projector = Projector()
        /// The last log position folded into `projector`.
        var position: UInt64 = 0
        /// Set while a rebuild runs.
        var rebuild: RebuildProgress?
        /// During a rebuild: `projector` holds the projections that were live before it, kept
        /// current by the pipeline, and queries answer from them marked stale. False when there
        /// were none (a first start that found no usable checkpoint): queries then answer
        /// `Rebuilding`.
        var answersDuringRebuild = false
        /// Why the latest rebuild failed, if it did (the previous projections kept answering).
        var lastRebuildFailure: String?
        /// Whether folding commits records the ids they touch (for signals).
        var tracksTouched = false
    }

    private let live: Mutex<Live>
    /// The log the projections reflect: clusters an unlink splits are rebuilt from it.
    private let log: EventLog
    /// Test hook: runs in a rebuild after its projector has caught up once, before the final
    /// catch-up and swap (tests hold a rebuild there to query stale projections).
    private let beforeSwap = Mutex<(@Sendable () -> Void)?>(nil)

    /// Sets the test hook that runs in every rebuild before its swap.
    func setBeforeSwap(_ hook: (@Sendable () -> Void)?) { beforeSwap.withLock { $0 = hook } }

    /// Events folded per hold of the lock: a large group commit never makes a `handoff` wait for
    /// more than one chunk (a query may see part of a committed, not yet acknowledged batch;
    /// everything acknowledged is always visible).
    static let foldChunk = 256

    /// Tail length below which a rebuild's final catch-up runs under the lock.
    static let catchUpUnderLock: UInt64 = 4096

    init(log: EventLog, projector: Projector, position: UInt64, deferredRebuild: RebuildProgress?) {
        self.log = log
        var l = Live()
        l.projector = projector
        l.position = position
        l.rebuild = deferredRebuild
        live = Mutex(l)
    }

    /// Restores the projections from the checkpoint `name` and the log's tail; with
    /// `deferRebuild`, a missing or unusable checkpoint over a non-empty log leaves them marked
    /// as rebuilding (nothing to answer from) for a caller that rebuilds in the background.
    static func restore(_ log: EventLog, checkpoint name: String, deferRebuild: Bool) throws -> LiveProjections {
        let (projector, position, deferred) = try restoredState(log, checkpoint: name, deferRebuild: deferRebuild)
        return LiveProjections(log: log, projector: projector, position: position, deferredRebuild: deferred)
    }

    /// Projections that restore nothing: over a non-empty log they are marked as rebuilding
    /// (queries answer `Rebuilding`) until `rebuild` folds the log, for a caller about to rebuild
    /// them anyway. The checkpoint stays as it is until the rebuild's own is saved.
    static func awaitingRebuild(_ log: EventLog) -> LiveProjections {
        let last = log.lastPosition
        let pending = last > 0 ? RebuildProgress(done: 0, total: last, eventsPerSecond: 0, startedAt: Clock.nowMs()) : nil
        return LiveProjections(log: log, projector: Projector(), position: 0, deferredRebuild: pending)
    }

    private static func restoredState(_ log: EventLog, checkpoint name: String, deferRebuild: Bool) throws
        -> (Projector, UInt64, RebuildProgress?)
    {
        var last = log.lastPosition
        var start: UInt64 = 0
        var projector = Projector()
        if let cp = try log.loadCheckpoint(name: name) {
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
            return (Projector(), 0, RebuildProgress(done: 0, total: last, eventsPerSecond: 0, startedAt: Clock.nowMs()))
        }
        let folded = try log.fold(after: start, into: &projector)
        return (projector, folded, nil)
    }

    // MARK: folding commits

    /// From now on `foldCommitted` answers the ids each fold touched (see
    /// `Projector.tracksTouched`), also after a rebuild swaps new projections in.
    func trackTouched() {
        live.withLock { l in
            l.tracksTouched = true
            l.projector.tracksTouched = true
        }
    }

    /// Folds the events of one committed batch: `fold(projector, i)` folds record `i`, which the
    /// commit appended at `results[i]`'s position. Positions at or below the projector's were
    /// folded already (by a rebuild that read them from the log before it swapped in). Clusters
    /// an unlink splits are rebuilt from the log before the lock is let go, so no query sees
    /// them half done.
    /// Answers the ids the folded events named, when `trackTouched` was called.
    @discardableResult
    func foldCommitted(_ results: EventLog.EventResults, _ fold: (inout Projector, Int) -> Void) -> [TouchedId] {
        var start = 0
        var touched: [TouchedId] = []
        while start < results.count {
            let end = Swift.min(results.count, start + Self.foldChunk)
            let stop = live.withLock { l -> Bool in
                guard l.rebuild == nil || l.answersDuringRebuild else { return true }
                for i in start..<end {
                    guard let p = results.appended(i), p.rawValue > l.position else { continue }
                    fold(&l.projector, i)
                    l.position = p.rawValue
                }
                // Should the log not be readable now, the next fold or query tries again.
                try? settle(&l)
                if l.tracksTouched { touched.append(contentsOf: l.projector.takeTouched()) }
                return false
            }
            if stop { return touched }
            start = end
        }
        return touched
    }

    /// Rebuilds from the log the clusters an unlink split (see `EventLog.resolveSplits`), if any.
    ///
    /// - Throws: `StoreError` when the log cannot be read (the split is then still pending).
    private func settle(_ l: inout Live) throws(StoreError) {
        guard l.projector.hasPendingSplits else { return }
        do {
            try log.resolveSplits(in: &l.projector, upTo: l.position)
        } catch {
            if !l.projector.hasPendingSplits { l.lastRebuildFailure = "rebuilding a split cluster: \(error)" }
            throw error
        }
    }

    // MARK: reading

    /// Runs `body` on the live projector under its lock, for short lookups (one cluster);
    /// answers with the staleness of a rebuild in progress.
    func read<T>(_ body: (borrowing Projector) throws -> T) throws -> (T, Staleness?) {
        try live.withLock { l in
            try settle(&l)
            let stale = try Self.staleness(l)
            return (try body(l.projector), stale)
        }
    }

    /// Runs `body` on a copy of the projector taken under the lock, for queries that read every
    /// cluster: folding goes on while they run (the copy shares storage until the next fold
    /// writes to it).
    func readCopy<T>(_ body: (borrowing Projector) throws -> T) throws -> (T, Staleness?) {
        let (copy, stale) = try live.withLock { l -> (Projector, Staleness?) in
            try settle(&l)
            return (l.projector, try Self.staleness(l))
        }
        return (try body(copy), stale)
    }

    private static func staleness(_ l: borrowing Live) throws -> Staleness? {
        guard let p = l.rebuild else { return nil }
        guard l.answersDuringRebuild else { throw Rebuilding(progress: p) }
        return Staleness(position: Position(l.position), progress: p)
    }

    /// A copy of the projector with the position it reflects (for a checkpoint).
    ///
    /// - Throws: `StoreError` when a split cluster cannot be rebuilt from the log first.
    func snapshot() throws(StoreError) -> (projector: Projector, position: UInt64) {
        try live.withLock { l throws(StoreError) in
            try settle(&l)
            return (l.projector, l.position)
        }
    }

    /// Figures for `stats`.
    var stats: (position: UInt64, events: Int, clusters: Int, rebuild: RebuildProgress?, lastRebuildFailure: String?) {
        live.withLock { l in (l.position, l.projector.eventCount, l.projector.clusterCount, l.rebuild, l.lastRebuildFailure) }
    }

    // MARK: rebuilding

    /// Stops answering from the live projections: until `rebuild` swaps refolded ones in (or
    /// `resumeAnswering`), queries throw `Rebuilding` and commits are left for the rebuild to
    /// fold. An erasure calls it before it rewrites the log, so no answer names an erased id.
    ///
    /// - Returns: false, changing nothing, when a rebuild runs already.
    func withdraw() -> Bool {
        live.withLock { l in
            guard l.rebuild == nil else { return false }
            l.rebuild = RebuildProgress(done: 0, total: l.position, eventsPerSecond: 0, startedAt: Clock.nowMs())
            l.answersDuringRebuild = false
            return true
        }
    }

    /// Answers from the live projections again after `withdraw`, once they have folded what was
    /// committed meanwhile (for an erasure that changed nothing).
    func resumeAnswering(_ log: EventLog) throws {
        try live.withLock { l throws in
            l.position = try log.fold(after: l.position, into: &l.projector)
            l.rebuild = nil
        }
    }

    /// Rebuilds every projection from position 1 while appends and queries go on: folds a read
    /// snapshot into a new projector, catches up with what was appended meanwhile, and swaps it
    /// in at once. Meanwhile queries answer from the previous projections, marked stale (or
    /// `Rebuilding` when there are none). On failure the previous projections stay live (after
    /// a first start without them, they are restored from the checkpoint and the log).
    func rebuild(_ log: EventLog, checkpoint name: String, progress: (@Sendable (RebuildProgress) -> Void)?) throws {
        let started = Clock.nowMs()
        let total = log.lastPosition
        live.withLock { l in
            // A deferred first rebuild has nothing to answer from; a replay of live projections does.
            if l.rebuild == nil { l.answersDuringRebuild = true }
            l.rebuild = RebuildProgress(done: 0, total: total, eventsPerSecond: 0, startedAt: started)
        }
        func report(_ pos: UInt64) -> RebuildProgress {
            let elapsed = Swift.max(1, Clock.nowMs() - started)
            return RebuildProgress(done: pos, total: Swift.max(total, pos),
                                   eventsPerSecond: Double(pos) * 1000 / Double(elapsed), startedAt: started)
        }
        var projector = Projector()
        var last: UInt64 = 0
        do {
            last = try log.fold(after: 0, into: &projector) { pos in
                let p = report(pos)
                self.live.withLock { l in l.rebuild = p }
                progress?(p)
            }
            let folded = report(last)
            live.withLock { l in l.rebuild = folded }
            beforeSwap.withLock { $0 }?()
            // Catch up with the appends made meanwhile outside the lock while the tail is long…
            while log.lastPosition > last + Self.catchUpUnderLock {
                last = try log.fold(after: last, into: &projector)
            }
            // …then the rest under it: a commit folded before this sees its positions here (its
            // commit came first), one folded after skips them (`foldCommitted` compares positions).
            try live.withLock { l throws in
                last = try log.fold(after: last, into: &projector)
                projector.tracksTouched = l.tracksTouched
                l.projector = projector
                l.position = last
                l.rebuild = nil
                l.answersDuringRebuild = false
                l.lastRebuildFailure = nil
            }
        } catch {
            let answered = live.withLock { l in l.answersDuringRebuild }
            if answered {
                live.withLock { l in
                    l.rebuild = nil
                    l.answersDuringRebuild = false
                    l.lastRebuildFailure = "\(error)"
                }
            } else {
                // Nothing was live: restore what the checkpoint and the log give, under the lock
                // so the pipeline folds nothing between the read and the swap.
                live.withLock { l in
                    l.lastRebuildFailure = "\(error)"
                    // When this fails too, queries go on answering `Rebuilding` and stats shows why.
                    guard case (var p, let position, _)? = try? Self.restoredState(log, checkpoint: name, deferRebuild: false) else { return }
                    p.tracksTouched = l.tracksTouched
                    l.projector = p
                    l.position = position
                    l.rebuild = nil
                }
            }
            throw error
        }
        progress?(report(last))
    }
}
