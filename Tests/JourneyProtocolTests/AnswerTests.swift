import JourneyCore
import JourneyProtocol
import Testing

/// Every answer encodes to a line that decodes to itself; errors and the stale marker too.
@Suite struct AnswerTests {
    static let t0: Int64 = 1_767_225_600_000
    static let day: Int64 = 86_400_000

    /// A small practice folded by the projector, for real report values.
    static let projector: Projector = {
        var p = Projector()
        let events = [
            Event(id: "e1", type: .webVisit, subject: "anon-1", at: t0, source: "google", medium: "cpc"),
            Event(id: "e2", type: .call, subject: "anon-1", at: t0 + 60_000, agent: "bot:intake", conversation: "c-1",
                  concern: "crown came loose", resolved: true),
            Event(id: "e3", type: .identify, subject: "anon-1", at: t0 + 120_000, patient: "p-1"),
            Event(id: "e4", type: .booking, subject: "p-1", at: t0 + day, appointment: "a-1",
                  scheduledFor: t0 + 3 * day, location: "main", provider: "dr-k"),
            Event(id: "e5", type: .visit, subject: "p-1", at: t0 + 3 * day, appointment: "a-1", amountCents: 12_050),
            Event(id: "e6", type: .booking, subject: "p-2", at: t0, appointment: "a-2", scheduledFor: t0 + day),
            Event(id: "e7", type: .cancellation, subject: "p-2", at: t0 + day / 2, appointment: "a-2"),
        ]
        for e in events { p.apply(e) }
        return p
    }()
    static let asOf = t0 + 60 * day
    static let stale = Stale(position: 5, progress: RebuildStatus(done: 1, total: 10, eventsPerSecond: 3, etaSeconds: 3))

    /// `T` decoded from `line`, which must be an `ok` answer.
    func decoded<T: DecodableAnswer>(_ type: T.Type, _ line: [UInt8]) throws -> T {
        switch try Answer.decode(T.self, from: line) {
        case .success(let answer): return answer
        case .failure(let error): throw error
        }
    }

    func roundTrips<T: DecodableAnswer & EncodableAnswer & Equatable>(_ answer: T) throws {
        let back = try decoded(T.self, answer.line)
        #expect(back == answer)
        #expect(back.line == answer.line)
    }

    @Test func appendAnswers() throws {
        try roundTrips(AppendAnswer([.appended(7), .duplicate(3), .appended(8)]))
        try roundTrips(AppendAnswer([.appended(7)]))
        let rejecting = AppendAnswer([.success(.appended(9)), .failure(ProtocolError("conflict", "id \"x\" is stored with other content")),
                                      .success(.duplicate(2))], id: { ["a", "x", "b"][$0] })
        try roundTrips(rejecting)
        #expect(String(decoding: AppendAnswer([.appended(7), .duplicate(3)]).line, as: UTF8.self)
                == #"{"ok":true,"positions":[7,3],"duplicates":[1]}"#)
        #expect(String(decoding: rejecting.line, as: UTF8.self)
                == #"{"ok":true,"positions":[9,null,2],"duplicates":[2],"rejected":[{"index":1,"id":"x","code":"conflict","message":"id \"x\" is stored with other content"}]}"#)
        #expect(try decoded(AppendAnswer.self, AppendAnswer([.appended(7), .duplicate(3)]).line).outcomes() == [.appended(7), .duplicate(3)])
        #expect(throws: AnswerError.self) { try decoded(AppendAnswer.self, Array(#"{"ok":true,"positions":[1],"duplicates":[4]}"#.utf8)) }
        #expect(throws: AnswerError.self) { try decoded(AppendAnswer.self, Array(#"{"ok":true,"positions":[0],"duplicates":[]}"#.utf8)) }
    }

    @Test func statsAnswers() throws {
        let idle = StatsAnswer(events: 10, lastPosition: 10, projectedPosition: 10, clusters: 4, mapSize: 1 << 30,
                               mapUsed: 1 << 16, fileSize: 1 << 17)
        try roundTrips(idle)
        var busy = idle
        busy.rebuilding = RebuildStatus(done: 3, total: 10, eventsPerSecond: 0, etaSeconds: nil)
        busy.lastRebuildFailure = "disk full"
        busy.auditFailures = 2
        busy.lastAuditFailure = "writing audit.log: No space left on device"
        try roundTrips(busy)
        #expect(String(decoding: busy.line, as: UTF8.self).hasSuffix(
            #""rebuilding":{"done":3,"total":10,"events_per_s":0,"eta_s":null},"last_rebuild_failure":"disk full","audit_failures":2,"last_audit_failure":"writing audit.log: No space left on device","last_signal_seq":0,"consumers":[]}"#))
        var consumed = idle
        consumed.lastSignalSeq = 7
        consumed.consumers = [.init(name: "outreach", acked: 5, lag: 2, createdAt: 1_767_225_600_000)]
        try roundTrips(consumed)
        #expect(String(decoding: consumed.line, as: UTF8.self).hasSuffix(
            #""last_signal_seq":7,"consumers":[{"name":"outreach","acked":5,"lag":2,"created":"2026-01-01T00:00:00.000Z"}]}"#))
        #expect(throws: AnswerError.self) { try decoded(StatsAnswer.self, Array(#"{"ok":true,"events":-1}"#.utf8)) }
    }

    @Test func reportAnswers() throws {
        let p = Self.projector
        let state = try #require(p.patient(id: "anon-1", asOf: Self.asOf))
        let context = try #require(p.handoff(id: "p-1", asOf: Self.t0 + 2 * Self.day))
        let funnel = p.funnel(try FunnelRequest(by: .source).query())
        let contacts = p.contacts()
        let atRisk = p.atRisk(asOf: Self.asOf, limit: 1, after: nil)
        for stale in [nil, Self.stale] {
            try roundTrips(PatientAnswer(state, stale: stale))
            try roundTrips(HandoffAnswer(context, stale: stale))
            try roundTrips(FunnelAnswer(funnel, stale: stale))
            try roundTrips(ContactsAnswer(contacts, stale: stale))
            try roundTrips(AtRiskAnswer(atRisk, stale: stale))
        }
        #expect(!contacts.channels.isEmpty)
        #expect(!atRisk.patients.isEmpty)
        // The report's object, flattened after "ok".
        #expect(PatientAnswer(state).line == Array(#"{"ok":true,"#.utf8) + Array(state.json.utf8).dropFirst())
    }

    @Test func theStaleMarkerRoundTripsRightAfterOk() throws {
        let contacts = Self.projector.contacts()
        let line = String(decoding: ContactsAnswer(contacts, stale: Self.stale).line, as: UTF8.self)
        #expect(line.hasPrefix(
            #"{"ok":true,"stale":{"position":5,"rebuild_progress":{"done":1,"total":10,"events_per_s":3,"eta_s":3}},"channels":["#))
        #expect(try decoded(ContactsAnswer.self, Array(line.utf8)).stale == Self.stale)
        #expect(try decoded(ContactsAnswer.self, ContactsAnswer(contacts).line).stale == nil)
        // The rate's remainder rounds the way the daemon always computed it.
        #expect(RebuildStatus(done: 4, total: 10, rate: 4).etaSeconds == 1)
        #expect(RebuildStatus(done: 4, total: 10, rate: 0).etaSeconds == nil)
        #expect(RebuildStatus(done: 12, total: 10, rate: 2.5) == RebuildStatus(done: 12, total: 10, eventsPerSecond: 2, etaSeconds: 0))
    }

    @Test func controlAnswers() throws {
        try roundTrips(PingAnswer())
        try roundTrips(LimitsAnswer(maxLineBytes: 1 << 20, maxEventBytes: 4096))
        try roundTrips(ReplayAnswer(rebuilding: true))
        try roundTrips(ReplayAnswer(rebuilding: false))
        try roundTrips(SubscribeAnswer(from: 12))
        #expect(String(decoding: PingAnswer().line, as: UTF8.self) == #"{"ok":true}"#)
        #expect(String(decoding: SubscribeAnswer(from: 3).line, as: UTF8.self) == #"{"ok":true,"subscribed":3}"#)
    }

    @Test func eraseAnswers() throws {
        let r = ErasureReceipt(seq: 2, at: 1_767_225_600_000, actor: nil, reason: "request 7", events: 4, references: 1,
                               pseudonym: "erased:00000000000000ff")
        try roundTrips(EraseAnswer(r))
        #expect(String(decoding: EraseAnswer(r).line, as: UTF8.self)
            == #"{"ok":true,"receipt":{"seq":2,"at":"2026-01-01T00:00:00.000Z","actor":null,"reason":"request 7","events":4,"references":1,"pseudonym":"erased:00000000000000ff"}}"#)
        // A receipt whose pseudonym is not one is refused.
        #expect(throws: AnswerError.self) {
            _ = try decoded(EraseAnswer.self, Array(#"{"ok":true,"receipt":{"seq":1,"at":"2026-01-01T00:00:00Z","reason":"r","events":1,"references":0,"pseudonym":"p-1"}}"#.utf8))
        }
    }

    @Test func subscriptionLines() throws {
        let event = Event(id: "e1", type: .webVisit, subject: "anon-1", at: Self.t0, channel: .web)
        let line = SubscriptionEvent(position: 4, event: event)
        #expect(String(decoding: line.line, as: UTF8.self) == #"{"position":4,"event":"# + EventJSON.encode(event) + "}")
        #expect(try SubscriptionEvent.decode(line.line) == .success(line))
        let error = ProtocolError("store_error", "disk gone")
        #expect(try SubscriptionEvent.decode(error.line) == .failure(error))
        #expect(throws: AnswerError.self) { try SubscriptionEvent.decode(Array(#"{"position":4}"#.utf8)) }
    }

    @Test func errorsRoundTrip() throws {
        let plain = ProtocolError("not_found", #"no events for id "p-9""#)
        #expect(String(decoding: plain.line, as: UTF8.self)
                == #"{"ok":false,"error":{"code":"not_found","message":"no events for id \"p-9\""}}"#)
        #expect(try Answer.parse(plain.line) == .failure(plain))
        let rebuilding = ProtocolError.rebuilding(RebuildStatus(done: 5, total: 20, rate: 5))
        #expect(String(decoding: rebuilding.line, as: UTF8.self)
                == #"{"ok":false,"error":{"code":"rebuilding","message":"projections are being rebuilt: 5 of 20 events","done":5,"total":20,"events_per_s":5,"eta_s":3}}"#)
        #expect(try Answer.parse(rebuilding.line) == .failure(rebuilding))
        #expect(ProtocolError(object: rebuilding.object) == rebuilding)
        #expect(throws: AnswerError.self) { try Answer.parse(Array("nope".utf8)) }
        #expect(throws: AnswerError.self) { try Answer.parse(Array(#"{"positions":[]}"#.utf8)) }
        #expect(throws: AnswerError.self) { try Answer.parse(Array(#"{"ok":false,"error":{}}"#.utf8)) }
    }
}
