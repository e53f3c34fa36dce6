import Foundation
import Glibc
import JourneyCore
import JourneyStore
import Synchronization

// Scenario: queries through the JourneyEngine API, in-process.
//
//   JourneyBench queries --data DIR --ids-from BASE.ndjson --appends EXTRA.ndjson [--runs R] [--seconds S]
//
// DIR is a store (e.g. made by `journeyd import BASE.ndjson`). First the default funnel and the
// full at-risk list are timed on it, R times each; then `handoff` and `patient` latencies are
// sampled from one thread while another appends EXTRA's events in batches of 100 with durable
// commits (fsync per batch), for at most S seconds or until EXTRA is used up.

func queriesScenario(_ args: Arguments) throws {
    let dir = args.required("data")
    let runs = args.int("runs", 3)
    let maxSeconds = args.double("seconds", 5)
    let ids = sampleSubjects(readLines(args.required("ids-from")), count: 1000)
    let extra = try readLines(args.required("appends")).map { try EventParser.parse($0) }
    guard !ids.isEmpty else { fail("no ids to query") }

    let engine = try JourneyEngine(directory: dir)
    let events = Int(engine.log.lastPosition)
    let asOf = Clock.nowMs()

    // The default funnel (SPEC §3.4) and the whole at-risk list, on the store as given.
    var funnelTimes: [Double] = []
    var groups = 0
    for _ in 0..<runs {
        var report: FunnelReport?
        funnelTimes.append(try seconds { report = try engine.funnel(FunnelQuery()) })
        groups = report?.groups.count ?? 0
    }
    var f = Result("funnel_default")
    f.set("events", events)
    f.set("groups", groups)
    f.set("runs", runs)
    f.set("p50_ms", percentile(funnelTimes, 0.5) * 1000, digits: 2)
    f.set("max_ms", (funnelTimes.max() ?? 0) * 1000, digits: 2)
    f.print()

    var riskTimes: [Double] = []
    var atRisk = 0
    for _ in 0..<runs {
        var n = 0
        riskTimes.append(try seconds {
            var after: String?
            repeat {
                let page = try engine.atRisk(asOf: asOf, limit: 1000, after: after, as: "bench")
                n += page.patients.count
                after = page.next
            } while after != nil
        })
        atRisk = n
    }
    var r = Result("at_risk_list")
    r.set("events", events)
    r.set("patients", atRisk)
    r.set("page_size", 1000)
    r.set("runs", runs)
    r.set("p50_ms", percentile(riskTimes, 0.5) * 1000, digits: 2)
    r.set("max_ms", (riskTimes.max() ?? 0) * 1000, digits: 2)
    r.print()

    // One `at_risk` request: the first page of 100.
    var pageTimes: [Double] = []
    for _ in 0..<runs {
        pageTimes.append(try seconds { _ = try engine.atRisk(asOf: asOf, limit: 100, after: nil, as: "bench") })
    }
    var page = Result("at_risk_page")
    page.set("events", events)
    page.set("page_size", 100)
    page.set("runs", runs)
    page.set("p50_ms", percentile(pageTimes, 0.5) * 1000, digits: 2)
    page.set("max_ms", (pageTimes.max() ?? 0) * 1000, digits: 2)
    page.print()

    // handoff / patient while appends run.
    let shared = AppendProgress()
    let batches = stride(from: 0, to: extra.count, by: 100).map { Array(extra[$0..<Swift.min($0 + 100, extra.count)]) }
    let writer = Thread {
        let t = seconds {
            for b in batches {
                guard shared.running.load(ordering: .relaxed) else { break }
                do {
                    _ = try engine.append(b)
                } catch {
                    note("append failed: \(error)")
                    break
                }
                shared.events.add(b.count, ordering: .relaxed)
            }
        }
        shared.finish(seconds: t)
    }
    var handoff: [Double] = []
    var patient: [Double] = []
    var picker = Picker()
    let started = now()
    writer.start()
    var i = 0
    while shared.running.load(ordering: .relaxed) && now() - started < maxSeconds {
        let id = ids[picker.next(ids.count)]
        let a = now()
        if i & 1 == 0 {
            _ = try engine.handoff(id: id, asOf: asOf, as: "bench")
            handoff.append(now() - a)
        } else {
            _ = try engine.patient(id: id, asOf: asOf, as: "bench")
            patient.append(now() - a)
        }
        i += 1
    }
    let appendRate = shared.stopAndWait()
    for (name, samples) in [("handoff_inprocess", handoff), ("patient_inprocess", patient)] {
        var q = Result(name)
        q.set("events", events)
        q.setLatencies(samples)
        q.set("concurrent_append_events_per_s", appendRate, digits: 0)
        q.set("append_batch", 100)
        q.print()
    }
}

/// Progress of a background appender: a stop flag, events appended, and its duration.
final class AppendProgress: Sendable {
    let running = Atomic<Bool>(true)
    let events = Atomic<Int>(0)
    private let elapsed = Mutex<Double?>(nil)

    func finish(seconds: Double) {
        elapsed.withLock { $0 = seconds }
        running.store(false, ordering: .relaxed)
    }

    /// Stops the appender, waits for it, and returns its rate in events/s.
    func stopAndWait() -> Double {
        running.store(false, ordering: .relaxed)
        while true {
            if let t = elapsed.withLock({ $0 }) { return Double(events.load(ordering: .relaxed)) / Swift.max(1e-9, t) }
            usleep(1000)
        }
    }
}
