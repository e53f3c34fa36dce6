import Dispatch
import Foundation
import Glibc
import JourneyClient
import JourneyCore
import JourneyProtocol
import JourneyStore
import Synchronization

/// What a crash loop runs: `cycles` times, concurrent appends and queries against a real
/// `journeyd serve`, a kill at a seeded random moment, a restart, and the checks of SPEC §2/§4.
struct CrashLoopOptions: Sendable {
    /// The `journeyd` executable.
    var journeyd: String
    /// A work directory: the store goes in `store/`, the daemon's stderr in `daemon.log`.
    var directory: String
    var cycles = 20
    var seed: UInt64 = 1
    /// Concurrent appending clients (one more client queries).
    var clients = 4
    /// Events per append request, 1 to this.
    var maxBatch = 20
    /// Append requests every other appending client keeps in flight (pipelining); the others
    /// wait for each answer.
    var window = 8
    /// How long a cycle appends before the kill, in ms: drawn from `minLoadMs…maxLoadMs`.
    var minLoadMs = 0
    var maxLoadMs = 2000
    /// Ids whose `patient` and `handoff` answers are compared after each restart.
    var sampleIds = 25

    var storePath: String { directory + "/store" }
    var daemonLogPath: String { directory + "/daemon.log" }
}

/// How one cycle ended the daemon's life.
enum KillMode: Sendable, CustomStringConvertible {
    /// SIGKILL after `ms` of load (counted from the cycle's first acknowledged append).
    case killUnderLoad(ms: Int)
    /// SIGTERM after `ms` of load (a clean stop: checkpoint saved, exit 0 expected).
    case termUnderLoad(ms: Int)
    /// SIGKILL under load, then SIGKILL again `restartMs` after the restart began (while it
    /// restores or rebuilds its projections).
    case killTwice(ms: Int, restartMs: Int)

    var description: String {
        switch self {
        case .killUnderLoad(let ms): "SIGKILL after \(ms) ms of load"
        case .termUnderLoad(let ms): "SIGTERM after \(ms) ms of load"
        case .killTwice(let ms, let r): "SIGKILL after \(ms) ms of load, again \(r) ms into the restart"
        }
    }
}

/// The figures of one cycle.
struct CycleReport: Sendable {
    var cycle: Int
    var mode: KillMode
    var acknowledged = 0
    var stored = 0
    /// Events committed whose acknowledgement the kill cut off (retried in the next cycle).
    var committedUnacknowledged = 0
    var queries = 0
    var comparedAnswers = 0
    var restartMs = 0
    var failures: [String] = []
}

/// The whole run.
struct CrashLoopReport: Sendable {
    var cycles: [CycleReport] = []
    var failures: [String] { cycles.flatMap { c in c.failures.map { "cycle \(c.cycle): \($0)" } } }
    var isClean: Bool { cycles.allSatisfy(\.failures.isEmpty) }
}

/// The client side's record of what the daemon acknowledged, shared by the client threads.
final class Ledger: Sendable {
    struct Batch: Sendable {
        var events: [Event]
        /// The acknowledged positions, once acknowledged.
        var positions: [UInt64]
    }

    struct State: ~Copyable {
        var generator: PracticeGenerator
        var nextBatch = 0
        /// id → acknowledged position.
        var acknowledged: [String: UInt64] = [:]
        /// Subjects of acknowledged events, for queries.
        var subjects: [String] = []
        var subjectSet: Set<String> = []
        /// Recently acknowledged batches, for duplicate resends.
        var recent: [Batch] = []
        /// Sent and not answered (the daemon died): retried by the next cycle.
        var pending: [Int: [Event]] = [:]
        var retry: [[Event]] = []
        var queries = 0
        var failures: [String] = []
    }

    let state: Mutex<State>

    init(seed: UInt64) {
        state = Mutex(State(generator: PracticeGenerator(.init(events: .max, seed: seed))))
    }

    func fail(_ message: String) {
        state.withLock { $0.failures.append(message) }
    }

    /// The next batch to send: a retry of one the last kill cut off, else `count` new events.
    func take(_ count: Int) -> (id: Int, events: [Event]) {
        state.withLock { s in
            let events: [Event]
            if let r = s.retry.popLast() {
                events = r
            } else {
                var out: [Event] = []
                for _ in 0..<count { if let e = s.generator.next() { out.append(e) } }
                events = out
            }
            let id = s.nextBatch
            s.nextBatch += 1
            s.pending[id] = events
            return (id, events)
        }
    }

    /// Records an acknowledged batch.
    func acknowledge(_ id: Int, _ events: [Event], positions: [UInt64], duplicates: [Int]) {
        state.withLock { s in
            s.pending[id] = nil
            guard positions.count == events.count else {
                s.failures.append("an append of \(events.count) events answered \(positions.count) positions")
                return
            }
            // A batch is atomic: after a kill it was committed whole (all duplicates) or not at all.
            if !duplicates.isEmpty && duplicates.count != events.count {
                s.failures.append("a retried batch came back partly duplicate (\(duplicates) of \(events.count)): not atomic")
            }
            for (e, p) in zip(events, positions) {
                if let earlier = s.acknowledged[e.id], earlier != p {
                    s.failures.append("id \(e.id) acknowledged at position \(earlier), then at \(p)")
                }
                s.acknowledged[e.id] = p
                if s.subjectSet.insert(e.subject).inserted { s.subjects.append(e.subject) }
            }
            s.recent.append(Batch(events: events, positions: positions))
            if s.recent.count > 200 { s.recent.removeFirst(100) }
        }
    }

    /// An acknowledged batch to send again (it must answer all duplicates at the same positions).
    func recentBatch(_ pick: UInt64) -> Batch? {
        state.withLock { s in s.recent.isEmpty ? nil : s.recent[Int(pick % UInt64(s.recent.count))] }
    }

    func subject(_ pick: UInt64) -> String? {
        state.withLock { s in s.subjects.isEmpty ? nil : s.subjects[Int(pick % UInt64(s.subjects.count))] }
    }

    /// Moves the unanswered batches to the retry queue; answers their ids.
    func requeuePending() -> Set<String> {
        state.withLock { s in
            var ids: Set<String> = []
            for (_, events) in s.pending.sorted(by: { $0.key < $1.key }) {
                s.retry.insert(events, at: 0)
                for e in events { ids.insert(e.id) }
            }
            s.pending = [:]
            return ids
        }
    }

    func countQuery() { state.withLock { $0.queries += 1 } }
}

/// Runs the crash loop.
struct CrashLoop {
    let options: CrashLoopOptions
    /// Progress lines.
    let say: @Sendable (String) -> Void

    func run() throws -> CrashLoopReport {
        signal(SIGPIPE, SIG_IGN)
        mkdir(options.directory, 0o700)
        var rng = SplitMix64(seed: options.seed)
        let ledger = Ledger(seed: options.seed)
        var report = CrashLoopReport()
        var daemon = try DaemonProcess(journeyd: options.journeyd, directory: options.storePath,
                                       logPath: options.daemonLogPath)
        guard daemon.waitUntilServing() else {
            throw CrashLoopError("journeyd serve did not start; see \(options.daemonLogPath)")
        }
        for cycle in 1...max(1, options.cycles) {
            let span = UInt64(max(0, options.maxLoadMs - options.minLoadMs) + 1)
            let loadMs = options.minLoadMs + Int(rng.next() % span)
            let mode: KillMode = switch rng.next() % 8 {
            case 0: .termUnderLoad(ms: loadMs)
            case 1: .killTwice(ms: loadMs, restartMs: Int(rng.next() % 300))
            default: .killUnderLoad(ms: loadMs)
            }
            var c = CycleReport(cycle: cycle, mode: mode)
            let queriesBefore = ledger.state.withLock { $0.queries }
            let acknowledgedBefore = ledger.state.withLock { $0.acknowledged.count }

            // Load, then the kill.
            let stop = StopFlag()
            let group = DispatchGroup()
            let socket = daemon.socketPath
            for k in 0...options.clients {
                let seed = rng.next()
                group.enter()
                let thread = Thread { [options] in
                    defer { group.leave() }
                    if k == options.clients {
                        Self.query(socket: socket, ledger: ledger, seed: seed, stop: stop)
                    } else {
                        Self.append(socket: socket, ledger: ledger, seed: seed, maxBatch: options.maxBatch,
                                    window: k % 2 == 1 ? max(1, options.window) : 1, stop: stop)
                    }
                }
                thread.stackSize = 1 << 20
                thread.start()
            }
            // The load time counts from the cycle's first acknowledgement, so every kill lands
            // under load however slow the machine.
            let loaded = poll(timeout: .seconds(30)) {
                ledger.state.withLock { $0.acknowledged.count } > acknowledgedBefore
            }
            if !loaded { c.failures.append("no append was acknowledged within 30 s") }
            switch mode {
            case .killUnderLoad(let ms), .killTwice(let ms, _):
                usleep(UInt32(ms) * 1000)
                daemon.stop(SIGKILL)
            case .termUnderLoad(let ms):
                usleep(UInt32(ms) * 1000)
                let status = daemon.stop(SIGTERM)
                if status != 0 { c.failures.append("SIGTERM under load: exit status \(status.map(String.init) ?? "none (hung)")") }
            }
            stop.flag.store(true, ordering: .releasing)
            if group.wait(timeout: .now() + 60) == .timedOut {
                c.failures.append("client threads did not finish within 60 s of the kill")
            }
            let pending = ledger.requeuePending()

            if case .killTwice(_, let restartMs) = mode {
                let early = try DaemonProcess(journeyd: options.journeyd, directory: options.storePath,
                                              logPath: options.daemonLogPath)
                usleep(UInt32(restartMs) * 1000)
                early.stop(SIGKILL)
            }

            // Restart and check.
            let started = ContinuousClock.now
            daemon = try DaemonProcess(journeyd: options.journeyd, directory: options.storePath,
                                       logPath: options.daemonLogPath)
            guard daemon.waitUntilServing() else {
                c.failures.append("the restarted daemon did not serve; see \(options.daemonLogPath)")
                report.cycles.append(c)
                say(line(c))
                break
            }
            let elapsed = ContinuousClock.now - started
            c.restartMs = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
            check(&c, ledger: ledger, pending: pending, daemon: daemon)
            c.failures += ledger.state.withLock { s in
                defer { s.failures = [] }
                return s.failures
            }
            c.acknowledged = ledger.state.withLock { $0.acknowledged.count } - acknowledgedBefore
            c.queries = ledger.state.withLock { $0.queries } - queriesBefore
            report.cycles.append(c)
            say(line(c))
        }
        // A clean stop at the end, and the store verifies offline too.
        if daemon.isRunning {
            var last = CycleReport(cycle: report.cycles.count + 1, mode: .termUnderLoad(ms: 0))
            if let status = daemon.stop(SIGTERM), status != 0 { last.failures.append("final SIGTERM: exit status \(status)") }
            let verify = try runJourneyd(options.journeyd, ["verify", "--data", options.storePath])
            if verify.status != 0 { last.failures.append("final verify failed: \(verify.output)") }
            if !last.failures.isEmpty { report.cycles.append(last) }
        }
        return report
    }

    private func line(_ c: CycleReport) -> String {
        var s = "cycle \(c.cycle): \(c.mode); acknowledged +\(c.acknowledged), stored \(c.stored)"
        s += ", committed unacknowledged \(c.committedUnacknowledged), queries \(c.queries)"
        s += ", restart \(c.restartMs) ms, \(c.comparedAnswers) answers compared"
        s += c.failures.isEmpty ? ": ok" : ": \(c.failures.count) FAILURES\n  " + c.failures.prefix(10).joined(separator: "\n  ")
        return s
    }

    // MARK: load

    /// Appends batches until the connection fails (the kill) or `stop`, with up to `window`
    /// requests in flight; now and then resends an acknowledged batch, which must answer
    /// duplicates at the same positions. Batches sent and not answered stay pending.
    static func append(socket: String, ledger: Ledger, seed: UInt64, maxBatch: Int, window: Int, stop: StopFlag) {
        var rng = SplitMix64(seed: seed)
        guard let c = try? JourneyConnection(socketPath: socket, timeout: .seconds(30)) else { return }
        defer { c.close() }
        /// A request sent and not yet answered: a new batch (its ledger id), or a resent one.
        struct InFlight {
            var id: Int?
            var events: [Event]
            var resentPositions: [UInt64]
        }
        var inFlight: [InFlight] = []
        var next = 0
        while true {
            while inFlight.count - next < window && !stop.flag.load(ordering: .acquiring) {
                if rng.next() % 25 == 0, let old = ledger.recentBatch(rng.next()) {
                    guard (try? c.sendBytes(AppendRequest(events: old.events).line)) != nil else { return }
                    inFlight.append(InFlight(id: nil, events: old.events, resentPositions: old.positions))
                } else {
                    let (id, events) = ledger.take(1 + Int(rng.next() % UInt64(max(1, maxBatch))))
                    guard (try? c.sendBytes(AppendRequest(events: events).line)) != nil else { return }
                    inFlight.append(InFlight(id: id, events: events, resentPositions: []))
                }
            }
            guard next < inFlight.count else { return }
            let f = inFlight[next]
            next += 1
            if next == inFlight.count { inFlight.removeAll(keepingCapacity: true); next = 0 }
            guard let answer = try? c.receiveBytes() else { return }
            guard let v = try? JSONParser.parse(answer), v["ok"]?.boolValue == true else {
                ledger.fail("append refused: \(String(decoding: answer.prefix(300), as: UTF8.self))")
                return
            }
            let positions = (v["positions"]?.arrayValue ?? []).compactMap(\.int64Value).map { UInt64($0) }
            let duplicates = (v["duplicates"]?.arrayValue ?? []).compactMap(\.int64Value).map { Int($0) }
            if let id = f.id {
                ledger.acknowledge(id, f.events, positions: positions, duplicates: duplicates)
            } else if positions != f.resentPositions || duplicates.count != f.events.count {
                ledger.fail("a resent batch answered positions \(positions) duplicates \(duplicates), expected \(f.resentPositions), all duplicate")
            }
        }
    }

    /// Queries until the connection fails or `stop`: every answer is ok, or `rebuilding`.
    /// Now and then asks for a replay, so kills also land during rebuilds.
    static func query(socket: String, ledger: Ledger, seed: UInt64, stop: StopFlag) {
        var rng = SplitMix64(seed: seed)
        guard let c = try? JourneyConnection(socketPath: socket, timeout: .seconds(30)) else { return }
        defer { c.close() }
        while !stop.flag.load(ordering: .acquiring) {
            let request: String
            let pick = rng.next() % 100
            if pick < 40, let id = ledger.subject(rng.next()) {
                request = #"{"op":"\#(pick < 25 ? "patient" : "handoff")","id":\#(jsonString(id))}"#
            } else if pick < 55 {
                request = #"{"op":"funnel","by":"source"}"#
            } else if pick < 70 {
                request = #"{"op":"contacts"}"#
            } else if pick < 85 {
                request = #"{"op":"at_risk","limit":20}"#
            } else if pick < 99 {
                request = #"{"op":"stats"}"#
            } else {
                request = #"{"op":"replay"}"#
            }
            guard let answer = try? c.request(request) else { return }
            ledger.countQuery()
            guard let v = try? JSONParser.parse(answer) else {
                ledger.fail("\(request) answered invalid JSON: \(answer.prefix(300))")
                continue
            }
            if v["ok"]?.boolValue != true && v["error"]?["code"]?.stringValue != "rebuilding" {
                ledger.fail("\(request) answered \(answer.prefix(300))")
            }
        }
    }

    // MARK: checks

    /// After a restart: the log holds every acknowledged event once at its acknowledged position,
    /// positions are dense, nothing else but cut-off batches was committed, `journeyd verify` is
    /// clean, and the daemon's projections answer as a fresh fold of the log does.
    private func check(_ c: inout CycleReport, ledger: Ledger, pending: Set<String>, daemon: DaemonProcess) {
        // A generator of its own, so the kill schedule depends on the seed alone.
        var rng = SplitMix64(seed: options.seed ^ (UInt64(c.cycle) &* 0x9E37_79B9_7F4A_7C15))
        do {
            let conn = try JourneyConnection(socketPath: daemon.socketPath, timeout: .seconds(30))
            defer { conn.close() }
            // Wait for the restore or rebuild to catch up with the log.
            var stats: JSONValue?
            let caughtUp = poll(timeout: .seconds(60)) {
                stats = try? JSONParser.parse(conn.request(#"{"op":"stats"}"#))
                guard let s = stats, let last = s["last_position"]?.int64Value else { return false }
                return s["projected_position"]?.int64Value == last && s["rebuilding"]?.isNull == true
            }
            if !caughtUp { c.failures.append("projections did not catch up: \(stats?.jsonText ?? "no stats")") }

            // The log, read directly (read-only: the daemon is the store's one writer, and never
            // blocks readers).
            var folded = Projector()
            var byId: [String: UInt64] = [:]
            var names: Set<String> = []
            var maxAt: Int64 = 0
            var expected: UInt64 = 1
            do {
                let log = try EventLog(directory: options.storePath, access: .readOnly)
                try log.scan { p, view in
                    if p != expected { c.failures.append("positions not dense: \(p) follows \(expected - 1)") }
                    expected = p + 1
                    let e = try view.event()
                    if let q = byId[e.id] { c.failures.append("id \(e.id) stored twice, at \(q) and \(p)") }
                    byId[e.id] = p
                    names.insert(e.subject)
                    if let p = e.patient { names.insert(p) }
                    maxAt = max(maxAt, e.at)
                    folded.apply(e)
                    return true
                }
            }
            c.stored = byId.count
            let acknowledged = ledger.state.withLock { $0.acknowledged }
            var lost: [String] = []
            for (id, p) in acknowledged {
                guard let q = byId[id] else { lost.append(id); continue }
                if q != p { c.failures.append("id \(id) acknowledged at position \(p), stored at \(q)") }
            }
            if !lost.isEmpty { c.failures.append("\(lost.count) acknowledged events lost, e.g. \(lost.sorted().prefix(5))") }
            let extra = byId.keys.filter { acknowledged[$0] == nil }
            c.committedUnacknowledged = extra.count
            let phantom = extra.filter { !pending.contains($0) }
            if !phantom.isEmpty { c.failures.append("\(phantom.count) stored events were never sent, e.g. \(phantom.prefix(5))") }

            let verify = try runJourneyd(options.journeyd, ["verify", "--data", options.storePath])
            if verify.status != 0 { c.failures.append("journeyd verify: \(verify.output)") }

            // Stats, then the answers of the restarted daemon against the fresh fold.
            if let s = stats {
                if s["events"]?.int64Value != Int64(byId.count) {
                    c.failures.append("stats events \(s["events"]?.jsonText ?? "-") but \(byId.count) stored")
                }
                if s["clusters"]?.int64Value != Int64(folded.clusterCount) {
                    c.failures.append("stats clusters \(s["clusters"]?.jsonText ?? "-") but a fresh fold has \(folded.clusterCount)")
                }
            }
            let asOf = maxAt + 86_400_000
            var sample = names.sorted()
            if sample.count > options.sampleIds {
                var picked: [String] = []
                for _ in 0..<options.sampleIds { picked.append(sample.remove(at: Int(rng.next() % UInt64(sample.count)))) }
                sample = picked
            }
            sample.append("never-seen-id")
            func compare(_ request: String, _ expected: ((inout JSONWriter) -> Void)?) {
                c.comparedAnswers += 1
                guard let answer = try? conn.request(request), let got = try? JSONParser.parse(answer) else {
                    c.failures.append("\(request): no answer")
                    return
                }
                guard let expected else {
                    if got["error"]?["code"]?.stringValue != "not_found" {
                        c.failures.append("\(request) answered \(answer.prefix(300)), a fresh fold finds nothing")
                    }
                    return
                }
                var w = JSONWriter()
                expected(&w)
                let want = try? JSONParser.parse(w.bytes)
                let members = got.objectValue?.filter { $0.key != "ok" }
                if got["ok"]?.boolValue != true || members != want?.objectValue {
                    c.failures.append("\(request) answered \(answer.prefix(400)); a fresh fold answers \(w.string.prefix(400))")
                }
            }
            for id in sample {
                let key = jsonString(id)
                let journey = folded.patient(id: id, asOf: asOf)
                compare(#"{"op":"patient","id":\#(key),"as_of":\#(asOf)}"#, journey.map { j in { j.writeJSON(into: &$0) } })
                let handoff = folded.handoff(id: id, asOf: asOf)
                compare(#"{"op":"handoff","id":\#(key),"as_of":\#(asOf)}"#, handoff.map { h in { h.writeJSON(into: &$0) } })
            }
            let funnel = folded.funnel(FunnelQuery())
            compare(#"{"op":"funnel"}"#) { funnel.writeJSON(into: &$0) }
            if let q = try? FunnelQuery(windowMs: 7 * 86_400_000, by: .source) {
                let bySource = folded.funnel(q)
                compare(#"{"op":"funnel","by":"source","window_s":604800}"#) { bySource.writeJSON(into: &$0) }
            }
            let contacts = folded.contacts()
            compare(#"{"op":"contacts"}"#) { contacts.writeJSON(into: &$0) }
            let atRisk = folded.atRisk(asOf: asOf, limit: 50, after: nil)
            compare(#"{"op":"at_risk","as_of":\#(asOf),"limit":50}"#) { atRisk.writeJSON(into: &$0) }
        } catch {
            c.failures.append("check: \(error)")
        }
    }
}

/// Tells the client threads to finish.
final class StopFlag: Sendable {
    let flag = Atomic<Bool>(false)
}

struct CrashLoopError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// `s` as a JSON string literal.
func jsonString(_ s: String) -> String {
    var w = JSONWriter()
    w.string(s)
    return w.string
}
