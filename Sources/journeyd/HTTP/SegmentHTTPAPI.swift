import JourneyCore
import JourneyProtocol
import JourneyStore

/// Segment's HTTP tracking API (SPEC §7): `POST /v1/batch`, `/v1/track`, `/v1/page`,
/// `/v1/identify` and `/v1/alias`, authenticated by HTTP basic auth with the write key as the
/// user name, mapped by `SegmentMapping` and appended through the store's write pipeline.
///
/// | answer | when |
/// | --- | --- |
/// | 200 `{"success":true}` | every event of the request is durable (or it held none to store) |
/// | 400 | the body is not JSON, not a message or batch, or a message cannot be mapped; or a `messageId` is stored with other content (`conflict`) or is that of an erased event (`erased`): nothing of the request is stored |
/// | 401 | no or a wrong write key: nothing is read or stored |
/// | 404 / 405 | another path / another method |
/// | 413 | a body over 500 KiB |
/// | 415 | a `Content-Encoding` other than `identity` (no compression library is linked) |
/// | 503 | the store cannot take writes (a client retries) |
///
/// Error bodies are `{"success":false,"code":"…","message":"…"}`, the shape Segment's clients
/// read, with `errors:[{index, field, message}]` for messages that cannot be mapped.
struct SegmentHTTPAPI: HTTPHandler {
    let writes: WritePipeline
    let writeKey: String
    let mapping: SegmentMapping

    /// Each endpoint and the call it implies (nil: a batch of any calls).
    static let endpoints: [String: String?] = [
        "/v1/batch": nil, "/v1/track": "track", "/v1/page": "page",
        "/v1/identify": "identify", "/v1/alias": "alias",
    ]

    func preflight(_ head: HTTPRequestHead) -> HTTPResponse? {
        guard Self.endpoints[head.path] != nil else {
            return Self.error(404, "not_found", "no such endpoint: \(head.path)")
        }
        guard head.method == "POST" else {
            return Self.error(405, "method_not_allowed", "\(head.path) takes POST", headers: [("Allow", "POST")])
        }
        guard authorized(head.header("authorization")) else {
            return Self.error(401, "unauthorized", "a valid write key is required (HTTP basic auth, the key as user name)",
                              headers: [("WWW-Authenticate", "Basic realm=\"journey\"")])
        }
        if let encoding = head.header("content-encoding"), encoding.lowercased() != "identity" {
            return Self.error(415, "unsupported_encoding", "Content-Encoding \(encoding) is not accepted: send the body uncompressed")
        }
        return nil
    }

    func respond(to request: HTTPRequest) -> HTTPResponse {
        let call = Self.endpoints[request.head.path] ?? nil
        let body: JSONValue
        do { body = try JSONParser().parse(request.body) } catch {
            return Self.error(400, "invalid_request", "invalid JSON: \(error.reason) at byte \(error.offset)")
        }
        guard case .object = body else { return Self.error(400, "invalid_request", "the body must be a JSON object") }
        var messages: [JSONValue]
        if call == nil {
            guard let batch = body["batch"]?.arrayValue else {
                return Self.error(400, "invalid_request", "a batch needs \"batch\": an array of messages")
            }
            // Context given once for the batch applies to the messages that carry none.
            let shared = body["context"]
            messages = batch.map { m in
                guard let shared, case .object(var members) = m, m["context"] == nil else { return m }
                members.append(JSONMember("context", shared))
                return .object(members)
            }
        } else {
            messages = [body]
        }
        let receivedAt = Clock.nowMs()
        var events: [Event] = []
        var errors: [(index: Int, error: EventError)] = []
        for (i, m) in messages.enumerated() {
            do {
                events += try mapping.map(m, callType: call, receivedAt: receivedAt).events
            } catch {
                errors.append((i, error))
            }
        }
        if !errors.isEmpty { return Self.invalid(errors, batch: call == nil) }
        if events.isEmpty { return Self.success }
        do {
            _ = try writes.appendEncoded(EventLog.encode(events))
            return Self.success
        } catch {
            let e = Ops.storeError(error)
            // Refusals of the request's own: retrying it cannot help.
            if e.code == "conflict" || e.code == "erased" { return Self.error(400, e.code, e.message) }
            return Self.error(503, e.code, e.message)
        }
    }

    // MARK: answers

    static let success = HTTPResponse(status: 200, json: #"{"success":true}"#)

    static func error(_ status: Int, _ code: String, _ message: String, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        var w = JSONWriter()
        w.beginObject()
        w.key("success"); w.bool(false)
        w.key("code"); w.string(code)
        w.key("message"); w.string(message)
        w.endObject()
        return HTTPResponse(status: status, json: w.string, headers: headers)
    }

    /// 400 for messages that cannot be mapped: the first named in `message`, all in `errors`.
    private static func invalid(_ errors: [(index: Int, error: EventError)], batch: Bool) -> HTTPResponse {
        var w = JSONWriter()
        w.beginObject()
        w.key("success"); w.bool(false)
        w.key("code"); w.string("invalid_request")
        let first = errors[0]
        let more = errors.count > 1 ? " (and \(errors.count - 1) more)" : ""
        w.key("message"); w.string((batch ? "message \(first.index): " : "") + first.error.description + more + "; nothing was stored")
        w.key("errors")
        w.beginArray()
        for (index, e) in errors.prefix(100) {
            w.beginObject()
            w.key("index"); w.int(index)
            w.key("field"); w.string(e.field)
            w.key("message"); w.string(e.description)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return HTTPResponse(status: 400, json: w.string)
    }

    // MARK: auth

    /// True when `authorization` is `Basic base64(KEY:…)` with this write key (the password,
    /// which Segment's clients leave empty, is ignored).
    func authorized(_ authorization: String?) -> Bool {
        guard let authorization else { return false }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
              let decoded = Base64.decode(String(parts[1].trimmingSpaces)) else { return false }
        let user = decoded.split(separator: UInt8(ascii: ":"), maxSplits: 1, omittingEmptySubsequences: false).first ?? []
        return Self.constantTimeEqual(Array(user), Array(writeKey.utf8))
    }

    /// Compares without stopping at the first difference, so timing tells nothing of the key.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<Swift.max(a.count, b.count) {
            diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0xFF)
        }
        return diff == 0
    }
}

/// Standard base64 (RFC 4648 §4), for basic auth.
enum Base64 {
    /// The bytes of `text`; nil when it is not padded base64.
    static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 4 * 3)
        var i = 0
        while i < chars.count {
            var v: UInt32 = 0
            var pad = 0
            for k in 0..<4 {
                let c = chars[i + k]
                let d: UInt32
                switch c {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): d = UInt32(c - UInt8(ascii: "A"))
                case UInt8(ascii: "a")...UInt8(ascii: "z"): d = UInt32(c - UInt8(ascii: "a")) + 26
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0")) + 52
                case UInt8(ascii: "+"): d = 62
                case UInt8(ascii: "/"): d = 63
                case UInt8(ascii: "="):
                    // Padding only at the end of the last group, at most two.
                    guard i + 4 == chars.count, k >= 2 else { return nil }
                    pad += 1
                    d = 0
                default: return nil
                }
                if pad > 0 && c != UInt8(ascii: "=") { return nil }
                v = v << 6 | d
            }
            out.append(UInt8(v >> 16 & 0xFF))
            if pad < 2 { out.append(UInt8(v >> 8 & 0xFF)) }
            if pad < 1 { out.append(UInt8(v & 0xFF)) }
            i += 4
        }
        return out
    }
}
