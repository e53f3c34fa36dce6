import Testing
@testable import journeyd

private func parse(_ text: String, limits: HTTPLimits = HTTPLimits()) -> HTTPRequestParser.Result {
    Array(text.utf8).withUnsafeBufferPointer { HTTPRequestParser.parse($0, limits: limits) }
}

private func status(_ text: String, limits: HTTPLimits = HTTPLimits()) -> Int? {
    if case .failure(let e) = parse(text, limits: limits) { return e.status }
    return nil
}

private func request(_ text: String) -> (HTTPRequest, Int)? {
    if case .request(let r, let consumed) = parse(text) { return (r, consumed) }
    return nil
}

private func isIncomplete(_ text: String) -> Bool {
    if case .incomplete = parse(text) { return true }
    return false
}

@Suite("HTTP request parser")
struct HTTPRequestParserTests {
    @Test func aPostWithContentLength() throws {
        let text = "POST /v1/batch?x=1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nAuthorization: Basic a2V5Og==\r\n\r\nhelloNEXT"
        let (r, consumed) = try #require(request(text))
        #expect(r.head.method == "POST")
        #expect(r.head.path == "/v1/batch")
        #expect(r.head.header("authorization") == "Basic a2V5Og==")
        #expect(r.head.keepAlive)
        #expect(String(decoding: r.body, as: UTF8.self) == "hello")
        #expect(consumed == text.utf8.count - 4)
    }

    @Test func aChunkedBodyWithExtensionsAndTrailers() throws {
        let text = "POST /v1/track HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nX-Trailer: y\r\n\r\n"
        let (r, consumed) = try #require(request(text))
        #expect(String(decoding: r.body, as: UTF8.self) == "Wikipedia in \r\n\r\nchunks.")
        #expect(consumed == text.utf8.count)
    }

    @Test func incompleteUntilTheLastByte() {
        let text = "POST /v1/track HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        let bytes = Array(text.utf8)
        for n in 0..<bytes.count { #expect(isIncomplete(String(decoding: bytes[0..<n], as: UTF8.self)), "\(n)") }
        #expect(request(text) != nil)
        #expect(isIncomplete("POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nabc"))
    }

    @Test func chunkedDecodingFedByteByByteGivesTheSameBody() throws {
        let body = Array("5\r\nhello\r\n1;a=b\r\n!\r\n0\r\n\r\nrest".utf8)
        var d = ChunkedBodyDecoder(limits: HTTPLimits())
        var used = 0
        for b in body where !d.isComplete {
            used += try [b].withUnsafeBufferPointer { p throws(HTTPError) in try d.feed(p) }
        }
        #expect(d.isComplete)
        #expect(String(decoding: d.body, as: UTF8.self) == "hello!")
        #expect(used == body.count - 4)
    }

    @Test func http10ClosesUnlessKeepAlive() throws {
        #expect(try #require(request("GET / HTTP/1.0\r\n\r\n")).0.head.keepAlive == false)
        #expect(try #require(request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")).0.head.keepAlive)
        #expect(try #require(request("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")).0.head.keepAlive == false)
    }

    @Test func expectContinue() throws {
        #expect(try #require(request("POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n")).0.head.expectsContinue)
        #expect(status("POST / HTTP/1.1\r\nExpect: something\r\n\r\n") == 417)
    }

    @Test func smugglingShapesAreRefused() {
        #expect(status("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n") == 400)
        #expect(status("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd") == 400)
        #expect(status("POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc") == 400)
        #expect(status("POST / HTTP/1.1\r\nContent-Length : 3\r\n\r\nabc") == 400)
        #expect(status("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") == 501)
        #expect(status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n") == 400)
        #expect(status("POST / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n") == 400)
        #expect(status("POST / HTTP/1.1\nHost: x\r\n\r\n") == 400)
        #expect(status("POST / HTTP/1.1\r\nX: a\u{1}b\r\n\r\n") == 400)
        // The same length twice is one length.
        #expect(request("POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc") != nil)
    }

    @Test func badRequestLines() {
        #expect(status("POST /  HTTP/1.1\r\n\r\n") == 400)
        #expect(status("POST\r\n\r\n") == 400)
        #expect(status("POST / HTTP/2.0\r\n\r\n") == 505)
        #expect(status("POST / HTTP/1.1x\r\n\r\n") == 400)
        #expect(status("P(ST / HTTP/1.1\r\n\r\n") == 400)
    }

    @Test func headAndBodyCaps() {
        let limits = HTTPLimits(maxHeadBytes: 64, maxHeaderCount: 2, maxBodyBytes: 10)
        #expect(status("POST / HTTP/1.1\r\nX: " + String(repeating: "a", count: 80), limits: limits) == 431)
        #expect(status("POST / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits: limits) == 431)
        #expect(status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n", limits: limits) == 413)
        #expect(status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n5\r\n", limits: limits) == 413)
        #expect(status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n", limits: limits) == 413)
    }

    @Test func badChunks() {
        let head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        #expect(status(head + "zz\r\n") == 400)
        #expect(status(head + "3\r\nabcd\r\n") == 400)
        #expect(status(head + "3\nabc\r\n") == 400)
        #expect(status(head + "0\r\nX: \u{1}\r\n\r\n") == 400)
    }

    @Test func leadingEmptyLinesAreSkipped() throws {
        #expect(try #require(request("\r\n\r\nGET /v1/batch HTTP/1.1\r\n\r\n")).0.head.path == "/v1/batch")
    }

    @Test func base64AndTheKeyCheck() {
        #expect(Base64.decode("a2V5Og==") == Array("key:".utf8))
        #expect(Base64.decode("YWJj") == Array("abc".utf8))
        #expect(Base64.decode("YWI=") == Array("ab".utf8))
        #expect(Base64.decode("YW=j") == nil)
        #expect(Base64.decode("YWJ") == nil)
        #expect(SegmentHTTPAPI.constantTimeEqual(Array("k1".utf8), Array("k1".utf8)))
        #expect(!SegmentHTTPAPI.constantTimeEqual(Array("k1".utf8), Array("k12".utf8)))
        #expect(!SegmentHTTPAPI.constantTimeEqual([], Array("k".utf8)))
    }

    @Test func addresses() {
        #expect(HTTPAddress("127.0.0.1:8088")?.isLoopback == true)
        #expect(HTTPAddress("localhost:0")?.host == "127.0.0.1")
        #expect(HTTPAddress("[::1]:8088")?.isLoopback == true)
        #expect(HTTPAddress("0.0.0.0:8088")?.isLoopback == false)
        #expect(HTTPAddress("10.1.2.3:80")?.isLoopback == false)
        #expect(HTTPAddress("[::]:80")?.isLoopback == false)
        #expect(HTTPAddress("127.0.0.1") == nil)
        #expect(HTTPAddress("example.com:80") == nil)
        #expect(HTTPAddress("127.0.0.1:70000") == nil)
    }
}
