import Dispatch
import Glibc
import JourneyCore
import Synchronization

/// Raises the signals of SPEC §3.7: diffs each cluster's risk set at the clock's now against
/// the risk set last signalled for it, and hands the `risk_entered` / `risk_left` signals of the
/// difference to the store's writer.
///
/// The signalled state (canonical id → risks entered and not left) is exactly what the stored
/// signals say, so it is read back from them at open; evaluating every cluster against it then
/// raises what a crash between a fold and its signals lost, and the elapsed-time changes that
/// happened while the store was closed, and nothing already raised. After each fold the
/// clusters the folded events touched are evaluated; a timer evaluates the clusters whose next
/// elapsed-time threshold (or future-dated event) has come, ordered by that time in a heap.
///
/// Evaluations are serialized by one lock, and the signals of each are handed to the writer
/// under it, so the stored order is the order they were raised in.
final class SignalEvaluator: Sendable {
    private struct State {
        /// Canonical id → risks entered and not left, as the signals raised say.
        var signalled: [String: RiskSet] = [:]
        var schedule = SignalSchedule()
        /// Set when an evaluation could not run (no projections during a first rebuild) or its
        /// signals were not stored: the next timer tick evaluates every cluster.
        var needsFullEvaluation = false
        /// When the timer next wakes (wall-clock uptime ns), nil when none is queued.
        var timerDeadline: DispatchTime?
        var stopped = false
        /// Set while an erasure rewrites the store: nothing is raised (the clusters are marked
        /// for the full evaluation that follows it).
        var suspended = false
        /// Signals raised so far by this process (for stats and tests).
        var raised = 0
        /// Threads a large evaluation takes its snapshots on: one per core.
        var parts = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }

    /// A cluster to evaluate, and how its changes are dated (`at`).
    enum Target {
        /// A cluster touched by events just folded, by slot (folding is not running meanwhile:
        /// evaluations of folds run on the fold stage), with the latest `at` that counts among
        /// those events (`Int64.min`: none does yet).
        case touched(slot: UInt32, at: Int64)
        /// The cluster holding an id whose threshold or future-dated event fell due at `at`.
        case due(id: String, at: Int64)
        /// The cluster holding an id: dated by its latest event counted.
        case id(String)
        /// A cluster of a full evaluation (open, rebuild) by the canonical id it had when the
        /// clusters were listed, dated by its latest event counted; left alone once that id is
        /// no longer canonical (a fold merged the cluster since, and evaluates it next).
        case canonical(String)
    }

    private let state = Mutex(State())
    private let projections: LiveProjections
    private let log: EventLog
    let clock: any SignalClock
    /// Hands signal objects to the writer (stored in the next commit, in this order).
    private let store: @Sendable ([[UInt8]]) -> Void
    private let timer = DispatchQueue(label: "journey.signals.timer")
    /// The longest the timer sleeps, so a clock moved by hand or a missed wake-up is caught.
    static let maxSleep: DispatchTimeInterval = .seconds(60)
    /// Clusters evaluated per hold of the projections lock, per thread taking snapshots.
    static let chunk = 256
    /// The fewest clusters an evaluation takes its snapshots of on more than one thread (a
    /// fold's few are not worth waking the others).
    static let parallelMinimum = 1024

    /// Reads the signalled state back from the stored signals.
    init(log: EventLog, projections: LiveProjections, clock: any SignalClock,
         store: @escaping @Sendable ([[UInt8]]) -> Void) throws(StoreError) {
        self.log = log
        self.projections = projections
        self.clock = clock
        self.store = store
        let signalled = try Self.signalledState(log)
        state.withLock { $0.signalled = signalled }
    }

    /// The risks entered and not left per canonical id, from the stored signals.
    static func signalledState(_ log: EventLog) throws(StoreError) -> [String: RiskSet] {
        var signalled: [String: RiskSet] = [:]
        // At most one id per stored signal: the table is not regrown as it fills (up to a
        // quarter million ids reserved at once).
        signalled.reserveCapacity(Int(min(try log.lastSignalSeq(), 1 << 18)))
        var failure: StoreError?
        try log.scanSignals(after: 0) { seq, stored in
            guard let s = StoredSignalChange(seq: seq, stored: stored) else {
                failure = StoreError(.corrupt, "signal \(seq) is not a signal object", context: .init(position: seq))
                return false
            }
            // One hash of the id per signal.
            if s.kind == .riskEntered {
                signalled[s.patient, default: []].insert(s.risk)
            } else if let i = signalled.index(forKey: s.patient) {
                signalled.values[i].remove(s.risk)
                if signalled.values[i].isEmpty { signalled.remove(at: i) }
            }
            return true
        }
        if let failure { throw failure }
        return signalled
    }

    /// The (patient, risk) pairs entered and not left.
    var signalled: [String: RiskSet] { state.withLock { $0.signalled } }

    /// Signals raised by this process so far.
    var raised: Int { state.withLock { $0.raised } }

    /// Sets how many threads a large evaluation takes its snapshots on (tests compare one
    /// with several).
    func setParts(_ n: Int) {
        state.withLock { $0.parts = max(1, n) }
    }

    /// Clusters with an elapsed-time change ahead.
    var scheduled: Int { state.withLock { $0.schedule.count } }

    // MARK: evaluating

    /// Evaluates the clusters of the ids folding recorded (`Projector.takeTouched`).
    func evaluate(touched: [TouchedId]) {
        guard !touched.isEmpty else { return }
        state.withLock { st in
            guard !st.stopped else { return }
            let now = clock.now()
            // The touched clusters' slots, each with the latest `at` that counts now, in the
            // order first touched: the signals of one fold come out the same on every run.
            var order: [UInt32] = []
            var causes: [UInt32: Int64] = [:]
            let mapped: Void? = try? projections.read { p in
                for t in touched {
                    guard let slot = p.clusterSlot(ofIdNumber: t.id) else { continue }
                    let at = t.at <= now ? t.at : Int64.min
                    if let c = causes[slot] {
                        causes[slot] = max(c, at)
                    } else {
                        causes[slot] = at
                        order.append(slot)
                    }
                }
            }.0
            guard mapped != nil else {
                st.needsFullEvaluation = true
                return
            }
            evaluate(order.map { .touched(slot: $0, at: causes[$0]!) }, now: now, &st)
        }
        scheduleTimer()
    }

    /// Evaluates every cluster, then retracts what is signalled under ids that are no longer
    /// canonical (at open, and after a rebuild swapped in new projections).
    func evaluateAll() {
        state.withLock { st in
            guard !st.stopped else { return }
            let now = clock.now()
            // Names only, under the lock (a copy would be duplicated by the next fold's write).
            let ids: [String]? = try? projections.read { p in
                var all: [String] = []
                p.forEachCanonicalId { all.append($0) }
                return all
            }.0
            guard let ids else {
                st.needsFullEvaluation = true
                return
            }
            st.needsFullEvaluation = false
            evaluate(ids.map(Target.canonical), now: now, &st)
            // Signalled ids that are now nobody's canonical id: clusters merged while this
            // process was not watching (the ids are found under their new cluster).
            let signalled = Array(st.signalled.keys)
            guard let orphans = try? projections.read({ p in signalled.filter { !p.isCanonical($0) } }).0 else {
                st.needsFullEvaluation = true
                return
            }
            let sorted = orphans.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            if !sorted.isEmpty { evaluate(sorted.map(Target.id), now: now, &st) }
        }
        scheduleTimer()
    }

    /// Raises nothing until `resume`: once this returns, no evaluation runs and none will hand
    /// signals to the writer (an erasure rewrites the stored ones meanwhile).
    func suspend() {
        state.withLock { $0.suspended = true }
    }

    /// Reads the signalled state back from the stored signals (an erasure renamed some), forgets
    /// the schedule (its ids may be gone), and evaluates every cluster.
    func resume() {
        let signalled = try? Self.signalledState(log)
        state.withLock { st in
            st.suspended = false
            if let signalled { st.signalled = signalled }
            st.schedule = SignalSchedule()
            st.needsFullEvaluation = true
        }
        evaluateAll()
    }

    /// Queues `evaluateAll` on the timer's queue (at open: the store serves meanwhile).
    func evaluateAllSoon() {
        timer.async { [weak self] in self?.evaluateAll() }
    }

    /// Returns once the evaluations queued on the timer's queue so far have run.
    func waitForQueued() {
        timer.sync {}
    }

    /// Evaluates the clusters whose next change has come (the timer's work; tests call it after
    /// moving a `ManualClock`).
    func evaluateDue() {
        let full = state.withLock { $0.needsFullEvaluation }
        if full {
            evaluateAll()
            return
        }
        state.withLock { st in
            guard !st.stopped else { return }
            let now = clock.now()
            let due = st.schedule.takeDue(now)
            guard !due.isEmpty else { return }
            evaluate(due.map { .due(id: $0.id, at: $0.time) }, now: now, &st)
        }
        scheduleTimer()
    }

    /// Evaluates `targets` at `now`, in chunks, and stores the signals found.
    private func evaluate(_ targets: [Target], now: Int64, _ st: inout State) {
        if st.suspended {
            st.needsFullEvaluation = true
            return
        }
        var out: [[UInt8]] = []
        var evaluated = Set<String>()
        // Large evaluations take their snapshots on every core (in order: see `snapshots`).
        let parts = targets.count >= Self.parallelMinimum ? max(1, st.parts) : 1
        var start = 0
        while start < targets.count {
            let end = min(targets.count, start + Self.chunk * parts)
            let runs: [[RiskSnapshot?]]
            do {
                runs = try projections.read { p in Self.snapshots(p, targets[start..<end], now: now, parts: parts) }.0
            } catch {
                st.needsFullEvaluation = true
                break
            }
            var index = start
            for snap in runs.joined() {
                let target = targets[index]
                index += 1
                guard let snap else {
                    // An id no event names any more cannot happen (events are never removed);
                    // retract defensively so the state matches the projections. A slot without
                    // a cluster (another projector's, after a rebuild) is left to the full
                    // evaluation that follows every rebuild.
                    switch target {
                    case .due(let id, _), .id(let id), .canonical(let id): retract(id, at: now, stage: .prospect, contactable: [], &st, &out)
                    case .touched: break
                    }
                    continue
                }
                switch target {
                case .touched:
                    // Touched slots are distinct clusters already.
                    break
                case .canonical(let id):
                    // Listed canonical ids are distinct clusters while they stay canonical.
                    guard snap.canonical == id else { continue }
                case .due, .id:
                    // Ids may name one cluster twice.
                    guard evaluated.insert(snap.canonical).inserted else { continue }
                }
                let causeAt: Int64 = switch target {
                case .touched(_, let at): at == .min ? snap.latestAt ?? now : at
                case .due(_, let at): at
                case .id, .canonical: snap.latestAt ?? now
                }
                diff(snap, causeAt: causeAt, &st, &out)
            }
            start = end
        }
        if !out.isEmpty {
            st.raised += out.count
            store(out)
        }
    }

    /// The snapshots of `targets` at `now`, in runs that together follow their order, taken on
    /// `parts` threads at once when `parts` > 1, each over its own run of consecutive targets
    /// (the projector is only read: the caller holds its lock). Which thread took a snapshot
    /// changes nothing in it, so the signals raised from them come out the same on every run.
    private static func snapshots(_ p: borrowing Projector, _ targets: ArraySlice<Target>, now: Int64, parts: Int) -> [[RiskSnapshot?]] {
        let n = targets.count
        guard parts > 1, n > 1 else { return [snapshots(p, targets, now: now)] }
        // Shares the projector's storage; nothing writes to it while the lock is held.
        let copy = copy p
        let runs = min(parts, n)
        let results = Mutex<[[RiskSnapshot?]]>(Array(repeating: [], count: runs))
        let first = targets.startIndex
        DispatchQueue.concurrentPerform(iterations: runs) { i in
            let run = snapshots(copy, targets[(first + n * i / runs)..<(first + n * (i + 1) / runs)], now: now)
            results.withLock { $0[i] = run }
        }
        return results.withLock { $0 }
    }

    /// The snapshots of `targets` at `now`, in their order, on the calling thread.
    private static func snapshots(_ p: borrowing Projector, _ targets: ArraySlice<Target>, now: Int64) -> [RiskSnapshot?] {
        var scratch = RiskScratch()
        return targets.map { t in
            switch t {
            case .touched(let slot, _): p.riskSnapshot(slot: slot, asOf: now, scratch: &scratch)
            case .due(let id, _), .id(let id), .canonical(let id): p.riskSnapshot(id: id, asOf: now, scratch: &scratch)
            }
        }
    }

    /// Raises the difference between a cluster's risk set and what is signalled for it, and
    /// retracts what is signalled under its other ids.
    private func diff(_ snap: RiskSnapshot, causeAt: Int64, _ st: inout State, _ out: inout [[UInt8]]) {
        for m in snap.aliases where st.signalled[m] != nil {
            retract(m, at: causeAt, stage: snap.stage, contactable: snap.contactable, &st, &out)
        }
        let before = st.signalled[snap.canonical] ?? []
        // The rules whose bit differs, in rule order (most clusters: none).
        let changed = RiskSet(rawValue: before.rawValue ^ snap.risk.rawValue)
        if !changed.isEmpty {
            for r in changed {
                let entered = snap.risk.contains(r)
                // An elapsed-time rule starts to hold at its threshold; every other change at its cause.
                let at = entered ? (snap.thresholds[r] ?? causeAt) : causeAt
                out.append(Signal(at: at, patient: snap.canonical, kind: entered ? .riskEntered : .riskLeft,
                                  risk: r, stage: snap.stage, contactable: snap.contactable).storedBytes)
            }
            st.signalled[snap.canonical] = snap.risk.isEmpty ? nil : snap.risk
        }
        st.schedule.set(snap.canonical, snap.nextChange)
    }

    /// Raises `risk_left` for every risk signalled under `id`, which is no longer a canonical id.
    private func retract(_ id: String, at: Int64, stage: Stage, contactable: [Channel], _ st: inout State, _ out: inout [[UInt8]]) {
        guard let set = st.signalled.removeValue(forKey: id) else { return }
        for r in set {
            out.append(Signal(at: at, patient: id, kind: .riskLeft, risk: r, stage: stage, contactable: contactable).storedBytes)
        }
        st.schedule.set(id, nil)
    }

    /// Called when signals handed to the writer were not stored (the store failed): the
    /// signalled state is read back from the store and every cluster evaluated on the next tick.
    func signalsLost() {
        let reread = try? Self.signalledState(log)
        state.withLock { st in
            if let reread { st.signalled = reread }
            st.needsFullEvaluation = true
        }
        scheduleTimer(soon: true)
    }

    // MARK: the timer

    /// Makes sure the timer wakes by the earliest next change (and at least every `maxSleep`).
    func scheduleTimer(soon: Bool = false) {
        let deadline: DispatchTime? = state.withLock { st in
            guard !st.stopped else { return nil }
            var wait = Self.maxSleep
            if soon {
                wait = .seconds(1)
            } else if let t = st.schedule.earliest {
                let ms = max(0, min(t - clock.now(), 60_000))
                wait = .milliseconds(Int(ms))
            }
            let at = DispatchTime.now() + wait
            if let current = st.timerDeadline, current <= at { return nil }
            st.timerDeadline = at
            return at
        }
        guard let deadline else { return }
        // Weak: a queued wake-up must not keep the store open after the engine is released.
        timer.asyncAfter(deadline: deadline) { [weak self] in
            guard let self else { return }
            let go = self.state.withLock { st -> Bool in
                if st.timerDeadline == deadline { st.timerDeadline = nil }
                return !st.stopped
            }
            guard go else { return }
            self.evaluateDue()
            self.scheduleTimer()
        }
    }

    /// Stops evaluating; the timer's wake-ups do nothing from now on.
    func stop() {
        state.withLock { $0.stopped = true }
    }
}
