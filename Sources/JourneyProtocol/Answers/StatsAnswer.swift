import JourneyCore

/// The answer to `stats`: the store's and the projections' counters.
public struct StatsAnswer: Sendable, Hashable, EncodableAnswer, DecodableAnswer {
    /// Events stored.
    public var events: Int64
    /// The position of the last stored event.
    public var lastPosition: UInt64
    /// The position the projections have folded up to.
    public var projectedPosition: UInt64
    /// Identity clusters (journeys).
    public var clusters: Int64
    /// LMDB's map size, bytes.
    public var mapSize: Int64
    /// Bytes of the map in use.
    public var mapUsed: Int64
    /// The data file's size, bytes.
    public var fileSize: Int64
    /// While the projections are being rebuilt: how far the rebuild has come.
    public var rebuilding: RebuildStatus?
    /// The error of the last rebuild that failed, if one did.
    public var lastRebuildFailure: String?
    /// Reads refused since the daemon started because their audit record could not be written.
    public var auditFailures: Int64 = 0
    /// Why the latest audit record could not be written, if one could not.
    public var lastAuditFailure: String?
    /// The seq of the latest signal (0: none).
    public var lastSignalSeq: UInt64 = 0
    /// The signal consumers, by name.
    public var consumers: [SignalConsumerStatus] = []

    /// A signal consumer as `stats` lists it.
    public struct SignalConsumerStatus: Sendable, Hashable {
        /// Its name.
        public var name: String
        /// The last seq it acknowledged.
        public var acked: UInt64
        /// Signals stored after it: the latest seq minus `acked`.
        public var lag: UInt64
        /// When it was created (ms).
        public var createdAt: Int64

        /// A consumer's figures.
        public init(name: String, acked: UInt64, lag: UInt64, createdAt: Int64) {
            self.name = name
            self.acked = acked
            self.lag = lag
            self.createdAt = createdAt
        }
    }

    /// An answer with these counters as they are; `rebuilding` and `lastRebuildFailure` are
    /// nil unless a rebuild is running or the last one failed.
    public init(events: Int64, lastPosition: UInt64, projectedPosition: UInt64, clusters: Int64, mapSize: Int64,
                mapUsed: Int64, fileSize: Int64, rebuilding: RebuildStatus? = nil, lastRebuildFailure: String? = nil) {
        self.events = events
        self.lastPosition = lastPosition
        self.projectedPosition = projectedPosition
        self.clusters = clusters
        self.mapSize = mapSize
        self.mapUsed = mapUsed
        self.fileSize = fileSize
        self.rebuilding = rebuilding
        self.lastRebuildFailure = lastRebuildFailure
    }

    /// The answer line (without its newline): `{"ok":true,"events","last_position",
    /// "projected_position","clusters","map_size","map_used","file_size","rebuilding",
    /// "last_rebuild_failure","audit_failures","last_audit_failure","last_signal_seq",
    /// "consumers":[{"name","acked","lag","created"}]}`; `rebuilding` (a `RebuildStatus` object) and
    /// `last_rebuild_failure` (a string) are written as `null` when nil.
    public var line: [UInt8] {
        Answer.ok { w in
            w.key("events"); w.int(events)
            w.key("last_position"); w.int(Int64(lastPosition))
            w.key("projected_position"); w.int(Int64(projectedPosition))
            w.key("clusters"); w.int(clusters)
            w.key("map_size"); w.int(mapSize)
            w.key("map_used"); w.int(mapUsed)
            w.key("file_size"); w.int(fileSize)
            w.key("rebuilding")
            if let rebuilding { rebuilding.write(into: &w) } else { w.null() }
            w.key("last_rebuild_failure")
            if let lastRebuildFailure { w.string(lastRebuildFailure) } else { w.null() }
            w.key("audit_failures"); w.int(auditFailures)
            w.key("last_audit_failure"); w.string(lastAuditFailure)
            w.key("last_signal_seq"); w.int(Int64(lastSignalSeq))
            w.key("consumers")
            w.beginArray()
            for c in consumers {
                w.beginObject()
                w.key("name"); w.string(c.name)
                w.key("acked"); w.int(Int64(c.acked))
                w.key("lag"); w.int(Int64(c.lag))
                w.key("created"); w.time(ms: c.createdAt)
                w.endObject()
            }
            w.endArray()
        }
    }

    /// Reads the counters (`events`, `last_position`, `projected_position`, `clusters`,
    /// `map_size`, `map_used`, `file_size`), then `rebuilding` and `last_rebuild_failure`,
    /// either of which may be absent or `null`, and `last_signal_seq` and `consumers` (absent
    /// from an older daemon's answer: 0 and none).
    ///
    /// - Throws: `AnswerError` when a counter is missing or not an integer ≥ 0, or `rebuilding`
    ///   is not a rebuild progress object.
    public init(answer v: JSONValue) throws(AnswerError) {
        func n(_ key: String) -> Int64? { v[key]?.int64Value.flatMap { $0 >= 0 ? $0 : nil } }
        guard let events = n("events"), let last = n("last_position"), let projected = n("projected_position"),
              let clusters = n("clusters"), let mapSize = n("map_size"), let mapUsed = n("map_used"),
              let fileSize = n("file_size")
        else { throw AnswerError("a counter is missing or not an integer ≥ 0") }
        var rebuilding: RebuildStatus?
        if let r = v["rebuilding"], !r.isNull { rebuilding = try RebuildStatus(json: r) }
        self.init(
            events: events, lastPosition: UInt64(last), projectedPosition: UInt64(projected), clusters: clusters,
            mapSize: mapSize, mapUsed: mapUsed, fileSize: fileSize, rebuilding: rebuilding,
            lastRebuildFailure: v["last_rebuild_failure"]?.stringValue)
        auditFailures = n("audit_failures") ?? 0
        lastAuditFailure = v["last_audit_failure"]?.stringValue
        lastSignalSeq = UInt64(max(0, v["last_signal_seq"]?.int64Value ?? 0))
        for c in v["consumers"]?.arrayValue ?? [] {
            guard let name = c["name"]?.stringValue, let acked = c["acked"]?.int64Value, acked >= 0,
                  let lag = c["lag"]?.int64Value, lag >= 0
            else { throw AnswerError("a consumer without \"name\", \"acked\" and \"lag\"") }
            let created = c["created"]?.stringValue.flatMap(Timestamp.parse) ?? 0
            consumers.append(SignalConsumerStatus(name: name, acked: UInt64(acked), lag: UInt64(lag), createdAt: created))
        }
    }
}
