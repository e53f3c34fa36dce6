// Fuzz target: the HTTP/1.1 request parser of the Segment API (`HTTPRequestParser`,
// `ChunkedBodyDecoder`), from raw TCP bytes.
//
// The first byte picks the caps, the second how the bytes arrive. Invariants: parsing never
// crashes or reads past the input; a request found takes at most the input and has a body
// within the cap; the outcome on any prefix is `incomplete` or already the outcome on the whole
// input (bytes arriving later never change a decision); a chunked body decoded from pieces of
// any size is the body decoded at once; pipelined requests parse one after the other.
import Glibc

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>) -> Int32 {
    writeSeedsIfAsked {
        let auth = "Authorization: Basic dGVzdDo=\r\n"
        let body = #"{"batch":[{"type":"track","event":"Appointment Booked","userId":"p1","messageId":"m1","timestamp":"2026-03-01T10:00:00Z"}]}"#
        let requests = [
            "POST /v1/batch HTTP/1.1\r\nHost: localhost\r\n\(auth)Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)",
            "POST /v1/track HTTP/1.1\r\n\(auth)Transfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nTrailer: v\r\n\r\n",
            "POST /v1/page HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}",
            "GET /v1/batch?x=1 HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            "\r\nPOST / HTTP/1.1\r\nContent-Length: 3, 3\r\nContent-Encoding: gzip\r\n\r\nabc",
            "POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        ]
        var seeds: [[UInt8]] = []
        for (k, r) in requests.enumerated() {
            seeds.append([UInt8(k % 3), UInt8(truncatingIfNeeded: k * 37)] + Array((r + requests[(k + 1) % requests.count]).utf8))
        }
        return seeds
    }
    return 0
}

let capChoices = [
    HTTPLimits(),
    HTTPLimits(maxHeadBytes: 64, maxHeaderCount: 3, maxBodyBytes: 16),
    HTTPLimits(maxHeadBytes: 512, maxHeaderCount: 10, maxBodyBytes: 300),
]

/// An outcome reduced to what must not change as more bytes arrive.
enum Outcome: Equatable {
    case incomplete
    case request(HTTPRequestHead, body: [UInt8], consumed: Int)
    case failure(Int)

    init(_ r: HTTPRequestParser.Result) {
        switch r {
        case .incomplete: self = .incomplete
        case .request(let q, let consumed): self = .request(q.head, body: q.body, consumed: consumed)
        case .failure(let e): self = .failure(e.status)
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 2 else { return 0 }
    let limits = capChoices[Int(data[0]) % capChoices.count]
    var dice = Dice(data[1])
    let stream = UnsafeBufferPointer(start: data + 2, count: size - 2)

    var offset = 0
    for _ in 0..<4 {
        let rest = UnsafeBufferPointer(rebasing: stream[offset...])
        let whole = Outcome(HTTPRequestParser.parse(rest, limits: limits))
        if case .request(_, let body, let consumed) = whole {
            check(consumed > 0 && consumed <= rest.count, "consumed \(consumed) of \(rest.count)")
            check(body.count <= limits.maxBodyBytes, "body of \(body.count) over the cap")
        }
        // Prefixes: incomplete, or already the final outcome.
        var n = 0
        while n < rest.count {
            n = min(rest.count, n + dice.chunk())
            let prefix = Outcome(HTTPRequestParser.parse(UnsafeBufferPointer(rebasing: rest[0..<n]), limits: limits))
            if prefix != .incomplete {
                check(prefix == whole, "a prefix of \(n) bytes decided \(prefix), the whole input \(whole)")
                break
            }
        }
        // A chunked body fed in pieces decodes as it does at once.
        if case .head(let head, let length) = HTTPRequestParser.parseHead(rest, limits: limits), head.framing == .chunked {
            var once = ChunkedBodyDecoder(limits: limits)
            let body = UnsafeBufferPointer(rebasing: rest[length...])
            let onceResult = Result { () throws(HTTPError) in try once.feed(body) }
            var pieces = ChunkedBodyDecoder(limits: limits)
            var used = 0
            var failed: HTTPError?
            while used < body.count && !pieces.isComplete {
                let k = min(body.count - used, dice.chunk())
                do {
                    let took = try pieces.feed(UnsafeBufferPointer(rebasing: body[used..<used + k]))
                    check(took <= k, "used \(took) of \(k)")
                    used += took
                    if took < k { break }
                } catch {
                    failed = error
                    break
                }
            }
            switch onceResult {
            case .success(let took):
                check(failed == nil, "pieces failed (\(String(describing: failed))) where the whole did not")
                check(pieces.isComplete == once.isComplete, "completion differs")
                check(pieces.body == once.body, "bodies differ")
                if once.isComplete { check(used == took, "used \(used) in pieces, \(took) at once") }
            case .failure(let e):
                check(failed?.status == e.status, "at once \(e.status), in pieces \(String(describing: failed?.status))")
            }
        }
        guard case .request(_, _, let consumed) = whole else { break }
        offset += consumed
        if offset >= stream.count { break }
    }
    return 0
}
