import Foundation
import Glibc
import JourneyCore
import JourneyStore
import Testing
@testable import journeyd

// Segment's HTTP tracking API, end to end over TCP on loopback: the answers a Segment client
// reads, and what the store holds after each.

private func track(_ id: String, event: String = "Appointment Booked", user: String = "patient-1", extra: String = "") -> String {
    #"{"type":"track","event":"\#(event)","userId":"\#(user)","messageId":"\#(id)","timestamp":"2026-03-01T10:00:00Z"\#(extra)}"#
}

private func batch(_ messages: [String]) -> String {
    #"{"batch":["# + messages.joined(separator: ",") + #"],"sentAt":"2026-03-01T10:00:01Z"}"#
}

@Suite("Segment HTTP API", .serialized)
struct SegmentHTTPTests {
    @Test func aBatchIsStoredAndAnswered200() throws {
        let api = try RunningHTTPAPI()
        let c = try HTTPTestConnection(port: api.port)
        c.send(HTTPTestConnection.post("/v1/batch", batch([
            track("m1"),
            #"{"type":"page","anonymousId":"anon-1","messageId":"m2","timestamp":"2026-03-01T10:00:00Z","properties":{"path":"/"}}"#,
            track("m3", event: "Product Viewed"),
        ])))
        let r = try #require(c.response())
        #expect(r.status == 200)
        #expect(r.body == #"{"success":true}"#)
        #expect(try api.stored() == [
            #"{"id":"m1","type":"booking","subject":"patient-1","at":"2026-03-01T10:00:00.000Z"}"#,
            #"{"id":"m2","type":"web_visit","subject":"anon-1","at":"2026-03-01T10:00:00.000Z","attrs":{"path":"/"}}"#,
        ])
    }

    @Test func eachSingleCallEndpoint() throws {
        let api = try RunningHTTPAPI()
        let c = try HTTPTestConnection(port: api.port)
        let calls = [
            ("/v1/track", track("t1")),
            ("/v1/page", #"{"anonymousId":"anon-1","messageId":"p1","timestamp":"2026-03-01T10:00:00Z"}"#),
            ("/v1/identify", #"{"anonymousId":"anon-1","userId":"patient-1","messageId":"i1","timestamp":"2026-03-01T10:00:00Z","traits":{"email":"a@b.c"}}"#),
            ("/v1/alias", #"{"previousId":"anon-2","userId":"patient-1","messageId":"a1","timestamp":"2026-03-01T10:00:00Z"}"#),
        ]
        for (path, body) in calls {
            c.send(HTTPTestConnection.post(path, body))
            #expect(c.response()?.status == 200, "\(path)")
        }
        #expect(try api.stored().map { try JSONParser.parse($0)["type"]?.stringValue } == ["booking", "web_visit", "identify", "identify"])
        #expect(try !api.stored().joined().contains("a@b.c"))
    }

    @Test func keepAliveServesTwoRequestsOnOneConnection() throws {
        let api = try RunningHTTPAPI()
        let c = try HTTPTestConnection(port: api.port)
        // Both requests sent before either answer is read (pipelined on one connection).
        c.send(HTTPTestConnection.post("/v1/batch", batch([track("k1")])) + HTTPTestConnection.post("/v1/track", track("k2")))
        #expect(c.response()?.status == 200)
        #expect(c.response()?.status == 200)
        #expect(try api.stored().count == 2)
    }

    @Test func aChunkedBody() throws {
        let api = try RunningHTTPAPI()
        let c = try HTTPTestConnection(port: api.port)
        let body = Array(batch([track("c1"), track("c2")]).utf8)
        var text = "POST /v1/batch HTTP/1.1\r\nHost: x\r\nAuthorization: \(RunningHTTPAPI.basic())\r\nTransfer-Encoding: chunked\r\n\r\n"
        var i = 0
        while i < body.count {
            let n = min(17, body.count - i)
            text += String(n, radix: 16) + "\r\n" + String(decoding: body[i..<(i + n)], as: UTF8.self) + "\r\n"
            i += n
        }
        c.send(text + "0\r\n\r\n")
        #expect(c.response()?.status == 200)
        #expect(try api.stored().count == 2)
    }

    @Test func aWrongOrMissingKeyIs401AndStoresNothing() throws {
        let api = try RunningHTTPAPI()
        for auth in [RunningHTTPAPI.basic("wrong"), nil, "Bearer test-write-key", "Basic !!!!"] {
            let c = try HTTPTestConnection(port: api.port)
            c.send(HTTPTestConnection.post("/v1/batch", batch([track("w1")]), auth: auth))
            let r = try #require(c.response())
            #expect(r.status == 401)
            #expect(r.headers["www-authenticate"] == #"Basic realm="journey""#)
            #expect(try JSONParser.parse(r.body)["code"]?.stringValue == "unauthorized")
            #expect(c.isClosed())
        }
        #expect(try api.stored().isEmpty)
    }

    @Test func badBodiesAre400WithSegmentErrorsAndStoreNothing() throws {
        let api = try RunningHTTPAPI()
        let bodies = [
            "{not json",
            "[1]",
            #"{"sentAt":"2026-03-01T10:00:00Z"}"#,
            // One good message and one without a messageId: nothing of the batch is stored.
            batch([track("g1"), #"{"type":"track","event":"Chat Started","userId":"p"}"#]),
        ]
        for body in bodies {
            let c = try HTTPTestConnection(port: api.port)
            c.send(HTTPTestConnection.post("/v1/batch", body))
            let r = try #require(c.response())
            #expect(r.status == 400, "\(body)")
            let answer = try JSONParser.parse(r.body)
            #expect(answer["success"]?.boolValue == false)
            #expect(answer["code"]?.stringValue == "invalid_request")
            #expect(answer["message"]?.stringValue?.isEmpty == false)
        }
        let c = try HTTPTestConnection(port: api.port)
        c.send(HTTPTestConnection.post("/v1/batch", bodies[3]))
        let answer = try JSONParser.parse(try #require(c.response()).body)
        #expect(answer["errors"]?.arrayValue?.count == 1)
        #expect(answer["errors"]?.arrayValue?.first?["index"]?.int64Value == 1)
        #expect(answer["errors"]?.arrayValue?.first?["field"]?.stringValue == "messageId")
        #expect(try api.stored().isEmpty)
    }

    @Test func aConflictingMessageIdIs400AndTheBatchIsNotStored() throws {
        let api = try RunningHTTPAPI()
        let c = try HTTPTestConnection(port: api.port)
        c.send(HTTPTestConnection.post("/v1/track", track("x1")))
        #expect(c.response()?.status == 200)
        // Sent again unchanged (a client's retry): a duplicate, answered 200.
        c.send(HTTPTestConnection.post("/v1/track", track("x1")))
        #expect(c.response()?.status == 200)
        c.send(HTTPTestConnection.post("/v1/batch", batch([track("x2"), track("x1", user: "someone-else")])))
        let r = try #require(c.response())
        #expect(r.status == 400)
        #expect(try JSONParser.parse(r.body)["code"]?.stringValue == "conflict")
        #expect(try api.stored().count == 1)
    }

    @Test func anErasedMessageIdIs400AndNotStoredAgain() throws {
        let api = try RunningHTTPAPI()
        let c = try HTTPTestConnection(port: api.port)
        c.send(HTTPTestConnection.post("/v1/track", track("x1")))
        #expect(c.response()?.status == 200)
        _ = try api.engine.erase(id: "patient-1", as: AuditContext(actor: "dpo", reason: "request 3"))
        // The message sent again (a client's late retry): refused for good, not to be retried.
        c.send(HTTPTestConnection.post("/v1/batch", batch([track("x2", user: "patient-2"), track("x1")])))
        let r = try #require(c.response())
        #expect(r.status == 400)
        #expect(try JSONParser.parse(r.body)["code"]?.stringValue == "erased")
        #expect(try api.stored().count == 1)
    }

    @Test func overFiveHundredKiBIs413() throws {
        let api = try RunningHTTPAPI()
        let c = try HTTPTestConnection(port: api.port)
        c.send("POST /v1/batch HTTP/1.1\r\nAuthorization: \(RunningHTTPAPI.basic())\r\nContent-Length: \(500 * 1024 + 1)\r\n\r\n")
        #expect(c.response()?.status == 413)
        let chunked = try HTTPTestConnection(port: api.port)
        chunked.send("POST /v1/batch HTTP/1.1\r\nAuthorization: \(RunningHTTPAPI.basic())\r\nTransfer-Encoding: chunked\r\n\r\n")
        let piece = String(repeating: " ", count: 100 * 1024)
        for _ in 0..<6 { chunked.send("19000\r\n" + piece + "\r\n") }
        #expect(chunked.response()?.status == 413)
        // Exactly 500 KiB is taken: a batch padded with whitespace.
        let body = batch([track("big")])
        let padded = body + String(repeating: " ", count: 500 * 1024 - body.utf8.count)
        let ok = try HTTPTestConnection(port: api.port)
        ok.send(HTTPTestConnection.post("/v1/batch", padded))
        #expect(ok.response()?.status == 200)
        #expect(try api.stored().count == 1)
    }

    @Test func aCompressedBodyIs415() throws {
        let api = try RunningHTTPAPI()
        let c = try HTTPTestConnection(port: api.port)
        c.send(HTTPTestConnection.post("/v1/batch", batch([track("z1")]), extra: "Content-Encoding: gzip\r\n"))
        let r = try #require(c.response())
        #expect(r.status == 415)
        #expect(try JSONParser.parse(r.body)["code"]?.stringValue == "unsupported_encoding")
        #expect(try api.stored().isEmpty)
    }

    @Test func otherPathsAndMethods() throws {
        let api = try RunningHTTPAPI()
        let c = try HTTPTestConnection(port: api.port)
        c.send(HTTPTestConnection.post("/v1/screen", "{}"))
        #expect(c.response()?.status == 404)
        let g = try HTTPTestConnection(port: api.port)
        g.send("GET /v1/batch HTTP/1.1\r\nHost: x\r\n\r\n")
        let r = try #require(g.response())
        #expect(r.status == 405)
        #expect(r.headers["allow"] == "POST")
    }

    @Test func aMalformedRequestIs400AndCloses() throws {
        let api = try RunningHTTPAPI()
        let c = try HTTPTestConnection(port: api.port)
        c.send("POST /v1/batch HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")
        #expect(c.response()?.status == 400)
        #expect(c.isClosed())
    }

    @Test func idleAndSlowConnectionsAreClosed() throws {
        var config = HTTPConfig()
        config.idleTimeout = .milliseconds(200)
        config.readTimeout = .milliseconds(300)
        let api = try RunningHTTPAPI(config: config)
        let idle = try HTTPTestConnection(port: api.port)
        #expect(idle.isClosed())
        let slow = try HTTPTestConnection(port: api.port)
        slow.send("POST /v1/batch HTTP/1.1\r\nAuthorization: \(RunningHTTPAPI.basic())\r\nContent-Length: 10\r\n\r\n{")
        #expect(slow.response()?.status == 408)
        #expect(try api.stored().isEmpty)
    }

    @Test func expectContinueGetsAnInterimAnswer() throws {
        let api = try RunningHTTPAPI()
        let c = try HTTPTestConnection(port: api.port)
        let body = track("e1")
        c.send("POST /v1/track HTTP/1.1\r\nAuthorization: \(RunningHTTPAPI.basic())\r\nExpect: 100-continue\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
        #expect(c.response()?.status == 100)
        c.send(body)
        #expect(c.response()?.status == 200)
    }

    @Test func theServeCommandRefusesARemoteAddressWithoutTheFlag() throws {
        func options(_ argv: [String]) throws -> CLI.HTTPOptions? {
            try CLI.httpOptions(Arguments(argv, valued: ["http", "write-key", "map"], switches: ["http-allow-remote"]))
        }
        #expect(throws: UsageError.self) { try options(["serve", "--http", "0.0.0.0:8088", "--write-key", "k"]) }
        #expect(try options(["serve", "--http", "0.0.0.0:8088", "--write-key", "k", "--http-allow-remote"])?.address.port == 8088)
        #expect(try options(["serve", "--http", "127.0.0.1:8088", "--write-key", "k"])?.writeKey == "k")
        #expect(throws: UsageError.self) { try options(["serve", "--http", "127.0.0.1:8088"]) }
        #expect(throws: UsageError.self) { try options(["serve", "--write-key", "k"]) }
    }
}
