import JourneyCore
import Testing
@testable import JourneyStore

private let day: Int64 = 86_400_000
private let t0: Int64 = 1_700_000_000_000

private func ev(_ id: String, _ type: EventType, _ subject: String, _ at: Int64, message: String? = nil,
                patient: String? = nil, appointment: String? = nil) -> Event {
    Event(id: id, type: type, subject: subject, at: at, appointment: appointment, message: message, patient: patient)
}

/// A signal as compared in tests: kind, patient, risk, at.
private struct S: Hashable, CustomStringConvertible {
    var kind: Signal.Kind
    var patient: String
    var risk: Risk
    var at: Int64
    var description: String { "\(kind.rawValue) \(patient) \(risk.name) @\(at)" }
}

private func entered(_ p: String, _ r: Risk, _ at: Int64) -> S { S(kind: .riskEntered, patient: p, risk: r, at: at) }
private func left(_ p: String, _ r: Risk, _ at: Int64) -> S { S(kind: .riskLeft, patient: p, risk: r, at: at) }

/// The signals stored after `after`, once what was folded has raised its signals.
private func stored(_ e: JourneyEngine, after: UInt64 = 0) throws -> [S] {
    e.settleSignals()
    return try e.log.signals(after: after).map { S(kind: $0.kind, patient: $0.patient, risk: $0.risk, at: $0.at) }
}

@Suite("Signals", .serialized)
struct SignalTests {
    @Test("cancelled_not_rebooked enters from a cancellation 14 days old and leaves with a booking")
    func cancellationFromEvents() throws {
        let dir = StoreTestDirectory()
        let clock = ManualClock(t0 + 20 * day)
        let e = try JourneyEngine(directory: dir.path, durability: .relaxed, clock: clock)
        _ = try e.append([ev("b1", .booking, "p1", t0, appointment: "a1"), ev("c1", .cancellation, "p1", t0 + day, appointment: "a1")])
        // 19 days old at the clock: entered at the moment it became 14 days old.
        #expect(try stored(e) == [entered("p1", .cancelledNotRebooked, t0 + 15 * day)])
        _ = try e.append([ev("b2", .booking, "p1", t0 + 19 * day, appointment: "a2")])
        #expect(try stored(e, after: 1) == [left("p1", .cancelledNotRebooked, t0 + 19 * day)])
        let s = try e.log.signals(after: 0)
        #expect(s.map(\.seq) == [1, 2])
        #expect(s[0].stage == .booked && s[0].contactable == [])
    }

    @Test("no_show_not_rebooked, lapsed, overdue and declining_engagement enter and leave from events")
    func eachRuleFromEvents() throws {
        let dir = StoreTestDirectory()
        let clock = ManualClock(t0 + 400 * day)
        let e = try JourneyEngine(directory: dir.path, durability: .relaxed, clock: clock)
        // no-show 10 days before the clock's now: 7 days passed at t0 + 397 d.
        _ = try e.append([ev("n1", .noShow, "ns", t0 + 390 * day)])
        // One visit 400 days ago: lapsed since 365 days and 1 ms after it.
        _ = try e.append([ev("v1", .visit, "lp", t0)])
        // Visits at 0, 10, 20 days: overdue once more than 20 days passed after the last (and lapsed).
        _ = try e.append([ev("o1", .visit, "od", t0 + 300 * day), ev("o2", .visit, "od", t0 + 310 * day), ev("o3", .visit, "od", t0 + 320 * day)])
        // Four sends, the first opened, the last three not.
        _ = try e.append((1...4).map { ev("m\($0)", .messageSent, "de", t0 + Int64($0) * day, message: "m\($0)") }
            + [ev("mo1", .messageOpened, "de", t0 + 1 * day + 1, message: "m1")])
        #expect(try stored(e) == [
            entered("ns", .noShowNotRebooked, t0 + 397 * day),
            entered("lp", .lapsed, t0 + 365 * day + 1),
            entered("od", .overdue, t0 + 340 * day + 1),
            entered("de", .decliningEngagement, t0 + 4 * day),
        ])
        _ = try e.append([ev("n2", .booking, "ns", t0 + 395 * day)])
        _ = try e.append([ev("v2", .visit, "lp", t0 + 399 * day)])
        _ = try e.append([ev("o4", .visit, "od", t0 + 399 * day)])
        _ = try e.append([ev("mo4", .messageOpened, "de", t0 + 398 * day, message: "m4")])
        #expect(try stored(e, after: 4) == [
            left("ns", .noShowNotRebooked, t0 + 395 * day),
            left("lp", .lapsed, t0 + 399 * day),
            left("od", .overdue, t0 + 399 * day),
            left("de", .decliningEngagement, t0 + 398 * day),
        ])
    }

    @Test("elapsed-time rules enter with no event when the clock passes their threshold, not a millisecond before")
    func elapsedTime() throws {
        let dir = StoreTestDirectory()
        let clock = ManualClock(t0 + day)
        let e = try JourneyEngine(directory: dir.path, durability: .relaxed, clock: clock)
        _ = try e.append([
            ev("c1", .cancellation, "cx", t0),
            ev("n1", .noShow, "nx", t0),
            ev("v1", .visit, "ov", t0 - 20 * day), ev("v2", .visit, "ov", t0 - 10 * day), ev("v3", .visit, "ov", t0),
        ])
        #expect(try stored(e) == [])
        clock.set(t0 + 7 * day - 1)
        e.evaluateDueSignals()
        #expect(try stored(e) == [])
        clock.set(t0 + 7 * day)
        e.evaluateDueSignals()
        #expect(try stored(e) == [entered("nx", .noShowNotRebooked, t0 + 7 * day)])
        // Overdue: more than 2 × 10 days after the last visit.
        clock.set(t0 + 14 * day)
        e.evaluateDueSignals()
        #expect(try stored(e, after: 1) == [entered("cx", .cancelledNotRebooked, t0 + 14 * day)])
        clock.set(t0 + 20 * day)
        e.evaluateDueSignals()
        #expect(try stored(e, after: 2) == [])
        clock.set(t0 + 20 * day + 1)
        e.evaluateDueSignals()
        #expect(try stored(e, after: 2) == [entered("ov", .overdue, t0 + 20 * day + 1)])
        // Lapsed: 365 days and 1 ms after the last visit; overdue still holds.
        clock.set(t0 + 365 * day)
        e.evaluateDueSignals()
        #expect(try stored(e, after: 3) == [])
        clock.set(t0 + 365 * day + 1)
        e.evaluateDueSignals()
        #expect(try stored(e, after: 3) == [entered("ov", .lapsed, t0 + 365 * day + 1)])
    }

    @Test("an event dated later than the clock counts from its at on")
    func futureEvent() throws {
        let dir = StoreTestDirectory()
        let clock = ManualClock(t0 + 20 * day)
        let e = try JourneyEngine(directory: dir.path, durability: .relaxed, clock: clock)
        _ = try e.append([ev("c1", .cancellation, "p", t0)])
        #expect(try stored(e) == [entered("p", .cancelledNotRebooked, t0 + 14 * day)])
        // A booking dated 5 days ahead: nothing changes until the clock reaches it.
        _ = try e.append([ev("b1", .booking, "p", t0 + 25 * day)])
        #expect(try stored(e, after: 1) == [])
        clock.set(t0 + 25 * day - 1)
        e.evaluateDueSignals()
        #expect(try stored(e, after: 1) == [])
        clock.set(t0 + 25 * day)
        e.evaluateDueSignals()
        #expect(try stored(e, after: 1) == [left("p", .cancelledNotRebooked, t0 + 25 * day)])
    }

    @Test("a late event that removes a risk retroactively raises risk_left at its at")
    func lateEvent() throws {
        let dir = StoreTestDirectory()
        let clock = ManualClock(t0 + 30 * day)
        let e = try JourneyEngine(directory: dir.path, durability: .relaxed, clock: clock)
        _ = try e.append([ev("c1", .cancellation, "p", t0)])
        #expect(try stored(e) == [entered("p", .cancelledNotRebooked, t0 + 14 * day)])
        _ = try e.append([ev("b-late", .booking, "p", t0 + 5 * day)])
        #expect(try stored(e, after: 1) == [left("p", .cancelledNotRebooked, t0 + 5 * day)])
    }

    @Test("identify merging two clusters moves their risks to the new canonical id")
    func identifyMoves() throws {
        let dir = StoreTestDirectory()
        let clock = ManualClock(t0 + 30 * day)
        let e = try JourneyEngine(directory: dir.path, durability: .relaxed, clock: clock)
        _ = try e.append([ev("c1", .cancellation, "anon", t0), ev("n1", .noShow, "p1", t0 + day)])
        #expect(try stored(e) == [
            entered("anon", .cancelledNotRebooked, t0 + 14 * day),
            entered("p1", .noShowNotRebooked, t0 + 8 * day),
        ].sorted { $0.patient < $1.patient })
        _ = try e.append([ev("i1", .identify, "anon", t0 + 2 * day, patient: "p1")])
        #expect(try stored(e, after: 2) == [
            left("anon", .cancelledNotRebooked, t0 + 2 * day),
            entered("p1", .cancelledNotRebooked, t0 + 14 * day),
        ])
        #expect(e.signalledRisks == ["p1": [.cancelledNotRebooked, .noShowNotRebooked]])
    }

    @Test("unlink splitting a cluster moves its risks back: left under the canonical id, entered under the split-off id")
    func unlinkMovesBack() throws {
        let dir = StoreTestDirectory()
        let clock = ManualClock(t0 + 30 * day)
        let e = try JourneyEngine(directory: dir.path, durability: .relaxed, clock: clock)
        _ = try e.append([ev("c1", .cancellation, "anon", t0), ev("n1", .noShow, "p1", t0 + day),
                          ev("i1", .identify, "anon", t0 + 2 * day, patient: "p1")])
        let before = try stored(e).count  // (settles the evaluation of what was folded)
        #expect(e.signalledRisks == ["p1": [.cancelledNotRebooked, .noShowNotRebooked]])
        // The link was wrong: withdrawn after it was made. The cancellation goes back to anon.
        _ = try e.append([ev("u1", .unlink, "anon", t0 + 3 * day, patient: "p1")])
        #expect(Set(try stored(e, after: UInt64(before))) == [
            left("p1", .cancelledNotRebooked, t0 + 3 * day),
            entered("anon", .cancelledNotRebooked, t0 + 14 * day),
        ])
        #expect(e.signalledRisks == ["p1": [.noShowNotRebooked], "anon": [.cancelledNotRebooked]])
        // And the pairs entered and not left equal at_risk.
        let page = try e.atRisk(asOf: t0 + 30 * day, limit: 100, as: "signal-tests")
        #expect(page.patients.map(\.patient) == ["anon", "p1"])
    }

    @Test("a consumer resumes after its acknowledged seq across a restart; an ack never moves back")
    func ackThenRestart() async throws {
        let dir = StoreTestDirectory()
        let clock = ManualClock(t0 + 30 * day)
        do {
            let e = try JourneyEngine(directory: dir.path, clock: clock)
            _ = try await e.append([ev("c1", .cancellation, "a", t0), ev("c2", .cancellation, "b", t0), ev("c3", .cancellation, "c", t0)])
            e.settleSignals()
            let stream = try e.signals(consumer: "outreach", as: "test")
            var it = stream.makeAsyncIterator()
            let first = try await it.next()
            let second = try await it.next()
            #expect(first?.seq == 1 && first?.patient == "a")
            #expect(second?.seq == 2 && second?.patient == "b")
            try stream.ack(2)
            #expect(try e.ackSignals(consumer: "outreach", seq: 1).acked == 2)
            #expect(throws: StoreError.self) { try e.ackSignals(consumer: "outreach", seq: 4) }
            #expect(throws: StoreError.self) { try e.ackSignals(consumer: "nobody", seq: 1) }
            #expect(throws: StoreError.self) { try e.signals(consumer: "", as: "test") }
        }
        let e = try JourneyEngine(directory: dir.path, clock: clock)
        #expect(try e.signalConsumers().map { "\($0.name)=\($0.acked)" } == ["outreach=2"])
        var it = try e.signals(consumer: "outreach", as: "test").makeAsyncIterator()
        let next = try await it.next()
        #expect(next?.seq == 3 && next?.patient == "c")
        // `from` overrides the acknowledgement.
        var again = try e.signals(consumer: "outreach", from: 0, as: "test").makeAsyncIterator()
        #expect(try await again.next()?.seq == 1)
    }

    @Test("a stream follows signals stored after it started")
    func streamFollows() async throws {
        let dir = StoreTestDirectory()
        let clock = ManualClock(t0 + 30 * day)
        let e = try JourneyEngine(directory: dir.path, durability: .relaxed, clock: clock)
        let stream = try e.signals(consumer: "live", as: "test")
        let reader = Task { () -> [UInt64] in
            var seqs: [UInt64] = []
            for try await s in stream {
                seqs.append(s.seq)
                if seqs.count == 2 { break }
            }
            return seqs
        }
        _ = try await e.append([ev("c1", .cancellation, "a", t0)])
        _ = try await e.append([ev("c2", .cancellation, "b", t0)])
        #expect(try await reader.value == [1, 2])
    }

    @Test("signals lost between a fold and their commit are raised at the next open, once")
    func crashBetweenFoldAndSignals() throws {
        let dir = StoreTestDirectory()
        let clock = ManualClock(t0 + 30 * day)
        do {
            let e = try JourneyEngine(directory: dir.path, clock: clock)
            _ = try e.append([ev("c1", .cancellation, "a", t0)])
            #expect(try stored(e) == [entered("a", .cancelledNotRebooked, t0 + 14 * day)])
            e.writes.setDroppingSignals(true)
            _ = try e.append([ev("b1", .booking, "a", t0 + 20 * day), ev("c2", .cancellation, "b", t0 + day)])
            e.settleSignals()
            #expect(try e.log.lastSignalSeq() == 1)
            // Released without its signals stored, as a kill -9 after the fold would leave it.
        }
        do {
            let e = try JourneyEngine(directory: dir.path, clock: clock)
            // Raised at open: the latest event counted dates the change, an elapsed-time entry its threshold.
            #expect(try stored(e, after: 1) == [
                left("a", .cancelledNotRebooked, t0 + 20 * day),
                entered("b", .cancelledNotRebooked, t0 + 15 * day),
            ])
        }
        let e = try JourneyEngine(directory: dir.path, clock: clock)
        #expect(try e.log.lastSignalSeq() == 3)
        try e.rebuild()
        e.settleSignals()
        #expect(try e.log.lastSignalSeq() == 3)
        #expect(e.signalledRisks == ["b": [.cancelledNotRebooked]])
    }

    @Test("on a generated practice, entered-not-left pairs equal at_risk at the clock's now; a rebuild raises nothing again")
    func practiceMatchesAtRisk() throws {
        let dir = StoreTestDirectory()
        let events = Array(PracticeGenerator(.init(events: 4000, seed: 11, patientsPerDay: 20)))
        let end = events.map(\.at).max()! + 1
        let clock = ManualClock(end)
        let e = try JourneyEngine(directory: dir.path, durability: .relaxed, clock: clock)
        var i = 0
        while i < events.count {
            _ = try e.append(Array(events[i..<min(events.count, i + 100)]))
            i += 100
        }
        e.settleSignals()
        var pairs = Set<String>()
        for s in try e.log.signals(after: 0) {
            let key = "\(s.patient) \(s.risk.name)"
            if s.kind == .riskEntered { #expect(pairs.insert(key).inserted) } else { #expect(pairs.remove(key) != nil) }
        }
        let page = try e.atRisk(asOf: end, limit: 100_000, as: "signal-tests")
        let atRisk = Set(page.patients.flatMap { p in p.risk.map { "\(p.patient) \($0.name)" } })
        #expect(!atRisk.isEmpty)
        #expect(pairs == atRisk)
        let last = try e.log.lastSignalSeq()
        try e.rebuild()
        e.settleSignals()
        #expect(try e.log.lastSignalSeq() == last)
    }

    @Test("contactable lists the channels whose latest consent is granted")
    func contactable() throws {
        let dir = StoreTestDirectory()
        let clock = ManualClock(t0 + 30 * day)
        let e = try JourneyEngine(directory: dir.path, durability: .relaxed, clock: clock)
        func consent(_ id: String, _ channel: Channel, _ status: ConsentStatus, _ at: Int64) -> Event {
            Event(id: id, type: .consent, subject: "p", at: at, channel: channel, consentStatus: status)
        }
        _ = try e.append([
            consent("k1", .sms, .granted, t0), consent("k2", .email, .granted, t0),
            consent("k3", .email, .revoked, t0 + 1), consent("k4", .phone, .revoked, t0),
            consent("k5", .phone, .granted, t0 + 2),
            // Dated after the clock's now: does not count yet.
            consent("k6", .sms, .revoked, t0 + 40 * day),
            ev("c1", .cancellation, "p", t0 + 3),
        ])
        e.settleSignals()
        let s = try e.log.signals(after: 0)
        #expect(s.map(\.contactable) == [[.phone, .sms]])
        #expect(s.first?.json == #"{"seq":1,"at":"2023-11-28T22:13:20.003Z","patient":"p","signal":"risk_entered","risk":"cancelled_not_rebooked","stage":"prospect","contactable":["phone","sms"]}"#)
    }
}
