import Foundation
import Glibc
import JourneyClient
import JourneyCore
import Testing

// `kill -9` of the built `journeyd serve` between a fold and the commit of its signals: the
// store holds the events and none of their signals. The next start evaluates every cluster
// against the signals stored, so each (patient, risk) change is raised exactly once, seqs stay
// dense, and a consumer resumes after its acknowledged seq, seeing every later seq once.
//
// `JOURNEYD_TEST_HOLD_SIGNALS_AFTER=N` makes the daemon store the first N handoffs of signals
// and park the fold stage at the next one, its answer already sent: the window a crash hits.

private let day: Int64 = 86_400_000

/// One signal line as a consumer reads it.
private struct ReadSignal: Hashable {
    var seq: Int64
    var at: Int64
    var patient: String
    var kind: String
    var risk: String

    init(_ line: String) throws {
        let v = try parse(line)
        seq = try #require(v["seq"]?.int64Value)
        at = try #require(Timestamp.parse(v["at"]?.stringValue ?? ""))
        patient = try #require(v["patient"]?.stringValue)
        kind = try #require(v["signal"]?.stringValue)
        risk = try #require(v["risk"]?.stringValue)
    }
}

/// The practice of these tests, dated from `now` (the daemon evaluates at the wall clock):
/// - `c…` cancelled 30 days ago: `cancelled_not_rebooked` since 16 days (14 after the cancellation);
/// - `n…` booked 12 days ago, no-show 10 days ago: `no_show_not_rebooked` since 3 days;
/// - `r…` cancelled 30 days ago and booked again 20 days ago: no risk.
private struct Practice {
    let now: Int64

    func cancelled(_ ids: ClosedRange<Int>) -> [String] {
        ids.map { i in #"{"id":"cx\#(i)","type":"cancellation","subject":"c\#(i)","at":\#(now - 30 * day)}"# }
    }

    func noShows(_ ids: ClosedRange<Int>) -> [String] {
        ids.flatMap { i in [
            #"{"id":"nb\#(i)","type":"booking","subject":"n\#(i)","at":\#(now - 12 * day)}"#,
            #"{"id":"nx\#(i)","type":"no_show","subject":"n\#(i)","at":\#(now - 10 * day)}"#,
        ] }
    }

    func rebooked(_ ids: ClosedRange<Int>) -> [String] {
        ids.flatMap { i in [
            #"{"id":"rx\#(i)","type":"cancellation","subject":"r\#(i)","at":\#(now - 30 * day)}"#,
            #"{"id":"rb\#(i)","type":"booking","subject":"r\#(i)","at":\#(now - 20 * day)}"#,
        ] }
    }

    /// The signal each patient's events raise: (patient, risk) → `at`.
    func expected(cancelled: ClosedRange<Int>, noShows: ClosedRange<Int>) -> [String: Int64] {
        var out: [String: Int64] = [:]
        for i in cancelled { out["c\(i) cancelled_not_rebooked"] = now - 30 * day + 14 * day }
        for i in noShows { out["n\(i) no_show_not_rebooked"] = now - 10 * day + 7 * day }
        return out
    }
}

private func wallNow() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

private func ask(_ c: JourneyConnection, _ line: String) throws -> JSONValue {
    try parse(try c.request(line))
}

private func lastSignalSeq(_ c: JourneyConnection) -> Int64? {
    (try? ask(c, #"{"op":"stats"}"#))?["last_signal_seq"]?.int64Value
}

/// `count` signal lines from a `signals` stream opened on `c` (its answer already read).
private func receive(_ count: Int, from c: JourneyConnection) throws -> [ReadSignal] {
    try (0..<count).map { _ in try ReadSignal(try c.receive()) }
}

/// Every (patient, risk) at risk now, as `at_risk` lists them.
private func atRisk(_ c: JourneyConnection) throws -> Set<String> {
    let page = try ask(c, #"{"op":"at_risk","limit":1000}"#)
    #expect(page["next"]?.isNull == true)
    var out = Set<String>()
    for p in page["patients"]?.arrayValue ?? [] {
        for r in strings(p["risk"]) { out.insert("\(p["patient"]?.stringValue ?? "") \(r)") }
    }
    return out
}

/// The (patient, risk) pairs entered and not left in `signals` (in seq order).
private func enteredNotLeft(_ signals: [ReadSignal]) -> Set<String> {
    var out = Set<String>()
    for s in signals.sorted(by: { $0.seq < $1.seq }) {
        if s.kind == "risk_entered" { out.insert("\(s.patient) \(s.risk)") } else { out.remove("\(s.patient) \(s.risk)") }
    }
    return out
}

/// Checks `signals` are seqs 1…n once each, and hold each expected (patient, risk) entered once
/// at its threshold, and nothing else.
private func expectExactlyOnce(_ signals: [ReadSignal], _ expected: [String: Int64],
                               sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(signals.map(\.seq).sorted() == (1...Int64(expected.count)).map { $0 }, sourceLocation: sourceLocation)
    var seen: [String: Int] = [:]
    for s in signals { seen["\(s.patient) \(s.risk)", default: 0] += 1 }
    #expect(seen.filter { $0.value != 1 } == [:], "raised more than once", sourceLocation: sourceLocation)
    #expect(Set(seen.keys) == Set(expected.keys), sourceLocation: sourceLocation)
    #expect(signals.allSatisfy { $0.kind == "risk_entered" }, sourceLocation: sourceLocation)
    for s in signals where expected["\(s.patient) \(s.risk)"] != s.at {
        Issue.record("\(s.patient) \(s.risk) dated \(s.at), expected \(expected["\(s.patient) \(s.risk)"] ?? 0)",
                     sourceLocation: sourceLocation)
    }
}

@Suite("signals across kill -9", .serialized, binaryNeeded)
struct SignalCrashTests {
    init() {
        signal(SIGPIPE, SIG_IGN)
    }

    @Test func aKillBetweenAFoldAndItsSignalsLosesNoneAndDoublesNone() throws {
        let dir = try TemporaryDirectory()
        let practice = Practice(now: wallNow())
        let expected = practice.expected(cancelled: 1...12, noShows: 1...6)
        #expect(expected.count == 18)

        let held = try ServeProcess(directory: dir.path, environment: ["JOURNEYD_TEST_HOLD_SIGNALS_AFTER": "0"])
        #expect(held.waitUntilServing())
        let c = try JourneyConnection(socketPath: held.socketPath, timeout: .seconds(5))
        let appended = try ask(c, appendRequest(practice.cancelled(1...12) + practice.noShows(1...6) + practice.rebooked(1...4)))
        #expect(ints(appended["positions"]) == (1...32).map { $0 })
        // Acknowledged and folded (at_risk sees the 18), but its signals are in no commit.
        #expect(try atRisk(c) == Set(expected.keys))
        usleep(300_000)
        #expect(lastSignalSeq(c) == 0)
        c.close()
        #expect(held.terminate(SIGKILL) == SIGKILL)

        // The restart raises the 18 signals lost, once each (no checkpoint was saved: it rebuilds
        // the projections from the log, then evaluates every cluster against the signals stored).
        let serve = try ServeProcess(directory: dir.path)
        #expect(serve.waitUntilServing())
        let admin = try JourneyConnection(socketPath: serve.socketPath, timeout: .seconds(5))
        #expect(eventually(timeout: .seconds(10)) { lastSignalSeq(admin) == 18 })
        let stream = try JourneyConnection(socketPath: serve.socketPath, timeout: .seconds(5))
        #expect(try stream.request(#"{"op":"signals","consumer":"outreach"}"#) == #"{"ok":true,"consumer":"outreach","after":0}"#)
        let read = try receive(18, from: stream)
        expectExactlyOnce(read, expected)
        #expect(enteredNotLeft(read) == (try atRisk(admin)))
        // Nothing more is raised, now or by a clean restart.
        usleep(300_000)
        #expect(lastSignalSeq(admin) == 18)
        stream.close()
        admin.close()
        #expect(serve.terminate(SIGTERM) == 0)
        let again = try ServeProcess(directory: dir.path)
        #expect(again.waitUntilServing())
        let after = try JourneyConnection(socketPath: again.socketPath, timeout: .seconds(5))
        usleep(500_000)
        #expect(lastSignalSeq(after) == 18)
        after.close()
        #expect(again.terminate(SIGTERM) == 0)
    }

    @Test func aConsumerKilledMidStreamResumesAfterItsAckAndSeesEveryLaterSeqOnce() throws {
        let dir = try TemporaryDirectory()
        let practice = Practice(now: wallNow())
        // A first run raises 8 signals; the consumer reads 5 and acknowledges them. Its clean
        // stop saves the projections, so the start after the kill folds only the log's tail and
        // the evaluation at open alone repairs what the kill lost.
        let first = try ServeProcess(directory: dir.path)
        #expect(first.waitUntilServing())
        let c = try JourneyConnection(socketPath: first.socketPath, timeout: .seconds(5))
        #expect(ints(try ask(c, appendRequest(practice.cancelled(1...8)))["positions"]) == (1...8).map { $0 })
        #expect(eventually(timeout: .seconds(10)) { lastSignalSeq(c) == 8 })
        let stream = try JourneyConnection(socketPath: first.socketPath, timeout: .seconds(5))
        #expect(try stream.request(#"{"op":"signals","consumer":"outreach"}"#) == #"{"ok":true,"consumer":"outreach","after":0}"#)
        let acked = try receive(5, from: stream)
        // One fold's signals are stored in the order its events first named the clusters.
        #expect(acked.map(\.seq) == [1, 2, 3, 4, 5])
        #expect(acked.map(\.patient) == ["c1", "c2", "c3", "c4", "c5"])
        #expect(try ask(c, #"{"op":"ack","consumer":"outreach","seq":5}"#)["acked"]?.int64Value == 5)
        stream.close()
        c.close()
        #expect(first.terminate(SIGTERM) == 0)

        // The next run is killed with the consumer mid-stream (6 and 7 read, not acknowledged)
        // and a fold's 6 signals in no commit.
        let held = try ServeProcess(directory: dir.path, environment: ["JOURNEYD_TEST_HOLD_SIGNALS_AFTER": "0"])
        #expect(held.waitUntilServing())
        let c2 = try JourneyConnection(socketPath: held.socketPath, timeout: .seconds(5))
        let midStream = try JourneyConnection(socketPath: held.socketPath, timeout: .seconds(5))
        #expect(try midStream.request(#"{"op":"signals","consumer":"outreach"}"#) == #"{"ok":true,"consumer":"outreach","after":5}"#)
        #expect(try receive(2, from: midStream).map(\.seq) == [6, 7])
        #expect(ints(try ask(c2, appendRequest(practice.noShows(1...6) + practice.rebooked(1...2)))["positions"]) == (9...24).map { $0 })
        usleep(300_000)
        #expect(lastSignalSeq(c2) == 8)
        #expect(held.terminate(SIGKILL) == SIGKILL)
        midStream.close()
        c2.close()

        let serve = try ServeProcess(directory: dir.path)
        #expect(serve.waitUntilServing())
        let admin = try JourneyConnection(socketPath: serve.socketPath, timeout: .seconds(5))
        // No rebuild: the projections resumed from the saved checkpoint.
        #expect(try ask(admin, #"{"op":"stats"}"#)["rebuilding"]?.isNull == true)
        #expect(eventually(timeout: .seconds(10)) { lastSignalSeq(admin) == 14 })
        // The consumer resumes after its ack: 6…14, each once, then nothing more.
        let resumed = try JourneyConnection(socketPath: serve.socketPath, timeout: .seconds(1))
        #expect(try resumed.request(#"{"op":"signals","consumer":"outreach"}"#) == #"{"ok":true,"consumer":"outreach","after":5}"#)
        let rest = try receive(9, from: resumed)
        #expect(rest.map(\.seq) == (6...14).map { $0 })
        #expect(rest.prefix(3).map(\.patient) == ["c6", "c7", "c8"])
        #expect(Set(rest.dropFirst(3).map(\.patient)) == Set((1...6).map { "n\($0)" }))
        #expect(throws: ClientError.self) { _ = try resumed.receive() }
        resumed.close()

        // Over the whole stream: each (patient, risk) once, and what is entered is at risk.
        let all = acked + rest
        expectExactlyOnce(all, practice.expected(cancelled: 1...8, noShows: 1...6))
        #expect(enteredNotLeft(all) == (try atRisk(admin)))
        #expect((try ask(admin, #"{"op":"stats"}"#))["consumers"]?.arrayValue?.first?["acked"]?.int64Value == 5)
        admin.close()
        #expect(serve.terminate(SIGTERM) == 0)
    }
}
