/// A request's line and header fields, parsed (RFC 9112), before its body is read.
struct HTTPRequestHead: Sendable, Hashable {
    /// How the body is delimited.
    enum Framing: Sendable, Hashable {
        /// No body.
        case none
        /// `Content-Length` bytes.
        case length(Int)
        /// `Transfer-Encoding: chunked`.
        case chunked
    }

    /// The method (`POST`), case-sensitive as RFC 9110 says.
    var method: String
    /// The request target's path, without its query.
    var path: String
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    var minorVersion: Int
    /// The header fields in order, names lowercased, values without surrounding whitespace.
    var headers: [(name: String, value: String)]
    var framing: Framing
    /// The connection stays open after the response (HTTP/1.1 unless `Connection: close`;
    /// HTTP/1.0 only with `Connection: keep-alive`).
    var keepAlive: Bool
    /// The client waits for `100 Continue` before sending its body.
    var expectsContinue: Bool

    /// The value of the first field named `name` (lowercase).
    func header(_ name: String) -> String? {
        headers.first { $0.name == name }?.value
    }

    static func == (a: HTTPRequestHead, b: HTTPRequestHead) -> Bool {
        a.method == b.method && a.path == b.path && a.minorVersion == b.minorVersion
            && a.headers.map(\.name) == b.headers.map(\.name) && a.headers.map(\.value) == b.headers.map(\.value)
            && a.framing == b.framing && a.keepAlive == b.keepAlive && a.expectsContinue == b.expectsContinue
    }

    func hash(into h: inout Hasher) {
        h.combine(method)
        h.combine(path)
        h.combine(headers.count)
    }
}

/// A whole request: its head and its body.
struct HTTPRequest: Sendable {
    var head: HTTPRequestHead
    var body: [UInt8]
}
