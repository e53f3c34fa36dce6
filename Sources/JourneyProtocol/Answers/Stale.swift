import JourneyCore

/// The marker of an answer given while the projections rebuild (SPEC §4, "rebuilds keep
/// answering"): the answer came from the projections that were live before the rebuild, which
/// reflect the log up to `position`. On the wire, `"stale":{"position":P,"rebuild_progress":{…}}`
/// right after `"ok":true`.
public struct Stale: Sendable, Hashable {
    /// The last log position the answering projections reflect.
    public var position: UInt64
    /// How far the rebuild has come.
    public var progress: RebuildStatus

    /// A marker for projections that reflect the log up to `position`, with the rebuild's
    /// `progress` (written as `position` and `rebuild_progress`).
    public init(position: UInt64, progress: RebuildStatus) {
        self.position = position
        self.progress = progress
    }

    /// Writes `{"position":P,"rebuild_progress":{…}}`.
    package func write(into w: inout JSONWriter) {
        w.beginObject()
        w.key("position"); w.int(Int64(position))
        w.key("rebuild_progress")
        progress.write(into: &w)
        w.endObject()
    }

    /// Reads what `write` writes.
    public init(json v: JSONValue) throws(AnswerError) {
        guard let position = v["position"]?.int64Value, position >= 0, let progress = v["rebuild_progress"] else {
            throw AnswerError("a \"stale\" marker without \"position\" and \"rebuild_progress\"")
        }
        self.init(position: UInt64(position), progress: try RebuildStatus(json: progress))
    }

    /// The marker of an answer's object, if it has one.
    static func of(_ answer: JSONValue) throws(AnswerError) -> Stale? {
        guard let v = answer["stale"], !v.isNull else { return nil }
        return try Stale(json: v)
    }
}
