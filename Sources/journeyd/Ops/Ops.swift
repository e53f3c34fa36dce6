import JourneyCore
import JourneyStore

/// An op's failure, answered as `{"ok":false,"error":{"code":…,"message":…}}` (SPEC §4).
struct OpError: Error {
    var code: String
    var message: String
    /// Extra members of the error object (e.g. rebuild progress).
    var extra: [JSONMember] = []

    init(_ code: String, _ message: String, extra: [JSONMember] = []) {
        self.code = code
        self.message = message
        self.extra = extra
    }

    var json: [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("ok"); w.bool(false)
        w.key("error")
        w.beginObject()
        w.key("code"); w.string(code)
        w.key("message"); w.string(message)
        for m in extra {
            w.key(m.key)
            m.value.write(into: &w)
        }
        w.endObject()
        w.endObject()
        return w.bytes
    }

    /// The error for the rebuilding state, with its progress.
    static func rebuilding(_ p: RebuildProgress) -> OpError {
        let eta = p.eventsPerSecond > 0 ? Int64(Double(p.total - min(p.done, p.total)) / p.eventsPerSecond) : nil
        return OpError("rebuilding", "projections are being rebuilt: \(p.done) of \(p.total) events", extra: [
            JSONMember("done", .number(JSONNumber(Int64(p.done)))),
            JSONMember("total", .number(JSONNumber(Int64(p.total)))),
            JSONMember("events_per_s", .number(JSONNumber(Int64(p.eventsPerSecond)))),
            JSONMember("eta_s", eta.map { .number(JSONNumber($0)) } ?? .null),
        ])
    }
}

/// The ops of SPEC §4, answered from an engine. The daemon and the command line share this
/// code, so an answer is the same whether it came through the socket or from the store directly.
struct Ops {
    let engine: JourneyEngine

    /// Parses one request line; answers the op name and the request object, or an error.
    static func parseRequest(_ line: [UInt8]) throws(OpError) -> (op: String, request: JSONValue) {
        let value: JSONValue
        do {
            value = try JSONParser.parse(line)
        } catch {
            throw OpError("invalid_json", "the request is not valid JSON: \(error)")
        }
        guard case .object = value else { throw OpError("bad_request", "a request is a JSON object with an \"op\"") }
        guard let op = value["op"]?.stringValue else { throw OpError("bad_request", "the request has no \"op\" string") }
        return (op, value)
    }

    /// Answers a non-append, non-subscribe op. `audit` is called for ops that reveal a patient.
    func answer(op: String, _ r: JSONValue, audit: (String, String) -> Void = { _, _ in }) throws(OpError) -> [UInt8] {
        do {
            switch op {
            case "ping":
                return ok { _ in }
            case "patient", "handoff":
                guard let id = r["id"]?.stringValue, !id.isEmpty else {
                    throw OpError("bad_request", "\(op) needs \"id\", a non-empty string")
                }
                let asOf = try Self.time(r, "as_of")
                if op == "patient" {
                    let (s, stale) = try engine.read { $0.patient(id: id, asOf: asOf ?? Clock.nowMs()) }
                    guard let s else { throw notFound(id) }
                    audit(op, id)
                    return okWrapping(stale) { s.writeJSON(into: &$0) }
                } else {
                    let (h, stale) = try engine.read { $0.handoff(id: id, asOf: asOf ?? Clock.nowMs()) }
                    guard let h else { throw notFound(id) }
                    audit(op, id)
                    return okWrapping(stale) { h.writeJSON(into: &$0) }
                }
            case "funnel":
                let q = try Self.funnelQuery(r)
                let (report, stale) = try engine.readCopy { $0.funnel(q) }
                return okWrapping(stale) { report.writeJSON(into: &$0) }
            case "contacts":
                let (report, stale) = try engine.readCopy { $0.contacts() }
                return okWrapping(stale) { report.writeJSON(into: &$0) }
            case "at_risk":
                let asOf = try Self.time(r, "as_of")
                let limit = try Self.int(r, "limit") ?? 100
                guard limit >= 1 && limit <= 10_000 else { throw OpError("bad_request", "\"limit\" must be 1 to 10000") }
                let after = try Self.string(r, "after")
                let (page, stale) = try engine.readCopy { $0.atRisk(asOf: asOf ?? Clock.nowMs(), limit: Int(limit), after: after) }
                return okWrapping(stale) { page.writeJSON(into: &$0) }
            case "stats":
                return try stats()
            default:
                throw OpError("unknown_op", "unknown op \"\(op)\"; ops are append, patient, handoff, funnel, contacts, at_risk, subscribe, stats, ping")
            }
        } catch let e as OpError {
            throw e
        } catch let e as Rebuilding {
            throw OpError.rebuilding(e.progress)
        } catch {
            throw OpError("store_error", "\(error)")
        }
    }

    private func notFound(_ id: String) -> OpError {
        OpError("not_found", "no events for id \"\(id)\"")
    }

    func stats() throws -> [UInt8] {
        let s = try engine.log.stats()
        let p = engine.projectionStats
        return ok { w in
            w.key("events"); w.int(s.events)
            w.key("last_position"); w.int(Int64(s.lastPosition))
            w.key("projected_position"); w.int(Int64(p.position))
            w.key("clusters"); w.int(p.clusters)
            w.key("map_size"); w.int(s.mapSize)
            w.key("map_used"); w.int(s.mapUsed)
            w.key("file_size"); w.int(s.fileSize)
            w.key("rebuilding")
            if let r = p.rebuild { writeRebuildProgress(r, into: &w) } else { w.null() }
            w.key("last_rebuild_failure")
            if let f = engine.lastRebuildFailure { w.string(f) } else { w.null() }
        }
    }

    /// Answers an append's outcomes: `positions` (one per event, in order) and `duplicates`
    /// (the indexes of the events that were already stored).
    static func appendAnswer(_ outcomes: [EventLog.AppendOutcome]) -> [UInt8] {
        ok { w in
            w.key("positions")
            w.beginArray()
            for o in outcomes { w.int(Int64(o.position.rawValue)) }
            w.endArray()
            w.key("duplicates")
            w.beginArray()
            for (i, o) in outcomes.enumerated() {
                if case .duplicate = o { w.int(i) }
            }
            w.endArray()
        }
    }

    /// Answers an append with `"on_conflict":"reject_event"`: as `appendAnswer`, with `null` as
    /// the position of each event left out, and `rejected`: for each, its `index`, `id`, and
    /// the error's `code` and `message`.
    static func appendAnswer(_ results: EventLog.EventResults, id: (Int) -> String) -> [UInt8] {
        ok { w in
            w.key("positions")
            w.beginArray()
            for r in results {
                if case .success(let o) = r { w.int(Int64(o.position.rawValue)) } else { w.null() }
            }
            w.endArray()
            w.key("duplicates")
            w.beginArray()
            for (i, r) in results.enumerated() {
                if case .success(.duplicate) = r { w.int(i) }
            }
            w.endArray()
            w.key("rejected")
            w.beginArray()
            for (i, r) in results.enumerated() {
                guard case .failure(let e) = r else { continue }
                let error = storeError(e)
                w.beginObject()
                w.key("index"); w.int(i)
                w.key("id"); w.string(id(i))
                w.key("code"); w.string(error.code)
                w.key("message"); w.string(error.message)
                w.endObject()
            }
            w.endArray()
        }
    }

    /// Parses and validates an append request's events; any bad event fails the whole request.
    static func appendEvents(_ r: JSONValue) throws(OpError) -> [Event] {
        guard let list = r["events"]?.arrayValue else {
            throw OpError("bad_request", "append needs \"events\", an array of event objects")
        }
        guard !list.isEmpty else { throw OpError("bad_request", "\"events\" is empty") }
        var events: [Event] = []
        events.reserveCapacity(list.count)
        for (i, v) in list.enumerated() {
            do {
                events.append(try EventParser.validate(object: v))
            } catch {
                var e = error
                e.index = i
                throw OpError("invalid_event", e.description)
            }
        }
        return events
    }

    static func storeError(_ e: StoreError) -> OpError {
        let code = switch e.code {
        case .conflict: "conflict"
        case .diskFull: "disk_full"
        case .writesStopped: "writes_stopped"
        case .storeBusy: "store_busy"
        case .readOnly: "read_only"
        default: "store_error"
        }
        return OpError(code, e.description)
    }

    // MARK: request fields

    static func time(_ r: JSONValue, _ key: String) throws(OpError) -> Int64? {
        guard let v = r[key], !v.isNull else { return nil }
        if let ms = v.int64Value { return ms }
        if let s = v.stringValue, let ms = Timestamp.parse(s) { return ms }
        throw OpError("bad_request", "\"\(key)\" must be an RFC 3339 time or epoch milliseconds")
    }

    static func int(_ r: JSONValue, _ key: String) throws(OpError) -> Int64? {
        guard let v = r[key], !v.isNull else { return nil }
        guard let n = v.int64Value else { throw OpError("bad_request", "\"\(key)\" must be an integer") }
        return n
    }

    static func string(_ r: JSONValue, _ key: String) throws(OpError) -> String? {
        guard let v = r[key], !v.isNull else { return nil }
        guard let s = v.stringValue else { throw OpError("bad_request", "\"\(key)\" must be a string") }
        return s
    }

    static func funnelQuery(_ r: JSONValue) throws(OpError) -> FunnelQuery {
        var steps = FunnelQuery.defaultSteps
        if let v = r["steps"], !v.isNull {
            let names: [String]
            if let s = v.stringValue {
                names = s.split(separator: ",").map { String($0) }
            } else if let a = v.arrayValue {
                var out: [String] = []
                for x in a {
                    guard let s = x.stringValue else { throw OpError("bad_request", "\"steps\" must be strings") }
                    out.append(s)
                }
                names = out
            } else {
                throw OpError("bad_request", "\"steps\" must be an array of step names")
            }
            var parsed: [FunnelStep] = []
            for n in names {
                guard let s = FunnelStep(name: n) else {
                    throw OpError("bad_request", "unknown funnel step \"\(n)\": use touch, inquiry or an event type")
                }
                parsed.append(s)
            }
            steps = parsed
        }
        var window = FunnelQuery.defaultWindowMs
        if let w = try int(r, "window_s") {
            guard w >= 0, w <= Int64.max / 1000 else { throw OpError("bad_request", "\"window_s\" must be ≥ 0") }
            window = w * 1000
        }
        var by = Breakdown.channel
        if let b = try string(r, "by") {
            guard let parsed = Breakdown(name: b) else {
                throw OpError("bad_request", "unknown breakdown \"\(b)\": use channel, source, medium, campaign, term, type or none")
            }
            by = parsed
        }
        let from = try time(r, "from")
        let to = try time(r, "to")
        do {
            return try FunnelQuery(steps: steps, windowMs: window, by: by, from: from, to: to)
        } catch {
            throw OpError("bad_request", error.description)
        }
    }
}

/// `{"ok":true, …}` with the members `body` writes.
func ok(_ body: (inout JSONWriter) -> Void) -> [UInt8] {
    var w = JSONWriter()
    w.beginObject()
    w.key("ok"); w.bool(true)
    body(&w)
    w.endObject()
    return w.bytes
}

/// `{"ok":true, …}` with the members of the object `body` writes (SPEC §5 objects, flattened
/// into the answer), and, for an answer from the projections that were live before a rebuild
/// still running, `"stale":{"position":P,"rebuild_progress":{…}}`.
func okWrapping(_ stale: Staleness? = nil, _ body: (inout JSONWriter) -> Void) -> [UInt8] {
    var w = JSONWriter()
    body(&w)
    let object = w.bytes
    precondition(object.first == UInt8(ascii: "{"), "an answer is a JSON object")
    var out: [UInt8] = Array(#"{"ok":true"#.utf8)
    if let stale {
        var s = JSONWriter()
        writeStaleness(stale, into: &s)
        out.append(contentsOf: Array(#","stale":"#.utf8))
        out.append(contentsOf: s.bytes)
    }
    if object.count > 2 { out.append(UInt8(ascii: ",")) }
    out.append(contentsOf: object.dropFirst())
    return out
}

/// `{"position":P,"rebuild_progress":{"done","total","events_per_s","eta_s"}}`.
func writeStaleness(_ stale: Staleness, into w: inout JSONWriter) {
    w.beginObject()
    w.key("position"); w.int(Int64(stale.position.rawValue))
    w.key("rebuild_progress")
    writeRebuildProgress(stale.progress, into: &w)
    w.endObject()
}

/// `{"done","total","events_per_s","eta_s"}` of a rebuild.
func writeRebuildProgress(_ r: RebuildProgress, into w: inout JSONWriter) {
    w.beginObject()
    w.key("done"); w.int(Int64(r.done))
    w.key("total"); w.int(Int64(r.total))
    w.key("events_per_s"); w.int(Int64(r.eventsPerSecond))
    w.key("eta_s")
    if r.eventsPerSecond > 0 { w.int(Int64(Double(r.total - min(r.done, r.total)) / r.eventsPerSecond)) } else { w.null() }
    w.endObject()
}
