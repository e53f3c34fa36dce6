/// A response: status, a JSON body, and whether the connection closes after it.
struct HTTPResponse: Sendable {
    var status: Int
    var body: [UInt8]
    /// Extra header fields (`Allow`, `WWW-Authenticate`).
    var headers: [(name: String, value: String)] = []
    /// Close the connection after this response (the request's body was not read, or the
    /// client asked for it).
    var close = false

    init(status: Int, json: String, headers: [(name: String, value: String)] = [], close: Bool = false) {
        self.status = status
        body = Array(json.utf8)
        self.headers = headers
        self.close = close
    }

    /// The bytes on the wire.
    var bytes: [UInt8] {
        var head = "HTTP/1.1 \(status) \(Self.reason(status))\r\n"
        head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if close { head += "Connection: close\r\n" }
        head += "\r\n"
        return Array(head.utf8) + body
    }

    /// The interim response that tells a client to send its body.
    static let continueBytes = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 413: "Content Too Large"
        case 415: "Unsupported Media Type"
        case 417: "Expectation Failed"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status"
        }
    }
}
