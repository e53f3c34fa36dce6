import Dispatch
import Glibc
import JourneyCore
import JourneyStore
import Synchronization

/// The single writer: gathers the append requests of every client and commits them together,
/// so one fsync serves many (group commit). Each request stays atomic on its own: a conflict
/// fails only that request, or, for a request that asked for it (`"on_conflict":"reject_event"`,
/// as `journeyd import` sends), appends its events one by one in its place, leaving out only the
/// conflicting ones. A request's completion runs only after the commit holding its events is
/// durable, and after the projections have folded them.
///
/// Three stages, each in commit order: the writer thread commits a group, the fold queue folds
/// it into the projections while the writer commits the next, and the answer queue runs the
/// group's completions while the next is folded.
final class GroupCommitter: Sendable {
    typealias Completion = @Sendable (Result<[EventLog.AppendOutcome], StoreError>) -> Void
    /// Each event's outcome, or the error that kept it out (a conflict), in batch order.
    typealias EventResults = [Result<EventLog.AppendOutcome, StoreError>]
    typealias EventsCompletion = @Sendable (Result<EventResults, StoreError>) -> Void

    /// What runs once a submission is durable and folded.
    private enum Reply {
        /// The batch is atomic: all its events, or a failure.
        case batch(Completion)
        /// A conflicting batch is appended event by event: every event but the conflicting ones.
        case events(EventsCompletion)
    }

    /// What became of a submission.
    private enum Committed {
        case batch(Result<[EventLog.AppendOutcome], StoreError>)
        /// A batch that conflicted, then appended event by event.
        case events(EventResults)
    }

    /// A submitted batch, encoded on the thread that submitted it, and what to run once it is
    /// durable and folded.
    private struct Submission {
        var encoded: Result<EventLog.EncodedBatch, StoreError>
        var reply: Reply

        var rejectsConflictingEvents: Bool {
            if case .events = reply { return true }
            return false
        }

        func complete(_ c: Committed) {
            switch (reply, c) {
            case (.batch(let done), .batch(let r)): done(r)
            case (.events(let done), .batch(let r)): done(r.map { $0.map { .success($0) } })
            case (.events(let done), .events(let r)): done(.success(r))
            case (.batch, .events): preconditionFailure("only a submission that asked for it is split")
            }
        }

        /// Its events, counted towards a commit's size (a batch that failed to encode counts one).
        var count: Int {
            if case .success(let batch) = encoded { return batch.count }
            return 1
        }
    }

    private struct Pending {
        var submissions: [Submission] = []
        var audit: [AuditRecord] = []
        var stopping = false
    }

    private let engine: JourneyEngine
    private let pending = Mutex(Pending())
    private let wake = Semaphore()
    private let done = Semaphore()
    /// Called after each commit with the log's last position (subscriptions follow it).
    private let afterCommit: @Sendable (UInt64) -> Void
    /// Called once, on the writer thread, when the store stops accepting writes.
    private let writesStopped: @Sendable (StoreError) -> Void
    private let reportedStop = Atomic<Bool>(false)
    /// Folds each committed group (`engine.foldCommitted`) while the writer goes on with the
    /// next commit: one hand-off per group, in commit order.
    private let folds = DispatchQueue(label: "journeyd.fold")
    /// Runs each folded group's completions (they encode and queue the answers) while the next
    /// group is folded: one hand-off per group, in commit order.
    private let answers = DispatchQueue(label: "journeyd.answers")
    /// Most events gathered into one commit.
    private let maxEventsPerCommit = 100_000

    init(engine: JourneyEngine, afterCommit: @escaping @Sendable (UInt64) -> Void,
         writesStopped: @escaping @Sendable (StoreError) -> Void = { _ in }) {
        self.engine = engine
        self.afterCommit = afterCommit
        self.writesStopped = writesStopped
    }

    func start() {
        startThread { [self] in self.run() }
    }

    /// Queues a batch; `completion` runs once it is durable and folded (or failed), on the
    /// thread that answers the groups (one at a time, in commit order), never on the writer thread.
    func submit(_ events: [Event], completion: @escaping Completion) {
        // Encoded here, on the submitting thread, so the writer only writes.
        submit(encoded: EventLog.encode(events), completion: completion)
    }

    /// Queues a batch already encoded (a failure fails alone with that error), as `submit`.
    func submit(encoded: Result<EventLog.EncodedBatch, StoreError>, completion: @escaping Completion) {
        submit(Submission(encoded: encoded, reply: .batch(completion)))
    }

    /// Queues a batch that, when it conflicts, is appended event by event in its place (in the
    /// same commit order), so that only its conflicting events are left out, as `journeyd
    /// import` does with a local store. Nothing submitted after it is committed before it.
    func submit(encoded: Result<EventLog.EncodedBatch, StoreError>,
                rejectingConflictingEvents completion: @escaping EventsCompletion) {
        submit(Submission(encoded: encoded, reply: .events(completion)))
    }

    private func submit(_ s: Submission) {
        let accepted = pending.withLock { p -> Bool in
            guard !p.stopping else { return false }
            p.submissions.append(s)
            return true
        }
        if accepted {
            wake.signal()
        } else {
            s.complete(.batch(.failure(StoreError(.io, "the daemon is shutting down"))))
        }
    }

    /// Queues an audit record; it is written with the next commit.
    func audit(_ record: AuditRecord) {
        pending.withLock { $0.audit.append(record) }
        wake.signal()
    }

    /// Commits what is queued, runs its completions, then stops the writer thread.
    func stop() {
        pending.withLock { $0.stopping = true }
        wake.signal()
        done.wait()
        folds.sync {}
        answers.sync {}
    }

    private func run() {
        while true {
            wake.wait()
            while true {
                let (group, audit, stopping) = pending.withLock { p in
                    var n = 0, k = 0
                    while k < p.submissions.count && (k == 0 || n + p.submissions[k].count <= maxEventsPerCommit) {
                        n += p.submissions[k].count
                        k += 1
                    }
                    let g = Array(p.submissions.prefix(k))
                    p.submissions.removeFirst(k)
                    let a = p.audit
                    p.audit.removeAll()
                    return (g, a, p.stopping)
                }
                if group.isEmpty && audit.isEmpty {
                    if stopping { done.signal(); return }
                    break
                }
                let results = commit(group, audit: audit)
                // Reported before the refusals are answered, so the log explains them. Requests
                // queued meanwhile are refused alike until the daemon stops.
                if let failure = engine.log.writeFailure,
                   !reportedStop.exchange(true, ordering: .acquiringAndReleasing) {
                    writesStopped(failure)
                }
                folds.async { [engine, answers] in
                    // Folds this group (and any committed after it); answers only then, so a
                    // query sent after an answer sees the batch.
                    engine.foldCommitted()
                    answers.async {
                        for (s, r) in zip(group, results) { s.complete(r) }
                    }
                }
                afterCommit(engine.log.lastPosition)
            }
        }
    }
}

extension GroupCommitter {
    /// Commits `group` in order. Consecutive submissions that reject conflicting events share
    /// one transaction up to the first that fails on its own (`JourneyEngine.appendEncoded` of
    /// batches): when it conflicts, its events go next, one by one, before anything submitted
    /// after it, and the rest follow in the next transaction. The others share one as usual,
    /// each failing alone.
    private func commit(_ group: [Submission], audit: [AuditRecord]) -> [Committed] {
        var out: [Committed] = []
        out.reserveCapacity(group.count)
        var audit = audit
        var start = 0
        while start < group.count {
            if group[start].rejectsConflictingEvents {
                var batches: [EventLog.EncodedBatch] = []
                for s in group[start...] {
                    guard s.rejectsConflictingEvents, case .success(let b) = s.encoded else { break }
                    batches.append(b)
                }
                if batches.isEmpty {
                    // It could not be encoded: it fails alone.
                    if case .failure(let e) = group[start].encoded { out.append(.batch(.failure(e))) }
                    start += 1
                    continue
                }
                do {
                    let r = try engine.appendEncoded(batches, fold: true)
                    out.append(contentsOf: r.outcomes.map { .batch(.success($0)) })
                    start += r.outcomes.count
                    if let failure = r.failure {
                        let failed = batches[r.outcomes.count]
                        out.append(failure.code == .conflict ? appendOneByOne(failed) : .batch(.failure(failure)))
                        start += 1
                    }
                } catch {
                    // The store failed: nothing of them was written.
                    out.append(contentsOf: batches.map { _ in .batch(.failure(error)) })
                    start += batches.count
                }
                continue
            }
            var end = start
            while end < group.count && !group[end].rejectsConflictingEvents { end += 1 }
            let results = engine.commitGroup(encoded: group[start..<end].map(\.encoded), audit: audit)
            audit = []
            out.append(contentsOf: results.map { .batch($0) })
            start = end
        }
        if !audit.isEmpty { _ = engine.commitGroup(encoded: [], audit: audit) }
        return out
    }

    /// Appends the events of a batch that conflicted as one-event batches of one commit: each
    /// is appended, a duplicate, or (a conflict) left out alone.
    private func appendOneByOne(_ batch: EventLog.EncodedBatch) -> Committed {
        let singles = (0..<batch.count).map { Result<EventLog.EncodedBatch, StoreError>.success(batch.single($0)) }
        let results = engine.commitGroup(encoded: singles)
        // The store failed (disk full, I/O): nothing was written.
        if case .failure(let e) = results.first, e.code != .conflict,
           results.allSatisfy({ if case .failure(let f) = $0 { f.code == e.code } else { false } }) {
            return .batch(.failure(e))
        }
        return .events(results.map { r in r.map { $0[0] } })
    }
}

/// A counting semaphore on a pthread mutex and condition (usable from any thread).
final class Semaphore: @unchecked Sendable {
    // The mutex and condition are only touched through the pthread calls below.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var count = 0

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        cond.deallocate()
    }

    func signal() {
        pthread_mutex_lock(mutex)
        count += 1
        pthread_cond_signal(cond)
        pthread_mutex_unlock(mutex)
    }

    func wait() {
        pthread_mutex_lock(mutex)
        while count == 0 { pthread_cond_wait(cond, mutex) }
        count = 0 // one wake-up drains every signal: the waiter takes all queued work
        pthread_mutex_unlock(mutex)
    }
}
