import Foundation
import JourneyCore
import JourneyProtocol
import Synchronization
import Testing
@testable import JourneyStore

/// Whether any regular file under `dir` holds `needle`'s bytes, and which.
func filesHolding(_ needle: String, under dir: String) -> [String] {
    var found: [String] = []
    let bytes = Data(needle.utf8)
    guard let walker = FileManager.default.enumerator(atPath: dir) else { return [] }
    for case let name as String in walker {
        let path = dir + "/" + name
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue,
              let data = FileManager.default.contents(atPath: path) else { continue }
        if data.range(of: bytes) != nil { found.append(name) }
    }
    return found
}

/// The code of the `StoreError` `body` throws; nil when it throws none.
private func storeErrorCode(_ body: () throws -> Void) -> StoreError.Code? {
    do {
        try body()
        return nil
    } catch {
        return (error as? StoreError)?.code
    }
}

@Suite("Erasure", .serialized)
struct ErasureTests {
    static let t0: Int64 = 1_767_225_600_000  // 2026-01-01
    static let hour: Int64 = 3_600_000

    /// Distinctive strings of the patient to erase: none may survive anywhere in the directory.
    static let secrets = ["zz-anon-7f3a", "zz-patient-4a90", "zz-concern-b4e8", "zz-agent-2d6f", "zz-term-9c1d",
                          "zz-attr-key-83c0", "zz-attr-val-51e2"]

    /// A visitor identified as a patient (five events, with concern, agent, term and attrs),
    /// and another patient (three events) referred by the first.
    static var events: [Event] {
        [
            Event(id: "e-w1", type: .webVisit, subject: "zz-anon-7f3a", at: t0, source: "google", term: "zz-term-9c1d",
                  attrs: [.init(key: "zz-attr-key-83c0", value: "zz-attr-val-51e2")]),
            Event(id: "e-c1", type: .chat, subject: "zz-anon-7f3a", at: t0 + hour, agent: "staff:zz-agent-2d6f",
                  conversation: "cv-1", concern: "zz-concern-b4e8"),
            Event(id: "e-i1", type: .identify, subject: "zz-anon-7f3a", at: t0 + 2 * hour, patient: "zz-patient-4a90"),
            Event(id: "e-b1", type: .booking, subject: "zz-patient-4a90", at: t0 + 3 * hour, appointment: "a-1"),
            Event(id: "e-v1", type: .visit, subject: "zz-patient-4a90", at: t0 + 48 * hour, appointment: "a-1", amountCents: 12_000),
            Event(id: "o-w1", type: .webVisit, subject: "other-1", at: t0, source: "bing"),
            Event(id: "o-r1", type: .referral, subject: "other-1", at: t0 + 5 * hour, referrer: "zz-patient-4a90"),
            Event(id: "o-v1", type: .visit, subject: "other-1", at: t0 + 50 * hour, amountCents: 8_000),
        ]
    }

    @Test("an erased cluster's ids become one pseudonym, its free text is dropped, and no file of the directory holds the old bytes")
    func erasesForGood() throws {
        let dir = StoreTestDirectory()
        let path = dir.sub("s")
        let asOf = Self.t0 + 400 * 24 * Self.hour
        let pseudonym: String
        do {
            let engine = try JourneyEngine(directory: path)
            _ = try engine.append(Self.events)
            try engine.checkpoint()
            // A read of the patient: the read audit names it.
            #expect(try engine.patient(id: "zz-anon-7f3a", as: "front-desk")?.patient == "zz-patient-4a90")
            let funnel = try engine.funnel(FunnelQuery()).json
            let contacts = try engine.contacts().json
            let referralsBefore = try engine.referrals(asOf: asOf, as: "front-desk")
            // The data is there before (so the search below can find it).
            for s in Self.secrets {
                #expect(!filesHolding(s, under: path).isEmpty, "\(s) should be stored before the erasure")
            }

            let receipt = try engine.erase(id: "zz-anon-7f3a", as: AuditContext(actor: "privacy-officer", reason: "request 12"))
            pseudonym = receipt.pseudonym
            #expect(receipt.seq == 1)
            #expect(receipt.events == 5)      // e-w1, e-c1, e-i1, e-b1, e-v1
            #expect(receipt.references == 1)  // o-r1 names the patient as its referrer
            #expect(receipt.actor == "privacy-officer")
            #expect(receipt.reason == "request 12")
            #expect(pseudonym.count == 23 && pseudonym.hasPrefix("erased:"))
            #expect(pseudonym.dropFirst(7).allSatisfy { "0123456789abcdef".contains($0) })

            // Every event of the cluster has the pseudonym and nothing else identifying.
            let stored = try engine.log.events()
            #expect(stored.map(\.0) == Array(1...8))  // same positions, dense
            let originals = Dictionary(uniqueKeysWithValues: Self.events.map { ($0.id, $0) })
            for (_, e) in stored where e.id.hasPrefix("e-") {
                #expect(e.subject == pseudonym)
                #expect(e.concern == nil && e.agent == nil && e.term == nil && e.attrs.isEmpty)
                #expect(e.at == originals[e.id]!.at && e.type == originals[e.id]!.type)
            }
            #expect(stored[2].1.patient == pseudonym)  // the identify: both sides
            #expect(stored[0].1.source == "google")    // attribution other than term is kept
            // The other patient's events are untouched but for the referrer naming the erased one.
            #expect(stored[5].1 == originals["o-w1"]!)
            #expect(stored[7].1 == originals["o-v1"]!)
            var referral = originals["o-r1"]!
            referral.referrer = pseudonym
            #expect(stored[6].1 == referral)

            // Aggregates count the pseudonymous cluster as they counted the patient. By hand: both
            // patients are touched; only the erased one chatted (inquiry), booked and visited
            // within 30 days of its first touch.
            #expect(try engine.funnel(FunnelQuery()).groups.first?.steps.map(\.count) == [2, 1, 1, 1])
            #expect(try engine.funnel(FunnelQuery()).json == funnel)
            #expect(try engine.contacts().channels.map(\.conversations) == [1])  // cv-1, the chat
            #expect(try engine.contacts().json == contacts)
            let referralsAfter = try engine.referrals(asOf: asOf, as: "front-desk")
            #expect(referralsAfter.referrers.map(\.referred) == referralsBefore.referrers.map(\.referred))
            #expect(referralsAfter.referrers.map(\.patient) == [pseudonym])
            // No file of the directory holds the old bytes (checked again once closed, below),
            // before anyone asks for the old ids again (the read audit records what is asked).
            for s in Self.secrets {
                #expect(filesHolding(s, under: path) == [], "\(s) survives the erasure")
            }
            // The pseudonym answers for the cluster; the old ids are not found.
            let state = try engine.patient(id: pseudonym, as: "front-desk")
            #expect(state?.patient == pseudonym && state?.aliases == [])
            #expect(try engine.patient(id: "zz-anon-7f3a", as: "front-desk") == nil)
            #expect(try engine.patient(id: "zz-patient-4a90", as: "front-desk") == nil)

            // The original events sent again are refused as erased; nothing is stored.
            for id in ["e-c1", "o-r1"] {
                #expect(storeErrorCode { _ = try engine.append([originals[id]!]) } == .erased)
            }
            // The erased form, as an export after the erasure gives it, is a duplicate.
            #expect(try engine.append([stored[1].1]) == [.duplicate(Position(2))])
            #expect(engine.log.lastPosition == 8)

            // The same patient again, and an id never seen: not found, nothing changes.
            for id in ["zz-anon-7f3a", "never-seen"] {
                #expect(storeErrorCode { _ = try engine.erase(id: id, as: AuditContext(actor: "privacy-officer", reason: "again")) } == .notFound)
            }
            #expect(try engine.log.erasureReceipts() == [receipt])

            // The read audit names the pseudonym where it named the patient, and the erasure itself.
            let audit = try AuditLog.read(directory: path).entries.map(\.entry)
            #expect(audit.first?.ids == [pseudonym])
            #expect(audit.first?.parameters == "{\"id\":\"\(pseudonym)\"}")
            #expect(audit.contains { $0.op == "erase" && $0.ids == [pseudonym] && $0.reason == "request 12" })
            // New reads are still recorded after the file was replaced.
            _ = try engine.patient(id: pseudonym, as: "after")
            #expect(try AuditLog.read(directory: path).entries.last?.entry.actor == "after")
        }
        for s in Self.secrets where !s.hasPrefix("zz-anon") && !s.hasPrefix("zz-patient") {
            #expect(filesHolding(s, under: path) == [], "\(s) survives the erasure")
        }
        #expect(filesHolding("zz-patient-4a90", under: path) == ["audit.log"])  // the lookups after it
        // The store reopens clean, with the receipt, and answers the same.
        do {
            let log = try EventLog(directory: path, access: .readOnly)
            #expect(try log.verify().isClean)
            #expect(try log.erasureReceipts().map(\.pseudonym) == [pseudonym])
        }
        let reopened = try JourneyEngine(directory: path, access: .readOnly)
        #expect(try reopened.patient(id: pseudonym, as: "x")?.patient == pseudonym)
    }

    @Test("an erase needs a reason, and refuses a pseudonym")
    func refusals() throws {
        let dir = StoreTestDirectory()
        let engine = try JourneyEngine(directory: dir.sub("s"))
        _ = try engine.append(Self.events)
        #expect(storeErrorCode { _ = try engine.erase(id: "zz-anon-7f3a", as: "no-reason") } == .invalidArgument)
        let r = try engine.erase(id: "other-1", as: AuditContext(actor: "a", reason: "r"))
        #expect(r.events == 3 && r.references == 0)
        #expect(storeErrorCode { _ = try engine.erase(id: r.pseudonym, as: AuditContext(actor: "a", reason: "r")) } == .invalidArgument)
        #expect(try engine.log.erasureReceipts().count == 1)
    }

    @Test("an erasure stopped before its compaction is compacted when the store is next opened for writing")
    func compactsAtOpen() throws {
        let dir = StoreTestDirectory()
        let path = dir.sub("s")
        do {
            let log = try EventLog(directory: path)
            _ = try log.append(Self.events)
            let r = try log.erase(ids: ["zz-anon-7f3a", "zz-patient-4a90"], pseudonym: "erased:0123456789abcdef",
                                  at: Self.t0, actor: nil, reason: "r")
            #expect(r.events == 5 && r.references == 1)
            #expect(try log.needsCompaction())
        }
        // The rewrite alone leaves the old records in free pages.
        #expect(filesHolding("zz-concern-b4e8", under: path) == ["data.mdb"])
        do {
            let log = try EventLog(directory: path)
            #expect(try !log.needsCompaction())
        }
        for s in Self.secrets { #expect(filesHolding(s, under: path) == [], "\(s) survives the compaction at open") }
        #expect(try EventLog(directory: path, access: .readOnly).verify().isClean)
    }

    @Test("an erasure stopped before its read-audit rewrite has it redone at the next writing open, and the ids kept for it are compacted away")
    func auditRewriteRedoneAtOpen() throws {
        let dir = StoreTestDirectory()
        let path = dir.sub("s")
        let pseudonym = "erased:00000000feedbeef"
        do {
            let log = try EventLog(directory: path)
            _ = try log.append(Self.events)
            try AuditLog(directory: path).record(AuditEntry(
                at: Self.t0, uid: 1, pid: 2, actor: "dr-lee", op: "handoff", parameters: #"{"id":"zz-anon-7f3a"}"#,
                ids: ["zz-patient-4a90"], reason: nil))
            // The events are rewritten; the process stops before the audit's rewrite.
            _ = try log.erase(ids: ["zz-anon-7f3a", "zz-patient-4a90"], pseudonym: pseudonym, at: Self.t0, actor: nil, reason: "r")
            #expect(try log.pendingAuditRewrite()?.pseudonym == pseudonym)
        }
        #expect(filesHolding("zz-patient-4a90", under: path).sorted() == ["audit.log", "data.mdb"])
        // A read-only open changes nothing.
        #expect(try EventLog(directory: path, access: .readOnly).pendingAuditRewrite() != nil)
        do {
            let log = try EventLog(directory: path)
            #expect(try log.pendingAuditRewrite() == nil)
            #expect(try !log.needsCompaction())
        }
        for s in Self.secrets { #expect(filesHolding(s, under: path) == [], "\(s) survives the open") }
        let entries = try AuditLog.read(directory: path).entries.map(\.entry)
        #expect(entries.map(\.ids) == [[pseudonym]])
        #expect(entries.first?.parameters == #"{"id":"\#(pseudonym)"}"#)
    }

    @Test("stored signals name the pseudonym; nothing is raised again for the old ids, and the cluster goes on under its pseudonym")
    func signalsRenamed() throws {
        let dir = StoreTestDirectory()
        let day: Int64 = 86_400_000
        let clock = ManualClock(Self.t0 + 20 * day)
        let engine = try JourneyEngine(directory: dir.sub("s"), durability: .relaxed, clock: clock)
        _ = try engine.append([
            Event(id: "b1", type: .booking, subject: "zz-anon-7f3a", at: Self.t0, appointment: "a1"),
            Event(id: "i1", type: .identify, subject: "zz-anon-7f3a", at: Self.t0 + Self.hour, patient: "zz-patient-4a90"),
            Event(id: "c1", type: .cancellation, subject: "zz-patient-4a90", at: Self.t0 + day, appointment: "a1"),
        ])
        engine.settleSignals()
        // Cancelled 19 days before the clock: at risk since the cancellation was 14 days old.
        let before = try engine.log.signals(after: 0)
        #expect(before.map(\.patient) == ["zz-patient-4a90"] && before.map(\.risk) == [.cancelledNotRebooked])
        #expect(before.map(\.at) == [Self.t0 + 15 * day])

        let r = try engine.erase(id: "zz-patient-4a90", as: AuditContext(actor: "a", reason: "r"))
        engine.settleSignals()
        engine.evaluateDueSignals()
        var renamed = before[0]
        renamed.patient = r.pseudonym
        #expect(try engine.log.signals(after: 0) == [renamed])
        #expect(engine.signalledRisks == [r.pseudonym: [.cancelledNotRebooked]])

        // A booking of the pseudonymous cluster ends its risk, under the pseudonym.
        _ = try engine.append([Event(id: "b2", type: .booking, subject: r.pseudonym, at: Self.t0 + 19 * day, appointment: "a2")])
        engine.settleSignals()
        let after = try engine.log.signals(after: 1)
        #expect(after.map(\.patient) == [r.pseudonym] && after.map(\.kind) == [.riskLeft] && after.map(\.at) == [Self.t0 + 19 * day])
    }

    @Test("reads on other threads wait for each compaction's swap and go on from the new file; appends in between are kept")
    func compactionUnderLoad() throws {
        let dir = StoreTestDirectory()
        let log = try EventLog(directory: dir.sub("s"), durability: .relaxed)
        _ = try log.append((1...2_000).map { storeEvent("e\($0)", "s\($0 % 50)") })
        let failures = Mutex<[String]>([])
        let stop = Atomic<Bool>(false)
        let readers = (0..<3).map { k in
            Thread {
                while !stop.load(ordering: .relaxed) {
                    do {
                        let n = try log.events(from: 1).count
                        if n < 2_000 { failures.withLock { $0.append("reader \(k) saw \(n) events") } }
                    } catch {
                        failures.withLock { $0.append("reader \(k): \(error)") }
                    }
                }
            }
        }
        readers.forEach { $0.start() }
        for round in 0..<5 {
            _ = try log.append([storeEvent("r\(round)", "s-round")])
            try log.compact()
        }
        stop.store(true, ordering: .relaxed)
        while readers.contains(where: { $0.isExecuting }) { usleep(1_000) }
        #expect(failures.withLock { $0 } == [])
        #expect(log.lastPosition == 2_005)
        #expect(try log.events(from: 2_001).map(\.1.id) == ["r0", "r1", "r2", "r3", "r4"])
        #expect(try log.verify().isClean)
    }
}
