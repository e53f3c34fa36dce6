import JourneyCore

/// The read-audit record of signals shown to a consumer (SPEC §6): op `signals`, parameters
/// `{"consumer":NAME,"first_seq":A,"last_seq":B}` (the seqs shown), and the patients the
/// signals name, each once, in seq order (their count alone past `AuditEntry.maxIds`).
///
/// Every path records each batch of signals this way before it is shown: the socket's stream,
/// the command line reading the store itself, and `SignalStream`.
enum SignalDisclosure {
    /// The record of signals `first`…`last` of `consumer`, naming `patients`, shown to `reader`.
    static func entry(consumer: String, first: UInt64, last: UInt64, patients: some Sequence<String>,
                      to reader: AuditContext, at: Int64 = Clock.nowMs()) -> AuditEntry {
        var w = JSONWriter()
        w.beginObject()
        w.key("consumer"); w.string(consumer)
        w.key("first_seq"); w.int(Int64(first))
        w.key("last_seq"); w.int(Int64(last))
        w.endObject()
        var seen = Set<String>()
        let ids = patients.filter { seen.insert($0).inserted }
        return AuditEntry(at: at, uid: reader.uid, pid: reader.pid, actor: reader.actor, op: "signals",
                          parameters: w.string, ids: ids, reason: reader.reason)
    }
}

extension JourneyEngine {
    /// Records in the read audit, durably, that `reader` is shown signals `first`…`last` of
    /// `consumer`, naming `patients`: call it before they are shown.
    ///
    /// - Throws: `AuditUnavailable` when the record cannot be made durable: the signals must
    ///   then not be shown.
    package func discloseSignals(consumer: String, first: UInt64, last: UInt64, patients: some Sequence<String>,
                                 to reader: AuditContext) throws(AuditUnavailable) {
        try audit.record(SignalDisclosure.entry(consumer: consumer, first: first, last: last, patients: patients, to: reader))
    }

    /// The stored signals after seq `after`, at most `limit` of them, recorded in the read
    /// audit as shown to `context` for consumer `consumer` before they are returned (see
    /// `signals(consumer:from:as:)` for a stream that follows new ones).
    ///
    /// - Throws: `StoreError` when the store cannot be read; `AuditUnavailable` when the audit
    ///   record cannot be made durable (nothing is returned).
    public func signals(consumer: String, after: UInt64, limit: Int = 1024, as context: AuditContext) throws -> [Signal] {
        let page = try log.signals(after: after, limit: limit)
        if let first = page.first, let last = page.last {
            try discloseSignals(consumer: consumer, first: first.seq, last: last.seq, patients: page.map(\.patient), to: context)
        }
        return page
    }
}
