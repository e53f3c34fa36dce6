import JourneyCore

/// A request to `journeyd` (SPEC §4), one JSON object on one line: `{"op":…, …}`.
///
/// `decode` refuses a bad request with the error the daemon answers (`invalid_json`,
/// `bad_request`, `unknown_op`, `invalid_event`, …); `line` encodes one. Members an op does not
/// use are ignored.
public enum Request: Sendable, Hashable {
    /// `append`: store a batch of events.
    case append(AppendRequest)
    /// `patient`: the journey state of a patient's cluster.
    case patient(PatientRequest)
    /// `handoff`: the warm-handoff context of a patient's cluster.
    case handoff(HandoffRequest)
    /// `funnel`: how many patients reached each step of a funnel, per breakdown value.
    case funnel(FunnelRequest)
    /// `contacts`: contact resolution per channel; the request has no members past `op`.
    case contacts
    /// `at_risk`: one page of the clusters with a non-empty `risk`.
    case atRisk(AtRiskRequest)
    /// `appointments`: the appointments scheduled in a period and their outcomes (SPEC §3.6).
    case appointments(AppointmentsRequest)
    /// `patients`: new, retained and lapsed patients over a period (SPEC §3.6).
    case patients(PatientsRequest)
    /// `cohorts`: patients by the month of their first visit, followed month by month (SPEC §3.6).
    case cohorts(CohortsRequest)
    /// `trends`: events or distinct patients per day, week or month (SPEC §3.6).
    case trends(TrendsRequest)
    /// `referrals`: who refers patients, and referred against direct patients (SPEC §3.6).
    case referrals(ReferralsRequest)
    /// `segment`: one page of the patients meeting a set of filters (SPEC §3.6).
    case segment(SegmentRequest)
    /// `subscribe`: the log from a position on, as a stream of events.
    case subscribe(SubscribeRequest)
    /// `signals`: a consumer's signals from after its acknowledged seq on, as a stream.
    case signals(SignalsRequest)
    /// `ack`: a consumer has handled the signals up to a seq.
    case ack(AckRequest)
    /// `replay`: rebuild the projections from the log; no members past `op`.
    case replay
    /// `limits`: the daemon's longest request line and event; no members past `op`.
    case limits
    /// `stats`: the store's and the projections' counters; no members past `op`.
    case stats
    /// `ping`: a liveness check, answered `{"ok":true}`; no members past `op`.
    case ping
    /// `audit`: the read audit (who was shown which patients).
    case audit(AuditRequest)
    /// `erase`: erase a patient's identifying data from the store for good.
    case erase(EraseRequest)

    /// The op's name on the wire.
    public var op: String {
        switch self {
        case .append: "append"
        case .patient: "patient"
        case .handoff: "handoff"
        case .funnel: "funnel"
        case .contacts: "contacts"
        case .atRisk: "at_risk"
        case .appointments: "appointments"
        case .patients: "patients"
        case .cohorts: "cohorts"
        case .trends: "trends"
        case .referrals: "referrals"
        case .segment: "segment"
        case .subscribe: "subscribe"
        case .signals: "signals"
        case .ack: "ack"
        case .replay: "replay"
        case .limits: "limits"
        case .stats: "stats"
        case .ping: "ping"
        case .audit: "audit"
        case .erase: "erase"
        }
    }

    /// The request line (without its newline).
    public var line: [UInt8] {
        switch self {
        case .append(let r): r.line
        case .patient(let r): r.line
        case .handoff(let r): r.line
        case .funnel(let r): r.line
        case .atRisk(let r): r.line
        case .appointments(let r): r.line
        case .patients(let r): r.line
        case .cohorts(let r): r.line
        case .trends(let r): r.line
        case .referrals(let r): r.line
        case .segment(let r): r.line
        case .subscribe(let r): r.line
        case .audit(let r): r.line
        case .erase(let r): r.line
        case .signals(let r): r.line
        case .ack(let r): r.line
        case .contacts, .replay, .limits, .stats, .ping: RequestFields.line(op: op) { _ in }
        }
    }

    /// Reads a request line.
    public static func decode(_ line: [UInt8]) throws(ProtocolError) -> Request {
        let (op, object) = try envelope(line)
        return try decode(op: op, object)
    }

    /// Reads a request line's envelope: its op name and the request object, or the error of a
    /// line that is not a request (`invalid_json`, `bad_request`). The op is not checked.
    public static func envelope(_ line: [UInt8]) throws(ProtocolError) -> (op: String, object: JSONValue) {
        let value: JSONValue
        do {
            value = try JSONParser.parse(line)
        } catch {
            throw ProtocolError("invalid_json", "the request is not valid JSON: \(error)")
        }
        guard case .object = value else { throw ProtocolError.badRequest("a request is a JSON object with an \"op\"") }
        guard let op = value["op"]?.stringValue else { throw ProtocolError.badRequest("the request has no \"op\" string") }
        return (op, value)
    }

    /// Reads the request object of op `op`.
    ///
    /// - Throws: `unknown_op` for an op the protocol does not have, else the op's own errors.
    public static func decode(op: String, _ r: JSONValue) throws(ProtocolError) -> Request {
        switch op {
        case "append": .append(try AppendRequest(decoding: r))
        case "patient": .patient(try PatientRequest(decoding: r))
        case "handoff": .handoff(try HandoffRequest(decoding: r))
        case "funnel": .funnel(try FunnelRequest(decoding: r))
        case "contacts": .contacts
        case "at_risk": .atRisk(try AtRiskRequest(decoding: r))
        case "appointments": .appointments(try AppointmentsRequest(decoding: r))
        case "patients": .patients(try PatientsRequest(decoding: r))
        case "cohorts": .cohorts(try CohortsRequest(decoding: r))
        case "trends": .trends(try TrendsRequest(decoding: r))
        case "referrals": .referrals(try ReferralsRequest(decoding: r))
        case "segment": .segment(try SegmentRequest(decoding: r))
        case "subscribe": .subscribe(try SubscribeRequest(decoding: r))
        case "signals": .signals(try SignalsRequest(decoding: r))
        case "ack": .ack(try AckRequest(decoding: r))
        case "replay": .replay
        case "limits": .limits
        case "stats": .stats
        case "ping": .ping
        case "audit": .audit(try AuditRequest(decoding: r))
        case "erase": .erase(try EraseRequest(decoding: r))
        default: throw ProtocolError.unknownOp(op)
        }
    }
}

extension ProtocolError {
    /// The error of an op the daemon does not answer (or, answering from the store, cannot).
    public static func unknownOp(_ op: String) -> ProtocolError {
        ProtocolError("unknown_op", "unknown op \(Quote.short(op)); ops are append, patient, handoff, funnel, contacts, at_risk, appointments, patients, cohorts, trends, referrals, segment, subscribe, signals, ack, replay, stats, ping, limits, audit, erase")
    }
}
