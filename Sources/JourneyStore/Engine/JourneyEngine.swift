import Glibc
import JourneyCore
import JourneyProtocol
import Synchronization

/// The engine: the event log plus the projections kept live over it.
///
/// Every append goes through `writes`, the store's one write pipeline: durable (fsync) first,
/// then folded into the projections, then answered, so a query right after an append returns
/// sees it. On open the projections resume from their checkpoint (saved with the log position
/// it reflects, in one transaction) and fold only what came after; a checkpoint written by
/// another projector version is ignored and the projections are rebuilt from position 1.
///
/// ```swift
/// let engine = try JourneyEngine(directory: "/var/lib/journey")
/// _ = try engine.append([event])                  // durable and folded when it returns
/// let state = try engine.patient(id: "p-1", as: "front-desk")   // nil for an id never seen
/// ```
///
/// Every read that names or lists patients is recorded in the read audit (`audit`) before it
/// returns, with the `AuditContext` it is given; when the record cannot be made durable the read
/// throws `AuditUnavailable` and returns nothing.
public final class JourneyEngine: Sendable {
    /// Checkpoint name of the projector state in the store.
    package static let checkpointName = "projector"

    /// The event log (reads, stats, checkpoints; appends go through `writes`).
    public let log: EventLog
    /// The one write pipeline of the store.
    public let writes: WritePipeline
    let projections: LiveProjections
    /// The store's read audit.
    public let audit: AuditLog
    /// Raises the signals (SPEC §3.7); nil when the engine is read-only.
    let signalEvaluator: SignalEvaluator?
    /// Wakes the signal streams after each commit.
    let signalWakes = SignalWakes()
    /// Held by an erasure from start to end (one at a time).
    let erasing = Mutex(())

    /// Opens (or creates) the store at `directory` and brings the projections up to date.
    ///
    /// - Parameters:
    ///   - durability: `.full` (fsync before every append returns) unless relaxed is asked for by name.
    ///   - deferRebuild: when true, a missing or stale checkpoint over a non-empty log leaves the
    ///     projections marked as rebuilding (queries throw `Rebuilding`) and sets `needsRebuild`,
    ///     for a caller (the daemon) that rebuilds in the background while it serves appends.
    ///   - access: `.readWrite` makes this process the store's one writer (or throws `.storeBusy`
    ///     naming the writer); `.readOnly` answers queries from the checkpoint and the log as of
    ///     the open, beside any writer, and every append or checkpoint throws `.readOnly`.
    ///   - clock: the clock signals are evaluated at (the wall clock unless a test moves one by
    ///     hand). A writing engine evaluates every cluster against the stored signals once open (in the
    ///     background).
    ///   - rebuildOnOpen: when true (read-write only), the projections are not restored from
    ///     the checkpoint: over a non-empty log they are marked as rebuilding and `needsRebuild`
    ///     is set, for a caller about to call `rebuild()` anyway (`journeyd replay`), which is
    ///     spared reading the checkpoint and folding the log's tail into it.
    public init(directory: String, durability: EventLog.Durability = .full, deferRebuild: Bool = false,
                access: EventLog.Access = .readWrite, clock: any SignalClock = WallClock(),
                rebuildOnOpen: Bool = false) throws {
        log = try EventLog(directory: directory, durability: durability, access: access)
        if rebuildOnOpen && access == .readWrite {
            projections = LiveProjections.awaitingRebuild(log)
        } else {
            projections = try LiveProjections.restore(log, checkpoint: Self.checkpointName,
                                                      deferRebuild: deferRebuild && access == .readWrite)
        }
        needsRebuild = projections.stats.rebuild != nil
        let writes = WritePipeline(log: log, projections: projections)
        self.writes = writes
        audit = AuditLog(directory: directory)
        let wakes = signalWakes
        writes.onCommit { _ in wakes.wakeAll() }
        guard access == .readWrite else {
            signalEvaluator = nil
            return
        }
        // Weak both ways: the pipeline and the evaluator must not keep each other (and the
        // store) alive once the engine is released.
        let evaluator = try SignalEvaluator(log: log, projections: projections, clock: clock) { [weak writes] signals in
            writes?.storeSignals(signals)
        }
        signalEvaluator = evaluator
        projections.trackTouched()
        writes.onFold { [weak evaluator] touched in evaluator?.evaluate(touched: touched) }
        writes.onSignalsLost { [weak evaluator] in evaluator?.signalsLost() }
        // In the background: the engine answers and appends meanwhile (a large store's full
        // evaluation takes a while); evaluations of folds meanwhile diff against the same
        // signalled state, under the evaluator's lock, so nothing is raised twice.
        evaluator.evaluateAllSoon()
    }

    deinit {
        // The signals of what was folded are stored before the writer ends (unless this runs
        // on the pipeline's own queues, where waiting for them would wait for itself).
        if !writes.isPipelineQueue { settleSignals() }
        signalEvaluator?.stop()
        writes.stop()
        signalWakes.finishAll()
    }

    /// True when the engine opened without usable projections and `rebuild()` must run.
    public let needsRebuild: Bool

    // MARK: writing

    /// Appends a batch atomically through the write pipeline; returns once it is durable and
    /// folded into the projections.
    ///
    /// Returns one outcome per event: `.appended(position)` or `.duplicate(existing position)`.
    /// A conflicting id fails the whole batch and appends nothing.
    public func append(_ events: [Event]) throws(StoreError) -> [EventLog.AppendOutcome] {
        try writes.append(events)
    }

    /// `append` for `async` callers.
    public func append(_ events: [Event]) async throws(StoreError) -> [EventLog.AppendOutcome] {
        try await writes.append(events)
    }

    // MARK: checkpoints and rebuilds

    /// Saves the projector state with the log position it reflects, in one transaction.
    ///
    /// The projector is copied under the lock (its storage is shared until the next fold
    /// writes to it) and serialized outside it, so appends and queries go on meanwhile.
    /// Waits for an erasure in progress (a checkpoint of the projections it replaces would
    /// store the erased ids again).
    public func checkpoint() throws(StoreError) {
        try erasing.withLock { _ throws(StoreError) in try saveCheckpoint() }
    }

    /// `checkpoint` without waiting for an erasure (the erasure's own).
    func saveCheckpoint() throws(StoreError) {
        let (copy, position) = try projections.snapshot()
        try log.saveCheckpoint(name: Self.checkpointName, position: position, data: copy.serialize())
    }

    /// Rebuilds every projection from position 1 while appends continue: folds a read snapshot
    /// into new projections, catches up with what arrived meanwhile and swaps them in at once.
    /// Until then queries answer from the previous projections, marked stale (see `Staleness`),
    /// or throw `Rebuilding` when the engine opened without any. Starts after an erasure in
    /// progress, if any.
    public func rebuild(progress: (@Sendable (RebuildProgress) -> Void)? = nil) throws {
        defer {
            // Against the signals already raised: a rebuild raises none of them again.
            signalEvaluator?.evaluateAll()
        }
        // Not while an erasure runs: a fold of the log as it was before would bring the erased
        // ids back into the projections.
        try erasing.withLock { _ in try projections.rebuild(log, checkpoint: Self.checkpointName, progress: progress) }
    }

    /// `rebuild()` then `checkpoint()`, with the checkpoint serialized and saved on a thread of
    /// its own while the signals of the rebuilt projections are evaluated on the caller's (both
    /// read the new projections; neither waits for the other). Returns once both are done: the
    /// checkpoint saved and the signals queued for storing.
    ///
    /// - Throws: the rebuild's error (nothing saved; the signals are evaluated all the same), or
    ///   the checkpoint's.
    public func rebuildAndCheckpoint(progress: (@Sendable (RebuildProgress) -> Void)? = nil) throws {
        do {
            try projections.rebuild(log, checkpoint: Self.checkpointName, progress: progress)
        } catch {
            signalEvaluator?.evaluateAll()
            throw error
        }
        let saved = Mutex<StoreError?>(nil)
        let saver = startJoinableThread { [self] in
            do throws(StoreError) { try checkpoint() } catch { saved.withLock { $0 = error } }
        }
        // Against the signals already raised: a rebuild raises none of them again.
        signalEvaluator?.evaluateAll()
        saver.join()
        if let error = saved.withLock({ $0 }) { throw error }
    }

    /// Test hook: `hook` runs in every rebuild once its new projections have folded the log, just
    /// before they catch up and are swapped in (a test holds a rebuild there).
    package func setBeforeRebuildSwap(_ hook: (@Sendable () -> Void)?) {
        projections.setBeforeSwap(hook)
    }

    // MARK: queries

    /// Runs `body` on the live projector, under its lock, for short lookups (one cluster);
    /// also answers whether the projections are stale (a rebuild runs). Throws `Rebuilding`
    /// when there are no projections to answer from.
    package func read<T>(_ body: (borrowing Projector) throws -> T) throws -> (T, Staleness?) {
        try projections.read(body)
    }

    /// Runs `body` on a copy of the projector taken under the lock, for queries that read every
    /// cluster (funnels, contacts, at-risk): folding goes on while they run.
    package func readCopy<T>(_ body: (borrowing Projector) throws -> T) throws -> (T, Staleness?) {
        try projections.readCopy(body)
    }

    /// Records that `context` is shown the patients `ids` by `op` (with its `parameters`, a JSON
    /// object), durably, before the answer is given: the one step every answer that names or
    /// lists patients passes through, whatever the path (socket, command line, embedded).
    ///
    /// - Throws: `AuditUnavailable` when the record cannot be written; the answer must then not
    ///   be given.
    public func disclose(_ op: String, parameters: String, ids: [String], to context: AuditContext) throws(AuditUnavailable) {
        try audit.record(AuditEntry(at: Clock.nowMs(), uid: context.uid, pid: context.pid, actor: context.actor, op: op,
                                    parameters: parameters, ids: ids, reason: context.reason))
    }

    /// The journey state of the cluster holding `id` at `asOf` (default: now), or nil for an id
    /// never seen; recorded in the read audit as read by `context` (a lookup that finds nothing too).
    ///
    /// - Throws: `AuditUnavailable` when the audit record cannot be written, or `Rebuilding`.
    public func patient(id: String, asOf: Int64? = nil, as context: AuditContext) throws -> JourneyState? {
        let s = try read { $0.patient(id: id, asOf: asOf ?? Clock.nowMs()) }.0
        try disclose("patient", parameters: Self.lookupParameters(id, asOf), ids: s.map { [$0.patient] } ?? [], to: context)
        return s
    }

    /// The warm-handoff context of the cluster holding `id`, or nil for an id never seen;
    /// recorded in the read audit as read by `context`.
    ///
    /// - Throws: `AuditUnavailable` when the audit record cannot be written, or `Rebuilding`.
    public func handoff(id: String, asOf: Int64? = nil, as context: AuditContext) throws -> HandoffContext? {
        let h = try read { $0.handoff(id: id, asOf: asOf ?? Clock.nowMs()) }.0
        try disclose("handoff", parameters: Self.lookupParameters(id, asOf), ids: h.map { [$0.patient] } ?? [], to: context)
        return h
    }

    /// `{"id":…,"as_of":…}`, the parameters of a lookup as the audit records them.
    private static func lookupParameters(_ id: String, _ asOf: Int64?) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("id"); w.string(id)
        if let asOf { w.key("as_of"); w.int(asOf) }
        w.endObject()
        return w.string
    }

    /// A funnel report.
    public func funnel(_ query: FunnelQuery) throws -> FunnelReport {
        try readCopy { $0.funnel(query) }.0
    }

    /// Contact resolution per channel.
    public func contacts() throws -> ContactsReport {
        try readCopy { $0.contacts() }.0
    }

    /// One page of the clusters at risk, by canonical id after `after`; recorded in the read
    /// audit as read by `context`.
    ///
    /// - Throws: `AuditUnavailable` when the audit record cannot be written, or `Rebuilding`.
    public func atRisk(asOf: Int64? = nil, limit: Int = 100, after: String? = nil, as context: AuditContext) throws -> AtRiskPage {
        let page = try readCopy { $0.atRisk(asOf: asOf ?? Clock.nowMs(), limit: limit, after: after) }.0
        var w = JSONWriter()
        w.beginObject()
        if let asOf { w.key("as_of"); w.int(asOf) }
        w.key("limit"); w.int(limit)
        if let after { w.key("after"); w.string(after) }
        w.endObject()
        try disclose("at_risk", parameters: w.string, ids: page.patients.map(\.patient), to: context)
        return page
    }

    /// The appointments scheduled in a period, by a property of their booking (SPEC §3.6),
    /// counting only events before the period's end.
    public func appointments(_ query: AppointmentsQuery) throws -> AppointmentsReport {
        try readCopy { $0.appointments(query) }.0
    }

    /// New, retained and lapsed patients over a period, with their visits and revenue (SPEC §3.6).
    public func patients(_ query: PatientsQuery) throws -> PatientsReport {
        try readCopy { $0.patients(query) }.0
    }

    /// Patients by the month of their first visit, and how many of each came back month by month
    /// (SPEC §3.6).
    ///
    /// - Throws: `ReportQueryError` when the months to follow exceed `ReportCalendar.maxBuckets`.
    public func cohorts(_ query: CohortsQuery) throws -> CohortsReport {
        try readCopy { try $0.cohorts(query) }.0
    }

    /// Events (or distinct patients) of one kind per day, week or month of a period (SPEC §3.6).
    ///
    /// - Throws: `ReportQueryError` when the period spans more than `ReportCalendar.maxBuckets` buckets.
    public func trends(_ query: TrendsQuery) throws -> TrendsReport {
        try readCopy { try $0.trends(query) }.0
    }

    /// Who refers patients and what those patients are worth, at `asOf` (default: now), at most
    /// `limit` referrers (SPEC §3.6); recorded in the read audit as read by `context`.
    ///
    /// - Throws: `AuditUnavailable` when the audit record cannot be written, or `Rebuilding`.
    public func referrals(asOf: Int64? = nil, limit: Int = ReferralsReport.defaultLimit, as context: AuditContext) throws -> ReferralsReport {
        let report = try readCopy { $0.referrals(asOf: asOf ?? Clock.nowMs(), limit: limit) }.0
        var w = JSONWriter()
        w.beginObject()
        if let asOf { w.key("as_of"); w.int(asOf) }
        w.key("limit"); w.int(limit)
        w.endObject()
        try disclose("referrals", parameters: w.string, ids: report.referrers.map(\.patient), to: context)
        return report
    }

    /// One page of the patients meeting a segment's filters (SPEC §3.6); recorded in the read
    /// audit as read by `context`.
    ///
    /// - Throws: `AuditUnavailable` when the audit record cannot be written, or `Rebuilding`.
    public func segment(_ query: SegmentQuery, as context: AuditContext) throws -> SegmentPage {
        let page = try readCopy { $0.segment(query) }.0
        var w = JSONWriter()
        w.beginObject()
        w.key("as_of"); w.int(query.asOf)
        w.key("limit"); w.int(query.limit)
        if let after = query.after { w.key("after"); w.string(after) }
        w.endObject()
        try disclose("segment", parameters: w.string, ids: page.patients.map(\.patient), to: context)
        return page
    }

    // MARK: signals

    /// The signals for consumer `consumer` (created on first use): those stored after its last
    /// acknowledged seq, or after `from` when given, then each new one as it is stored. Each
    /// chunk the stream reads is recorded in the read audit as shown to `context`, with the
    /// patients it names, before any of it is returned.
    ///
    /// - Throws: `.invalidArgument` for a consumer name that is empty, longer than 128 bytes or
    ///   holds a control character; `.readOnly` when a read-only engine meets a new consumer.
    public func signals(consumer: String, from: UInt64? = nil, as context: AuditContext) throws(StoreError) -> SignalStream {
        let c = try log.openSignalConsumer(consumer, now: signalEvaluator?.clock.now() ?? Clock.nowMs())
        return SignalStream(consumer: consumer, after: from ?? c.acked, log: log, wakes: signalWakes, audit: audit, reader: context)
    }

    /// Acknowledges, durably, every signal up to `seq` for `consumer`: its next stream starts
    /// after `seq`. An acknowledgement never moves back (a lower seq changes nothing).
    ///
    /// - Throws: `.notFound` for a consumer that never read; `.invalidArgument` for a seq past
    ///   the latest signal.
    @discardableResult
    public func ackSignals(consumer: String, seq: UInt64) throws(StoreError) -> EventLog.SignalConsumer {
        try log.ackSignals(consumer: consumer, seq: seq)
    }

    /// Every signal consumer with the seq it acknowledged.
    public func signalConsumers() throws(StoreError) -> [EventLog.SignalConsumer] {
        try log.signalConsumers()
    }

    /// Returns once the signals of everything folded so far (and of the evaluation at open)
    /// are raised and stored.
    package func settleSignals() {
        signalEvaluator?.waitForQueued()
        writes.settle()
    }

    /// Evaluates now the clusters whose elapsed-time change has come (what the timer does within
    /// a minute), and stores their signals.
    package func evaluateDueSignals() {
        signalEvaluator?.waitForQueued()
        signalEvaluator?.evaluateDue()
        writes.drain()
    }

    /// The (patient, risk) pairs entered and not left, as the evaluator holds them.
    package var signalledRisks: [String: RiskSet] { signalEvaluator?.signalled ?? [:] }

    /// Projection figures for `stats`.
    public var projectionStats: (position: UInt64, events: Int, clusters: Int, rebuild: RebuildProgress?) {
        let s = projections.stats
        return (s.position, s.events, s.clusters, s.rebuild)
    }

    /// Why the latest rebuild failed, if it did (the previous projections kept answering).
    public var lastRebuildFailure: String? { projections.stats.lastRebuildFailure }
}

/// Wall-clock milliseconds since the Unix epoch.
package enum Clock {
    package static func nowMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
