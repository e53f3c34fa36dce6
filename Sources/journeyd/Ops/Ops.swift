import JourneyCore
import JourneyProtocol
import JourneyStore

/// The query ops of SPEC §4, answered from an engine. The daemon and the command line share this
/// code, so an answer is the same whether it came through the socket or from the store directly.
/// Requests are decoded and answers encoded by JourneyProtocol.
struct Ops {
    let engine: JourneyEngine

    /// Answers a query op (not append, subscribe, replay or limits, which need a daemon: those
    /// answer `unknown_op` here). `audit` is called for ops that reveal a patient.
    func answer(_ request: Request, audit: (String, String) -> Void = { _, _ in }) throws(ProtocolError) -> [UInt8] {
        do {
            switch request {
            case .ping:
                return PingAnswer().line
            case .patient(let r):
                let (s, stale) = try engine.read { $0.patient(id: r.id, asOf: r.asOf ?? Clock.nowMs()) }
                guard let s else { throw notFound(r.id) }
                audit("patient", r.id)
                return PatientAnswer(s, stale: stale.map(Stale.init)).line
            case .handoff(let r):
                let (h, stale) = try engine.read { $0.handoff(id: r.id, asOf: r.asOf ?? Clock.nowMs()) }
                guard let h else { throw notFound(r.id) }
                audit("handoff", r.id)
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
                return AtRiskAnswer(page, stale: stale.map(Stale.init)).line
            case .stats:
                return try stats().line
            case .append, .subscribe, .signals, .ack, .replay, .limits:
                throw ProtocolError.unknownOp(request.op)
            }
        } catch let e as ProtocolError {
            throw e
        } catch let e as Rebuilding {
            throw ProtocolError.rebuilding(RebuildStatus(e.progress))
        } catch {
            throw ProtocolError("store_error", "\(error)")
        }
    }

    private func notFound(_ id: String) -> ProtocolError {
        ProtocolError("not_found", "no events for id \"\(id)\"")
    }

    func stats() throws -> StatsAnswer {
        let s = try engine.log.stats()
        let p = engine.projectionStats
        var answer = StatsAnswer(
            events: Int64(s.events), lastPosition: s.lastPosition, projectedPosition: p.position, clusters: Int64(p.clusters),
            mapSize: Int64(s.mapSize), mapUsed: Int64(s.mapUsed), fileSize: Int64(s.fileSize),
            rebuilding: p.rebuild.map(RebuildStatus.init), lastRebuildFailure: engine.lastRebuildFailure)
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
        case .diskFull: "disk_full"
        case .writesStopped: "writes_stopped"
        case .storeBusy: "store_busy"
        case .readOnly: "read_only"
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
