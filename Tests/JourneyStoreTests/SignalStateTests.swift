import JourneyCore
import Testing
@testable import JourneyStore

private let day: Int64 = 86_400_000
private let t0: Int64 = 1_700_000_000_000

// The signalled state is read back from the stored signals at open; the signals of a full
// evaluation are raised from snapshots taken on several threads, in one order.

@Suite("Signal state", .serialized)
struct SignalStateTests {
    /// Stores `entries` as signals, numbered on from the last stored one.
    private func storeSignals(_ log: EventLog, _ entries: [String]) {
        var wrote = false
        _ = log.appendGroup(entries: [], audit: [], signals: entries.map { Array($0.utf8) }, wrote: &wrote)
        #expect(wrote)
    }

    @Test("the state is what the stored signals say, whatever their layout; an entry that is no signal stops the open")
    func stateFromStoredSignals() throws {
        let dir = StoreTestDirectory()
        let clock = ManualClock(t0 + 30 * day)
        do {
            let e = try JourneyEngine(directory: dir.path, clock: clock)
            _ = try e.append([Event(id: "c1", type: .cancellation, subject: "a", at: t0),
                              Event(id: "n1", type: .noShow, subject: "b", at: t0)])
            e.settleSignals()
            #expect(try e.log.lastSignalSeq() == 2)
        }
        do {
            let log = try EventLog(directory: dir.path)
            storeSignals(log, [
                // As the store writes them: an id with escapes, entered then left.
                #"{"at":"2026-01-01T00:00:00.000Z","patient":"q\"1\\\n","signal":"risk_entered","risk":"overdue","stage":"active","contactable":["sms"]}"#,
                #"{"at":"2026-01-01T00:00:00.000Z","patient":"q\"1\\\n","signal":"risk_entered","risk":"lapsed","stage":"lapsed","contactable":[]}"#,
                #"{"at":"2026-01-02T00:00:00.000Z","patient":"q\"1\\\n","signal":"risk_left","risk":"overdue","stage":"lapsed","contactable":[]}"#,
                // Another layout of the same object, and a left of what was never entered.
                #"{ "patient": "b", "at": "1700000000000", "signal": "risk_left", "risk": "no_show_not_rebooked", "stage": "prospect", "contactable": [] }"#,
                #"{"at":"2026-01-02T00:00:00.000Z","patient":"z","signal":"risk_left","risk":"lapsed","stage":"prospect","contactable":[]}"#,
            ])
            #expect(try SignalEvaluator.signalledState(log) == ["a": [.cancelledNotRebooked], "q\"1\\\n": [.lapsed]])
            storeSignals(log, [#"{"at":"2026-01-02T00:00:00.000Z","patient":"z","signal":"risk_gone","risk":"lapsed","stage":"prospect","contactable":[]}"#])
            #expect(try log.lastSignalSeq() == 8)
            do {
                _ = try SignalEvaluator.signalledState(log)
                Issue.record("read a stored entry that is no signal")
            } catch {
                #expect(error.code == .corrupt)
                #expect(error.context.position == 8)
                #expect(error.description.contains("signal 8 is not a signal object"))
            }
        }
        do {
            _ = try JourneyEngine(directory: dir.path, clock: clock)
            Issue.record("opened a store with a stored entry that is no signal")
        } catch let error as StoreError {
            #expect(error.code == .corrupt)
            #expect(error.description.contains("signal 8 is not a signal object"))
        }
    }

    @Test("a full evaluation raises the same signals in the same order on one thread as on several")
    func parallelEvaluationIsSerial() throws {
        // 1500 patients, each with a visit on day 0; a third visit again on day 200, a fifth
        // cancel on day 300. At day 1 nothing holds; at day 367 the day-0 visits are more than a
        // year old (lapsed: 1000 patients), and the cancellations 67 days (300).
        let n = 1500
        var events: [Event] = []
        for i in 0..<n {
            let p = "p\(i)"
            events.append(Event(id: "v\(i)", type: .visit, subject: p, at: t0 + Int64(i)))
            if i % 3 == 0 { events.append(Event(id: "w\(i)", type: .visit, subject: p, at: t0 + 200 * day)) }
            if i % 5 == 0 { events.append(Event(id: "c\(i)", type: .cancellation, subject: p, at: t0 + 300 * day)) }
        }
        func evaluate(parts: Int) throws -> [Signal] {
            let dir = StoreTestDirectory()
            let clock = ManualClock(t0 + day)
            let e = try JourneyEngine(directory: dir.path, durability: .relaxed, clock: clock)
            _ = try e.append(events)
            e.settleSignals()
            #expect(try e.log.lastSignalSeq() == 0)
            let evaluator = try #require(e.signalEvaluator)
            evaluator.waitForQueued()
            evaluator.setParts(parts)
            clock.set(t0 + 367 * day)
            evaluator.evaluateAll()
            e.settleSignals()
            return try e.log.signals(after: 0)
        }
        let serial = try evaluate(parts: 1)
        let lapsed = serial.filter { $0.kind == .riskEntered && $0.risk == .lapsed }
        let cancelled = serial.filter { $0.kind == .riskEntered && $0.risk == .cancelledNotRebooked }
        #expect(lapsed.count == 1000 && cancelled.count == 300 && serial.count == 1300)
        #expect(Set(lapsed.map(\.patient)) == Set((0..<n).filter { $0 % 3 != 0 }.map { "p\($0)" }))
        #expect(lapsed.first { $0.patient == "p1" }?.at == t0 + 1 + 365 * day + 1)
        #expect(cancelled.first { $0.patient == "p0" }?.at == t0 + 314 * day)
        for parts in [2, 3, 8] {
            #expect(try evaluate(parts: parts) == serial, "\(parts) threads")
        }
    }
}
