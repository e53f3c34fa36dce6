/// The canonical JSON form of an event (export, socket answers): keys in SPEC §1 table order,
/// absent fields omitted, times as RFC 3339 UTC with milliseconds, `amount` with two decimals.
///
/// `EventParser.parse(EventJSON.encode(e)) == e` for every valid event.
package enum EventJSON {
    /// Writes `e` as one JSON object; with `atAsEpochMs`, its `at` as integer milliseconds since
    /// the epoch (the other accepted form), not RFC 3339.
    package static func write(_ e: Event, into w: inout JSONWriter, atAsEpochMs: Bool = false) {
        w.beginObject()
        w.key("id"); w.string(e.id)
        w.key("type"); w.string(e.type.name)
        w.key("subject"); w.string(e.subject)
        w.key("at")
        if atAsEpochMs { w.int(e.at) } else { w.time(ms: e.at) }
        if let v = e.channel { w.key("channel"); w.string(v.name) }
        if let v = e.source { w.key("source"); w.string(v) }
        if let v = e.medium { w.key("medium"); w.string(v) }
        if let v = e.campaign { w.key("campaign"); w.string(v) }
        if let v = e.term { w.key("term"); w.string(v) }
        if let v = e.agent { w.key("agent"); w.string(v) }
        if let v = e.conversation { w.key("conversation"); w.string(v) }
        if let v = e.concern { w.key("concern"); w.string(v) }
        if let v = e.resolved { w.key("resolved"); w.bool(v) }
        if let v = e.direction { w.key("direction"); w.string(v.name) }
        if let v = e.durationS { w.key("duration_s"); w.int(v) }
        if let v = e.outcome { w.key("outcome"); w.string(v.name) }
        if let v = e.appointment { w.key("appointment"); w.string(v) }
        if let v = e.scheduledFor { w.key("scheduled_for"); w.time(ms: v) }
        if let v = e.location { w.key("location"); w.string(v) }
        if let v = e.provider { w.key("provider"); w.string(v) }
        if let v = e.amountCents { w.key("amount"); w.money(cents: v) }
        if let v = e.message { w.key("message"); w.string(v) }
        if let v = e.referrer { w.key("referrer"); w.string(v) }
        if let v = e.patient { w.key("patient"); w.string(v) }
        if let v = e.toAgent { w.key("to_agent"); w.string(v) }
        if let v = e.toChannel { w.key("to_channel"); w.string(v.name) }
        if let v = e.status { w.key("status"); w.string(v.name) }
        if let v = e.consentStatus { w.key("status"); w.string(v.name) }
        if !e.attrs.isEmpty {
            w.key("attrs")
            w.beginObject()
            for a in e.attrs {
                w.key(a.key)
                w.string(a.value)
            }
            w.endObject()
        }
        w.endObject()
    }

    /// `e` as one line of JSON text (no newline).
    package static func encode(_ e: Event) -> String {
        var w = JSONWriter()
        write(e, into: &w)
        return w.string
    }
}
