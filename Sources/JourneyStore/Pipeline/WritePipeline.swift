import Dispatch
import Glibc
import JourneyCore
import JourneyProtocol
import Synchronization

/// The one way events enter a store: a single owner of LMDB's one writer and of the fold that
/// follows each commit.
///
/// Callers submit batches from any thread; the pipeline gathers what is waiting into one
/// transaction and one fsync (group commit), folds each commit into the live projections, and
/// only then answers the batches, in submission order. Each batch stays atomic on its own: a
/// conflict fails only that batch. So an answer means the events are durable and visible to
/// every query, and nothing in the process can append without the projections seeing it.
///
/// Three stages run at once, each in commit order: a writer thread commits a group, a fold queue
/// folds it while the writer commits the next, and an answer queue runs the group's completions
/// while the next is folded. The writer thread starts with the first submission and ends with
/// `stop()` (the engine stops it when it is released).
///
/// ```swift
/// let outcomes = try engine.writes.append(events)            // blocking
/// let outcomes = try await engine.writes.append(events)      // async
/// ```
public final class WritePipeline: Sendable {
    /// Called with a batch's outcomes (one per event), or its failure.
    public typealias Completion = @Sendable (Result<[EventLog.AppendOutcome], StoreError>) -> Void
    /// Called with a batch's per-event results (see `EventLog.GroupEntry.splitConflicts`).
    package typealias EntryCompletion = @Sendable (Result<EventLog.EventResults, StoreError>) -> Void

    private struct Submission {
        var entry: EventLog.GroupEntry
        var completion: EntryCompletion

        /// Its events, counted towards a commit's size (a batch that failed to encode counts one).
        var count: Int {
            if case .success(let batch) = entry.batch { return Swift.max(1, batch.count) }
            return 1
        }
    }

    private struct Pending {
        var submissions: [Submission] = []
        /// Signal objects to store with the next commit, in the order raised.
        var signals: [[UInt8]] = []
        var stopped = false
        /// The writer thread, started with the first submission; joined by `stop()`.
        var thread: JoinableThread?
    }

    let log: EventLog
    let projections: LiveProjections
    private let pending = Mutex(Pending())
    private let wake = Semaphore()
    private let done = Semaphore()
    /// Called after each commit with the log's last position (subscriptions follow it).
    private let commitObservers = Mutex<[@Sendable (UInt64) -> Void]>([])
    /// Called once, on the writer thread, when the store stops accepting writes.
    private let writesStoppedObservers = Mutex<[@Sendable (StoreError) -> Void]>([])
    private let reportedStop = Atomic<Bool>(false)
    /// Called on the fold stage after each group is folded, with the ids its events named.
    private let foldObservers = Mutex<[@Sendable ([TouchedId]) -> Void]>([])
    /// Called on the writer thread when signals handed over were not stored (the store failed).
    private let signalsLostObservers = Mutex<[@Sendable () -> Void]>([])
    /// Test hook: signals handed over are dropped, as a crash between a fold and the commit of
    /// its signals would lose them.
    private let droppingSignals = Atomic<Bool>(false)
    /// Test hook: whether `holdSignals` was called, and the handoffs of signals still stored
    /// before every later one parks for good.
    private let holdingSignals = Atomic<Bool>(false)
    private let signalHandoffsBeforeHold = Atomic<Int>(0)
    /// The last position committed and folded, and the streams of `positions()`.
    private let folded: FoldedPositions
    private let folds = DispatchQueue(label: "journey.pipeline.fold")
    private let answers = DispatchQueue(label: "journey.pipeline.answers")
    /// Most events gathered into one commit.
    let maxEventsPerCommit: Int

    init(log: EventLog, projections: LiveProjections, maxEventsPerCommit: Int = 200_000) {
        self.log = log
        self.projections = projections
        self.maxEventsPerCommit = maxEventsPerCommit
        folded = FoldedPositions(position: log.lastPosition)
        folds.setSpecific(key: Self.queueKey, value: true)
        answers.setSpecific(key: Self.queueKey, value: true)
    }

    // MARK: submitting

    /// Appends a batch atomically and returns once it is durable and folded into the
    /// projections: one outcome per event, `.appended(position)` or `.duplicate(existing)`.
    /// A conflicting id fails the whole batch and appends nothing.
    ///
    /// Do not call it from a completion of `submit` (they run on the pipeline's answer queue).
    public func append(_ events: [Event]) throws(StoreError) -> [EventLog.AppendOutcome] {
        try appendEncoded(EventLog.encode(events))
    }

    /// `append` for `async` callers: suspends, without blocking a thread, until the batch is
    /// durable and folded.
    public func append(_ events: [Event]) async throws(StoreError) -> [EventLog.AppendOutcome] {
        let encoded = EventLog.encode(events)
        let result = await withCheckedContinuation { (c: CheckedContinuation<Result<[EventLog.AppendOutcome], StoreError>, Never>) in
            submit(encoded: encoded) { c.resume(returning: $0) }
        }
        return try result.get()
    }

    /// Queues a batch; `completion` runs once it is durable and folded (or failed), on the
    /// pipeline's answer queue, one batch at a time in submission order.
    public func submit(_ events: [Event], completion: @escaping Completion) {
        // Encoded here, on the submitting thread, so the writer only writes.
        submit(encoded: EventLog.encode(events), completion: completion)
    }

    /// Queues a batch already encoded (a failure fails alone with that error), as `submit`.
    package func submit(encoded: Result<EventLog.EncodedBatch, StoreError>, completion: @escaping Completion) {
        submit(EventLog.GroupEntry(batch: encoded)) { r in
            completion(r.map(\.outcomes))
        }
    }

    /// Queues one group entry (a batch with its options), as `submit`.
    package func submit(_ entry: EventLog.GroupEntry, completion: @escaping EntryCompletion) {
        let accepted = pending.withLock { p -> Bool in
            guard !p.stopped else { return false }
            p.submissions.append(Submission(entry: entry, completion: completion))
            startWriterIfNeeded(&p)
            return true
        }
        guard accepted else {
            completion(.failure(StoreError(.io, "the store is closed for writes")))
            return
        }
        wake.signal()
    }

    /// Starts the writer thread unless it runs; called under the `pending` lock, so it starts
    /// once and `stop()` always finds it.
    private func startWriterIfNeeded(_ p: inout Pending) {
        if p.thread == nil { p.thread = startJoinableThread { [self] in run() } }
    }

    /// Appends an encoded batch and waits for it, as `append`.
    package func appendEncoded(_ encoded: Result<EventLog.EncodedBatch, StoreError>) throws(StoreError) -> [EventLog.AppendOutcome] {
        let result = HandOff<Result<[EventLog.AppendOutcome], StoreError>>(capacity: 1)
        submit(encoded: encoded) { result.put($0) }
        return try result.take().get()
    }

    /// Queues signal objects (`Signal.storedBytes`): they are stored, in this order, with the
    /// next commit (at once when no batch is waiting).
    package func storeSignals(_ signals: [[UInt8]]) {
        guard !signals.isEmpty, !droppingSignals.load(ordering: .relaxed) else { return }
        if holdingSignals.load(ordering: .acquiring),
           signalHandoffsBeforeHold.subtract(1, ordering: .relaxed).newValue < 0 {
            // The process stops here, its events durable and folded and their signals in no
            // commit, until it is killed.
            while true { pause() }
        }
        let accepted = pending.withLock { p -> Bool in
            guard !p.stopped else { return false }
            p.signals.append(contentsOf: signals)
            startWriterIfNeeded(&p)
            return true
        }
        if accepted { wake.signal() } else { for o in signalsLostObservers.withLock({ $0 }) { o() } }
    }

    /// Test hook: while set, signals handed to `storeSignals` are dropped (a crash between a
    /// fold and the commit of its signals).
    package func setDroppingSignals(_ dropping: Bool) { droppingSignals.store(dropping, ordering: .relaxed) }

    /// Test hook for a process killed between a fold and the commit of its signals: the first
    /// `handoffs` calls of `storeSignals` that hand signals over go on as usual; every later one
    /// parks its thread (the fold stage, or the evaluator's timer) for good, so the answers of
    /// that fold still go out while its signals and every later fold wait for a `kill -9`.
    package func holdSignals(after handoffs: Int) {
        signalHandoffsBeforeHold.store(max(0, handoffs), ordering: .relaxed)
        holdingSignals.store(true, ordering: .releasing)
    }

    /// Returns once every fold so far has run its observers (`onFold`) and what they stored
    /// (`storeSignals`) is committed, with every batch submitted before the call.
    package func settle() {
        if DispatchQueue.getSpecific(key: Self.queueKey) == nil { folds.sync {} }
        drain()
    }

    /// Returns once every batch submitted before the call is committed, folded and answered.
    package func drain() {
        let answered = HandOff<Result<[EventLog.AppendOutcome], StoreError>>(capacity: 1)
        submit(encoded: .success(EventLog.EncodedBatch())) { answered.put($0) }
        _ = answered.take()
    }

    // MARK: observing

    /// The log's last position each time a commit is durable and folded into the projections,
    /// starting with the current one: a query made after reading a position sees every event
    /// up to it.
    ///
    /// The stream keeps only the newest position it has not delivered (`.bufferingNewest(1)`):
    /// a slow consumer skips positions but never holds a backlog, and then reads the latest one.
    /// Positions only grow. The stream ends when the engine is released (its pipeline stops);
    /// end it earlier by cancelling the task that iterates it.
    ///
    /// ```swift
    /// for await position in engine.writes.positions() {
    ///     let page = try engine.atRisk()   // reflects the log up to `position`
    /// }
    /// ```
    public func positions() -> AsyncStream<Position> {
        folded.stream()
    }

    /// Calls `observer` after every commit with the log's last position, on the writer thread
    /// (it must only schedule work).
    package func onCommit(_ observer: @escaping @Sendable (UInt64) -> Void) {
        commitObservers.withLock { $0.append(observer) }
    }

    /// Calls `observer` on the fold stage after each group is folded (its answers already
    /// queued), with the ids its events named when the projections track them; it runs before
    /// the next group is folded.
    package func onFold(_ observer: @escaping @Sendable ([TouchedId]) -> Void) {
        foldObservers.withLock { $0.append(observer) }
    }

    /// Calls `observer` when signals handed to `storeSignals` could not be stored.
    package func onSignalsLost(_ observer: @escaping @Sendable () -> Void) {
        signalsLostObservers.withLock { $0.append(observer) }
    }

    /// Calls `observer` once, on the writer thread, when the store stops accepting writes (an
    /// I/O error left the disk's content uncertain); every later batch fails with that error.
    package func onWritesStopped(_ observer: @escaping @Sendable (StoreError) -> Void) {
        writesStoppedObservers.withLock { $0.append(observer) }
    }

    // MARK: stopping

    /// Commits, folds and answers what is queued, then ends the writer thread; later
    /// submissions fail.
    package func stop() {
        let thread = pending.withLock { p -> JoinableThread? in
            p.stopped = true
            return p.thread
        }
        if let thread {
            wake.signal()
            done.wait()
            // Joined, so that the thread has let go of the log when this returns: the store can
            // be opened again at once.
            if !thread.isCurrent { thread.join() }
        }
        // A completion may release the last reference to the engine: it then runs on these queues.
        if DispatchQueue.getSpecific(key: Self.queueKey) == nil {
            folds.sync {}
            answers.sync {}
        }
        // After the last fold was published (on this queue, when a completion stops it).
        folds.async { [folded] in folded.finish() }
    }

    private static let queueKey = DispatchSpecificKey<Bool>()

    /// Whether the caller runs on the pipeline's fold or answer queue.
    package var isPipelineQueue: Bool { DispatchQueue.getSpecific(key: Self.queueKey) != nil }

    // MARK: the writer

    private func run() {
        while true {
            wake.wait()
            while true {
                let (group, signals, stopping) = pending.withLock { p in
                    var n = 0, k = 0
                    while k < p.submissions.count && (k == 0 || n + p.submissions[k].count <= maxEventsPerCommit) {
                        n += p.submissions[k].count
                        k += 1
                    }
                    let g = Array(p.submissions.prefix(k))
                    p.submissions.removeFirst(k)
                    let s = p.signals
                    p.signals.removeAll()
                    return (g, s, p.stopped)
                }
                if group.isEmpty && signals.isEmpty {
                    if stopping { done.signal(); return }
                    break
                }
                commit(group, signals)
            }
        }
    }

    private func commit(_ group: [Submission], _ signals: [[UInt8]]) {
        var wrote = false
        let results = log.appendGroup(entries: group.map(\.entry), audit: [], signals: signals, wrote: &wrote)
        if !wrote && !signals.isEmpty {
            for o in signalsLostObservers.withLock({ $0 }) { o() }
        }
        // Reported before the refusals are answered, so a log explains them.
        if let failure = log.writeFailure, !reportedStop.exchange(true, ordering: .acquiringAndReleasing) {
            for o in writesStoppedObservers.withLock({ $0 }) { o(failure) }
        }
        let last = log.lastPosition
        let observers = foldObservers.withLock { $0 }
        folds.async { [projections, answers, folded] in
            var touched: [TouchedId] = []
            for (s, r) in zip(group, results) {
                guard case .success(let events) = r, case .success(let batch) = s.entry.batch else { continue }
                touched.append(contentsOf: Self.fold(batch, events, into: projections))
            }
            // Published before the answers, so a caller that got its answer has its batch's
            // position in `positions()`.
            folded.publish(last)
            // Answered only once folded, so a query sent after an answer sees the batch.
            answers.async {
                for (s, r) in zip(group, results) { s.completion(r) }
            }
            if !touched.isEmpty { for o in observers { o(touched) } }
        }
        for o in commitObservers.withLock({ $0 }) { o(last) }
    }

    /// Folds the appended events of one committed batch from their records.
    private static func fold(_ batch: EventLog.EncodedBatch, _ events: EventLog.EventResults, into projections: LiveProjections) -> [TouchedId] {
        batch.bytes.withUnsafeBytes { all in
            projections.foldCommitted(events) { projector, i in
                // Checked where it entered: an EncodedBatch holds only records this program encoded.
                projector.apply(trusted: EventView(trusted: UnsafeRawBufferPointer(rebasing: all[batch.recordRange(i)])))
            }
        }
    }
}
