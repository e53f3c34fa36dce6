import JourneyCore
import JourneyProtocol
import JourneyStore

/// The query ops of SPEC §4, answered from an engine. The daemon and the command line share this
/// code, so an answer is the same whether it came through the socket or from the store directly.
/// Requests are decoded and answers encoded by JourneyProtocol.
struct Ops {
    let engine: JourneyEngine
    /// Who reads, for the read audit.
    let reader: AuditContext

    /// Answers a query op (not append, subscribe, replay or limits, which need a daemon: those
    /// answer `unknown_op` here). Every answer that names or lists patients passes `disclosed`.
    func answer(_ request: Request) throws(ProtocolError) -> [UInt8] {
        do {
            switch request {
            case .ping:
                return PingAnswer().line
            case .patient(let r):
                let (s, stale) = try engine.read { $0.patient(id: r.id, asOf: r.asOf ?? Clock.nowMs()) }
                try disclosed(request, ids: s.map { [$0.patient] } ?? [])
                guard let s else { throw notFound(r.id) }
                return PatientAnswer(s, stale: stale.map(Stale.init)).line
            case .handoff(let r):
                let (h, stale) = try engine.read { $0.handoff(id: r.id, asOf: r.asOf ?? Clock.nowMs()) }
                try disclosed(request, ids: h.map { [$0.patient] } ?? [])
                guard let h else { throw notFound(r.id) }
                return HandoffAnswer(h, stale: stale.map(Stale.init)).line
            case .funnel(let r):
                let q = try r.query()
                let (report, stale) = try engine.readCopy { $0.funnel(q) }
                return FunnelAnswer(report, stale: stale.map(Stale.init)).line
            case .contacts:
                let (report, stale) = try engine.readCopy { $0.contacts() }
                return ContactsAnswer(report, stale: stale.map(Stale.init)).line
            case .atRisk(let r):
                let (page, stale) = try engine.readCopy {
                    $0.atRisk(asOf: r.asOf ?? Clock.nowMs(), limit: r.limit ?? AtRiskRequest.defaultLimit, after: r.after)
                }
                try disclosed(request, ids: page.patients.map(\.patient))
                return AtRiskAnswer(page, stale: stale.map(Stale.init)).line
            case .appointments(let r):
                let (report, stale) = try engine.readCopy { $0.appointments(r.query) }
                return AppointmentsAnswer(report, stale: stale.map(Stale.init)).line
            case .patients(let r):
                let (report, stale) = try engine.readCopy { $0.patients(r.query) }
                return PatientsAnswer(report, stale: stale.map(Stale.init)).line
            case .cohorts(let r):
                let (report, stale) = try engine.readCopy { try $0.cohorts(r.query) }
                return CohortsAnswer(report, stale: stale.map(Stale.init)).line
            case .trends(let r):
                let (report, stale) = try engine.readCopy { try $0.trends(r.query) }
                return TrendsAnswer(report, stale: stale.map(Stale.init)).line
            case .referrals(let r):
                let (report, stale) = try engine.readCopy {
                    $0.referrals(asOf: r.asOf ?? Clock.nowMs(), limit: r.limit ?? ReferralsReport.defaultLimit)
                }
                try disclosed(request, ids: report.referrers.map(\.patient))
                return ReferralsAnswer(report, stale: stale.map(Stale.init)).line
            case .segment(let r):
                let q = try r.query(now: Clock.nowMs())
                let (page, stale) = try engine.readCopy { $0.segment(q) }
                try disclosed(request, ids: page.patients.map(\.patient))
                return SegmentAnswer(page, stale: stale.map(Stale.init)).line
            case .audit(let r):
                return try audit(r, request)
            case .stats:
                return try stats().line
            case .erase(let r):
                do {
                    return EraseAnswer(try engine.erase(id: r.id, as: reader)).line
                } catch let e as StoreError where e.code == .invalidArgument {
                    throw ProtocolError("bad_request", e.message)
                } catch let e as AuditUnavailable {
                    throw ProtocolError("audit_unavailable", e.description)
                }
            case .append, .subscribe, .signals, .ack, .replay, .limits:
                throw ProtocolError.unknownOp(request.op)
            }
        } catch let e as ProtocolError {
            throw e
        } catch let e as ReportQueryError {
            throw ProtocolError("bad_request", e.description)
        } catch let e as Rebuilding {
            throw ProtocolError.rebuilding(RebuildStatus(e.progress))
        } catch let e as StoreError {
            throw Self.storeError(e)
        } catch {
            throw ProtocolError("store_error", "\(error)")
        }
    }

    /// Records in the read audit that `reader` is shown the patients `ids` by `request`,
    /// durably, before the answer goes out: every answer that names or lists patients passes
    /// here (an op that lists patients adds one call). When the record cannot be written the
    /// answer is refused with `audit_unavailable`, and the failure is logged.
    func disclosed(_ request: Request, ids: [String]) throws(ProtocolError) {
        do {
            try engine.disclose(request.op, parameters: String(decoding: request.line, as: UTF8.self), ids: ids, to: reader)
        } catch {
            Log.error("audit", "\(request.op) refused: \(error.message)")
            throw ProtocolError("audit_unavailable", error.description)
        }
    }

    /// The read audit from the request's cursor on, filtered; reading it is audited too.
    private func audit(_ r: AuditRequest, _ request: Request) throws -> [UInt8] {
        // The patient asked about, by the canonical id the records name (an id never seen can
        // still match the lookups that asked for it).
        var canonical: String?
        if let id = r.patient {
            canonical = try engine.read { $0.patient(id: id, asOf: Clock.nowMs()) }.0?.patient
        }
        try disclosed(request, ids: canonical.map { [$0] } ?? [])
        let found: (entries: [(offset: Int, entry: AuditEntry)], skipped: Int)
        do {
            found = try AuditLog.read(directory: engine.log.directory, from: Int(r.after ?? 0))
        } catch {
            throw ProtocolError("audit_unavailable", error.message)
        }
        var records: [AuditAnswer.Record] = []
        var next: Int64?
        for (offset, e) in found.entries {
            if let since = r.since, e.at < since { continue }
            if let id = r.patient, !Self.names(e, id: id, canonical: canonical) { continue }
            if records.count == AuditRequest.pageSize {
                next = Int64(offset)
                break
            }
            records.append(AuditAnswer.Record(
                at: e.at, uid: e.uid, pid: e.pid, actor: e.actor, op: e.op, parameters: e.parameters, ids: e.ids,
                count: e.count, reason: e.reason))
        }
        return AuditAnswer(records: records, next: next).line
    }

    /// Whether audit record `e` names the patient `id` (whose canonical id is `canonical`):
    /// among the ids it returned, or as the id its request asked for.
    static func names(_ e: AuditEntry, id: String, canonical: String?) -> Bool {
        if let canonical, e.ids.contains(canonical) { return true }
        if e.ids.contains(id) { return true }
        guard let asked = (try? JSONParser.parse(Array(e.parameters.utf8)))?["id"]?.stringValue else { return false }
        return asked == id || asked == canonical
    }

    private func notFound(_ id: String) -> ProtocolError {
        ProtocolError("not_found", "no events for id \(Quote.short(id))")
    }

    func stats() throws -> StatsAnswer {
        let s = try engine.log.stats()
        let p = engine.projectionStats
        var answer = StatsAnswer(
            events: Int64(s.events), lastPosition: s.lastPosition, projectedPosition: p.position, clusters: Int64(p.clusters),
            mapSize: Int64(s.mapSize), mapUsed: Int64(s.mapUsed), fileSize: Int64(s.fileSize),
            rebuilding: p.rebuild.map(RebuildStatus.init), lastRebuildFailure: engine.lastRebuildFailure)
        let audit = engine.audit.counts
        answer.auditFailures = Int64(audit.failed)
        answer.lastAuditFailure = audit.lastFailure
        let lastSignal = try engine.log.lastSignalSeq()
        answer.lastSignalSeq = lastSignal
        answer.consumers = try engine.signalConsumers().map { c in
            .init(name: c.name, acked: c.acked, lag: lastSignal - min(lastSignal, c.acked), createdAt: c.createdAt)
        }
        return answer
    }

    /// The answer of an append with `"on_conflict":"reject_event"`: `null` as the position of
    /// each event left out, and `rejected` naming them.
    static func appendAnswer(_ results: EventLog.EventResults, id: (Int) -> String) -> AppendAnswer {
        AppendAnswer(results.map { $0.mapError(storeError) }, id: id)
    }

    /// The error of a `signals` or `ack` request the store refused: `not_found` for a consumer
    /// that never read, `bad_request` for a bad name or a seq past the latest signal.
    static func signalError(_ e: StoreError) -> ProtocolError {
        switch e.code {
        case .notFound: ProtocolError("not_found", e.message)
        case .invalidArgument: ProtocolError("bad_request", e.message)
        default: storeError(e)
        }
    }

    static func storeError(_ e: StoreError) -> ProtocolError {
        let code = switch e.code {
        case .conflict: "conflict"
        case .erased: "erased"
        case .notFound: "not_found"
        case .diskFull: "disk_full"
        case .writesStopped: "writes_stopped"
        case .storeBusy: "store_busy"
        case .readOnly: "read_only"
        case .corrupt: "corrupt"
        default: "store_error"
        }
        return ProtocolError(code, e.description)
    }
}

extension RebuildStatus {
    /// The status of the engine's rebuild.
    init(_ p: RebuildProgress) {
        self.init(done: p.done, total: p.total, rate: p.eventsPerSecond)
    }
}

extension Stale {
    /// The marker of an answer from the projections live before a running rebuild.
    init(_ s: Staleness) {
        self.init(position: s.position.rawValue, progress: RebuildStatus(s.progress))
    }
}
