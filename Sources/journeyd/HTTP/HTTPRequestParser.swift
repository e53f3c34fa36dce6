/// The HTTP/1.1 request parser (RFC 9112): pure functions over bytes, so that the server's
/// reading loop and the fuzzer run the same code.
///
/// Strict where leniency lets two parsers disagree about where a request ends: lines end with
/// CRLF; no whitespace before a field's colon and no folded lines; `Content-Length` digits only,
/// repeated only with the same value, never beside `Transfer-Encoding`; `Transfer-Encoding`
/// only `chunked`. Caps (`HTTPLimits`) bound the head and the body.
enum HTTPRequestParser {
    /// The outcome of parsing a request's head.
    enum HeadResult: Sendable, Hashable {
        /// More bytes are needed.
        case incomplete
        /// The head, and its length in bytes (the body starts there).
        case head(HTTPRequestHead, length: Int)
        case failure(HTTPError)
    }

    /// The outcome of parsing a whole request.
    enum Result: Sendable {
        case incomplete
        /// The request, and the bytes it took (a next request may follow).
        case request(HTTPRequest, consumed: Int)
        case failure(HTTPError)
    }

    /// Parses the request at the start of `bytes`, body included.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, limits: HTTPLimits = HTTPLimits()) -> Result {
        switch parseHead(bytes, limits: limits) {
        case .incomplete: return .incomplete
        case .failure(let e): return .failure(e)
        case .head(let head, let length):
            switch head.framing {
            case .none:
                return .request(HTTPRequest(head: head, body: []), consumed: length)
            case .length(let n):
                guard bytes.count - length >= n else { return .incomplete }
                return .request(HTTPRequest(head: head, body: Array(bytes[length..<length + n])), consumed: length + n)
            case .chunked:
                var decoder = ChunkedBodyDecoder(limits: limits)
                do {
                    let used = try decoder.feed(UnsafeBufferPointer(rebasing: bytes[length...]))
                    guard decoder.isComplete else { return .incomplete }
                    return .request(HTTPRequest(head: head, body: decoder.body), consumed: length + used)
                } catch {
                    return .failure(error)
                }
            }
        }
    }

    /// Parses the request line and header fields at the start of `bytes`.
    static func parseHead(_ bytes: UnsafeBufferPointer<UInt8>, limits: HTTPLimits = HTTPLimits()) -> HeadResult {
        // Empty lines before a request line are skipped (RFC 9112 §2.2).
        var start = 0
        while start + 1 < bytes.count, bytes[start] == cr, bytes[start + 1] == lf { start += 2 }
        guard let end = headEnd(bytes, from: start, limit: limits.maxHeadBytes) else {
            if bytes.count - start > limits.maxHeadBytes + 3 {
                return .failure(HTTPError(431, "request line and headers over \(limits.maxHeadBytes) bytes"))
            }
            return .incomplete
        }
        guard end - start <= limits.maxHeadBytes else {
            return .failure(HTTPError(431, "request line and headers over \(limits.maxHeadBytes) bytes"))
        }
        do {
            let head = try head(UnsafeBufferPointer(rebasing: bytes[start..<end]), limits: limits)
            return .head(head, length: end + 4)
        } catch {
            return .failure(error)
        }
    }

    // MARK: the head

    private static let cr = UInt8(ascii: "\r")
    private static let lf = UInt8(ascii: "\n")

    /// The offset of the `\r\n\r\n` that ends the head, looking no further than `limit` bytes
    /// past `from`.
    private static func headEnd(_ b: UnsafeBufferPointer<UInt8>, from: Int, limit: Int) -> Int? {
        let last = Swift.min(b.count, from + limit + 4) - 4
        guard last >= from else { return nil }
        var i = from
        while i <= last {
            if b[i + 3] != lf { i += b[i + 3] == cr ? 1 : 4; continue }
            if b[i] == cr, b[i + 1] == lf, b[i + 2] == cr { return i }
            i += 1
        }
        return nil
    }

    /// Parses a head without its final blank line.
    private static func head(_ b: UnsafeBufferPointer<UInt8>, limits: HTTPLimits) throws(HTTPError) -> HTTPRequestHead {
        var lines: [Range<Int>] = []
        var lineStart = 0
        var i = 0
        while i < b.count {
            if b[i] == cr {
                guard i + 1 < b.count, b[i + 1] == lf else { throw HTTPError(400, "a bare CR in the request head") }
                lines.append(lineStart..<i)
                i += 2
                lineStart = i
                continue
            }
            if b[i] == lf { throw HTTPError(400, "a line of the request head ends without CR") }
            i += 1
        }
        lines.append(lineStart..<b.count)
        guard lines.count - 1 <= limits.maxHeaderCount else {
            throw HTTPError(431, "more than \(limits.maxHeaderCount) header fields")
        }
        var head = try requestLine(UnsafeBufferPointer(rebasing: b[lines[0]]))
        for range in lines.dropFirst() {
            head.headers.append(try field(UnsafeBufferPointer(rebasing: b[range])))
        }
        try interpret(&head)
        return head
    }

    /// `method SP target SP HTTP/1.x`.
    private static func requestLine(_ b: UnsafeBufferPointer<UInt8>) throws(HTTPError) -> HTTPRequestHead {
        let parts = b.split(separator: UInt8(ascii: " "), maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw HTTPError(400, "the request line must be: method, target, version") }
        let method = parts[0], target = parts[1], version = parts[2]
        guard !method.isEmpty, method.allSatisfy(isTokenByte) else { throw HTTPError(400, "a bad method") }
        guard !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw HTTPError(400, "a bad request target")
        }
        let minor: Int
        switch Array(version) {
        case Array("HTTP/1.1".utf8): minor = 1
        case Array("HTTP/1.0".utf8): minor = 0
        default:
            let v = Array(version)
            if v.count == 8, v.starts(with: Array("HTTP/".utf8)), v[6] == UInt8(ascii: "."),
               v[5] &- 0x30 < 10, v[7] &- 0x30 < 10 {
                throw HTTPError(505, "only HTTP/1.1 and HTTP/1.0 are served")
            }
            throw HTTPError(400, "a bad HTTP version")
        }
        var path = String(decoding: target, as: UTF8.self)
        if let q = path.firstIndex(where: { $0 == "?" || $0 == "#" }) { path = String(path[..<q]) }
        return HTTPRequestHead(method: String(decoding: method, as: UTF8.self), path: path, minorVersion: minor,
                               headers: [], framing: .none, keepAlive: minor == 1, expectsContinue: false)
    }

    /// `name: value`, the name lowercased, the value trimmed.
    private static func field(_ b: UnsafeBufferPointer<UInt8>) throws(HTTPError) -> (name: String, value: String) {
        guard let first = b.first else { throw HTTPError(400, "an empty header line") }
        guard first != UInt8(ascii: " ") && first != UInt8(ascii: "\t") else {
            throw HTTPError(400, "folded header lines are not accepted")
        }
        guard let colon = b.firstIndex(of: UInt8(ascii: ":")) else { throw HTTPError(400, "a header line without ':'") }
        let name = b[0..<colon]
        guard !name.isEmpty, name.allSatisfy(isTokenByte) else {
            throw HTTPError(400, "a bad header name (no whitespace before ':')")
        }
        var lo = colon + 1, hi = b.count
        while lo < hi, b[lo] == 0x20 || b[lo] == 0x09 { lo += 1 }
        while hi > lo, b[hi - 1] == 0x20 || b[hi - 1] == 0x09 { hi -= 1 }
        let value = b[lo..<hi]
        guard value.allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 }) else {
            throw HTTPError(400, "a control character in a header value")
        }
        let lower = name.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 + 32 : $0 }
        return (String(decoding: lower, as: UTF8.self), String(decoding: value, as: UTF8.self))
    }

    /// Sets framing, keep-alive and expectation from the header fields.
    private static func interpret(_ head: inout HTTPRequestHead) throws(HTTPError) {
        var length: Int?
        var chunked = false
        var sawTransferEncoding = false
        var sawClose = false
        var sawKeepAlive = false
        for (name, value) in head.headers {
            switch name {
            case "content-length":
                // A list of equal values is one value (RFC 9112 §6.3); anything else is refused.
                for part in value.split(separator: ",", omittingEmptySubsequences: false) {
                    let digits = part.trimmingSpaces
                    guard !digits.isEmpty, digits.utf8.count <= 15, digits.utf8.allSatisfy({ $0 &- 0x30 < 10 }),
                          let n = Int(digits) else { throw HTTPError(400, "a bad Content-Length") }
                    if let length, length != n { throw HTTPError(400, "conflicting Content-Length values") }
                    length = n
                }
            case "transfer-encoding":
                sawTransferEncoding = true
                let codings = value.split(separator: ",").map { $0.trimmingSpaces.lowercased() }.filter { !$0.isEmpty }
                guard codings == ["chunked"], !chunked else {
                    throw HTTPError(501, "only Transfer-Encoding: chunked is supported")
                }
                chunked = true
            case "connection":
                for token in value.split(separator: ",").map({ $0.trimmingSpaces.lowercased() }) {
                    if token == "close" { sawClose = true }
                    if token == "keep-alive" { sawKeepAlive = true }
                }
            case "expect":
                guard value.lowercased() == "100-continue" else { throw HTTPError(417, "only Expect: 100-continue is understood") }
                head.expectsContinue = head.minorVersion == 1
            default:
                break
            }
        }
        head.keepAlive = !sawClose && (head.minorVersion == 1 || sawKeepAlive)
        if sawTransferEncoding {
            guard length == nil else { throw HTTPError(400, "both Content-Length and Transfer-Encoding") }
            guard head.minorVersion == 1 else { throw HTTPError(400, "Transfer-Encoding in an HTTP/1.0 request") }
            head.framing = .chunked
        } else if let length {
            head.framing = length > 0 ? .length(length) : .none
        }
    }

    /// A `tchar` of RFC 9110 §5.6.2.
    static func isTokenByte(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(c)
        }
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs.
    var trimmingSpaces: Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
