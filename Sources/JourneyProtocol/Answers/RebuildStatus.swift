import JourneyCore

/// How far a rebuild of the projections has come, as answers carry it:
/// `{"done","total","events_per_s","eta_s"}` (in `stats`, in the `stale` marker, and in the
/// `rebuilding` error).
public struct RebuildStatus: Sendable, Hashable {
    /// Log positions folded so far.
    public var done: Int64
    /// Positions to fold in all.
    public var total: Int64
    /// The rebuild's rate so far, whole events a second.
    public var eventsPerSecond: Int64
    /// The seconds left at that rate; nil while the rate is unknown.
    public var etaSeconds: Int64?

    /// A status with these counters as they are (`done`, `total`, `events_per_s` and `eta_s` on
    /// the wire).
    public init(done: Int64, total: Int64, eventsPerSecond: Int64, etaSeconds: Int64?) {
        self.done = done
        self.total = total
        self.eventsPerSecond = eventsPerSecond
        self.etaSeconds = etaSeconds
    }

    /// The status of a rebuild at `rate` events a second (the time left is computed at that rate).
    public init(done: UInt64, total: UInt64, rate: Double) {
        self.init(
            done: Int64(done), total: Int64(total), eventsPerSecond: Int64(rate),
            etaSeconds: rate > 0 ? Int64(Double(total - min(done, total)) / rate) : nil)
    }

    /// Writes `{"done","total","events_per_s","eta_s"}`.
    package func write(into w: inout JSONWriter) {
        w.beginObject()
        w.key("done"); w.int(done)
        w.key("total"); w.int(total)
        w.key("events_per_s"); w.int(eventsPerSecond)
        w.key("eta_s")
        if let etaSeconds { w.int(etaSeconds) } else { w.null() }
        w.endObject()
    }

    /// Reads what `write` writes.
    public init(json v: JSONValue) throws(AnswerError) {
        guard let done = v["done"]?.int64Value, let total = v["total"]?.int64Value,
              let rate = v["events_per_s"]?.int64Value
        else { throw AnswerError("a rebuild progress without \"done\", \"total\" and \"events_per_s\" integers") }
        let eta = v["eta_s"]
        guard eta == nil || eta!.isNull || eta!.int64Value != nil else {
            throw AnswerError("a rebuild progress whose \"eta_s\" is not an integer or null")
        }
        self.init(done: done, total: total, eventsPerSecond: rate, etaSeconds: eta?.int64Value)
    }
}
