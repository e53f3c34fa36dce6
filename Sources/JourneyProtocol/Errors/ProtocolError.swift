import JourneyCore

/// A failed request, answered as `{"ok":false,"error":{"code":…,"message":…}}` (SPEC §4): the
/// code a program acts on, a message a user can act on, and any extra members of the error
/// object (e.g. a rebuild's progress).
public struct ProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The error code, e.g. `bad_request`, `invalid_event`, `not_found`.
    public var code: String
    /// What went wrong and how to fix it.
    public var message: String
    /// Members of the error object after `code` and `message`, in order.
    public var extra: [JSONMember]

    /// An error with this `code` and `message`, and `extra` members written after them in the
    /// `error` object.
    public init(_ code: String, _ message: String, extra: [JSONMember] = []) {
        self.code = code
        self.message = message
        self.extra = extra
    }

    /// `code: message`, e.g. `not_found: …`; the extra members are not included.
    public var description: String { "\(code): \(message)" }

    /// The error object: `{"code":…,"message":…,…extra}`.
    public var object: JSONValue {
        .object([JSONMember("code", .string(code)), JSONMember("message", .string(message))] + extra)
    }

    /// The answer line (without its newline): `{"ok":false,"error":{…}}`. The one writer of an
    /// error line, in the daemon and wherever an error is answered in its place.
    public var line: [UInt8] {
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

    /// The error of an `{"ok":false,"error":{…}}` answer's `error` member; nil when it has no
    /// `code` string. A missing message reads as empty.
    public init?(object: JSONValue) {
        guard let code = object["code"]?.stringValue else { return nil }
        self.code = code
        message = object["message"]?.stringValue ?? ""
        extra = (object.objectValue ?? []).filter { $0.key != "code" && $0.key != "message" }
    }

    /// `projections are being rebuilt: done of total events`, with the progress as extra members.
    public static func rebuilding(_ progress: RebuildStatus) -> ProtocolError {
        ProtocolError("rebuilding", "projections are being rebuilt: \(progress.done) of \(progress.total) events", extra: [
            JSONMember("done", .number(JSONNumber(progress.done))),
            JSONMember("total", .number(JSONNumber(progress.total))),
            JSONMember("events_per_s", .number(JSONNumber(progress.eventsPerSecond))),
            JSONMember("eta_s", progress.etaSeconds.map { .number(JSONNumber($0)) } ?? .null),
        ])
    }
}
