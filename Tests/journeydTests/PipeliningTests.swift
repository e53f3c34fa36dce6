import Dispatch
import Foundation
import Glibc
import JourneyClient
import JourneyCore
import JourneyProtocol
import JourneyStore
import Synchronization
import Testing
@testable import journeyd

// Pipelining: a client writes many requests without waiting; every request is answered, in
// the order sent, one line each.

/// Detaches every request and answers it from another thread after a pseudo-random delay (0–2
/// ms), so answers are ready out of order; records the most requests it held at once.
final class DetachingHandler: RequestHandler {
    let held = Mutex((now: 0, most: 0))

    func handle(line: [UInt8], connection: ServerConnection) {
        guard let ticket = connection.ticket else { return }
        held.withLock {
            $0.now += 1
            $0.most = max($0.most, $0.now)
        }
        let delay = Int(line.reduce(0) { ($0 &* 31 &+ Int($1)) & 0x7fff_ffff } % 2000)
        DispatchQueue.global().asyncAfter(deadline: .now() + .microseconds(delay)) {
            self.held.withLock { $0.now -= 1 }
            connection.send(line, for: ticket)
        }
        connection.detach(ticket)
    }
}

/// Writes every line to a server with `config` whose handler echoes each line after a delay,
/// before reading any answer; returns the answers and the most requests the handler held at once.
private func pipelineThroughDetachingServer(_ lines: [String], config: ServerConfig) throws -> (answers: [String], most: Int) {
    let directory = try TemporaryDirectory()
    let handler = DetachingHandler()
    let server = UnixSocketServer(path: directory.socketPath, config: config, handler: handler)
    try server.start()
    defer { server.stop() }
    let client = try JourneyConnection(socketPath: directory.socketPath, timeout: .seconds(10))
    defer { client.close() }
    for line in lines { try client.send(line) }
    var answers: [String] = []
    for _ in lines { answers.append(try client.receive()) }
    return (answers, handler.held.withLock { $0.most })
}

@Suite("Pipelining")
struct PipeliningTests {
    init() {
        signal(SIGPIPE, SIG_IGN)
    }

    @Test func detachedAnswersGoOutInRequestOrderUnderTheInFlightBound() throws {
        var config = ServerConfig()
        config.maxRequestsInFlight = 4
        let lines = (0..<300).map { "r\($0)" }
        let (answers, most) = try pipelineThroughDetachingServer(lines, config: config)
        #expect(answers == lines)
        #expect(most >= 1 && most <= 4, "held at once: \(most)")
    }

    @Test func theInFlightByteBudgetBoundsRequestsToo() throws {
        var config = ServerConfig()
        config.maxInFlightBytes = 35
        // 10-byte lines: dispatching stops once 35 bytes are in flight, so at most 4 at once.
        let lines = (0..<200).map { String("line-\($0)".padding(toLength: 10, withPad: ".", startingAt: 0)) }
        let (answers, most) = try pipelineThroughDetachingServer(lines, config: config)
        #expect(answers == lines)
        #expect(most >= 1 && most <= 4, "held at once: \(most)")
    }

    @Test func pipelinedAppendsAreAnsweredInOrderWithDensePositions() throws {
        let d = try RunningDaemon()
        // 150 requests of 1, 2 or 3 events, written before any answer is read.
        var sizes: [Int] = []
        for r in 0..<150 {
            let n = r % 3 + 1
            sizes.append(n)
            let events = (0..<n).map { #"{"id":"p\#(r)-\#($0)","type":"call","subject":"s\#(r % 7)","at":\#(r * 10 + $0)}"# }
            try d.client.send(appendRequest(events))
        }
        var next: Int64 = 1
        for (r, n) in sizes.enumerated() {
            let answer = try parse(try d.client.receive())
            let expected = Array(next..<next + Int64(n))
            #expect(ints(answer["positions"]) == expected, "request \(r)")
            next += Int64(n)
        }
        #expect(next - 1 == 300)
        #expect(try d.ask(#"{"op":"stats"}"#)["events"]?.int64Value == 300)
        try d.stop()
    }

    @Test func mixedPipelinedRequestsAreAnsweredInTheirPlaces() throws {
        let d = try RunningDaemon()
        let concern = String(repeating: "a", count: 1 << 20)
        let lines: [String] = [
            appendRequest(Array(journey.prefix(2))),
            #"{"op":"ping""#,
            appendRequest([journey[2]]),
            #"{"op":"patient","id":"anon1","as_of":"2026-02-01T00:00:00Z"}"#,
            appendRequest([#"{"id":"big","type":"chat","subject":"s","at":1,"concern":"\#(concern)"}"#]),
            appendRequest([
                #"{"id":"x1","type":"web_visit","subject":"s","at":"2026-01-01T00:00:00Z"}"#,
                #"{"id":"x2","type":"web_visit","subject":"s","at":"2026-01-01T00:00:00Z","colour":"red"}"#,
            ]),
            // e1 again with another subject: a conflict, which fails this request only.
            appendRequest([#"{"id":"e1","type":"web_visit","subject":"someone-else","at":"2026-01-01T10:00:00Z"}"#]),
            appendRequest([journey[3]]),
            #"{"op":"frobnicate"}"#,
            appendRequest([journey[3], journey[4]]),
            #"{"op":"stats"}"#,
        ]
        for line in lines { try d.client.send(line) }
        var answers: [JSONValue] = []
        for _ in lines { answers.append(try parse(try d.client.receive())) }

        #expect(ints(answers[0]["positions"]) == [1, 2])
        #expect(answers[1].errorCode == "invalid_json")
        #expect(ints(answers[2]["positions"]) == [3])
        // It sees the identify appended just before it on this connection.
        #expect(answers[3]["patient"]?.stringValue == "p1")
        #expect(strings(answers[3]["aliases"]) == ["anon1"])
        #expect(answers[3]["counts"]?["identify"]?.int64Value == 1)
        #expect(answers[4].errorCode == "line_too_long")
        #expect(answers[5].errorCode == "invalid_event")
        let message = answers[5]["error"]?["message"]?.stringValue ?? ""
        #expect(message.contains("colour") && message.contains("1"), "message: \(message)")
        #expect(answers[6].errorCode == "conflict")
        #expect(ints(answers[7]["positions"]) == [4])
        #expect(answers[8].errorCode == "unknown_op")
        #expect(ints(answers[9]["positions"]) == [4, 5])
        #expect(ints(answers[9]["duplicates"]) == [0])
        #expect(answers[10]["events"]?.int64Value == 5)
        #expect(answers[10]["projected_position"]?.int64Value == 5)
        try d.stop()
    }

    @Test func aPipelinedQueryAfterAnAppendSeesIt() throws {
        let d = try RunningDaemon()
        let c = try d.connect()
        defer { c.close() }
        // Each round: a new patient's booking, then at once its patient and handoff.
        for r in 0..<20 {
            try c.send(appendRequest([#"{"id":"b\#(r)","type":"booking","subject":"q\#(r)","at":\#(r + 1),"appointment":"a\#(r)"}"#]))
            try c.send(#"{"op":"patient","id":"q\#(r)"}"#)
            try c.send(#"{"op":"handoff","id":"q\#(r)"}"#)
        }
        for r in 0..<20 {
            #expect(ints(try parse(try c.receive())["positions"]) == [Int64(r + 1)])
            let patient = try parse(try c.receive())
            #expect(patient["patient"]?.stringValue == "q\(r)")
            #expect(patient["bookings"]?.int64Value == 1)
            #expect(try parse(try c.receive())["stage"]?.stringValue == "booked")
        }
        try d.stop()
    }

    @Test func thousandsOfRequestsWrittenBeforeReadingAreAllAnsweredInOrder() throws {
        let d = try RunningDaemon()
        let c = try d.connect()
        defer { c.close() }
        // Far more than the in-flight bound (128): the daemon stops reading at the bound and
        // resumes as answers go out; nothing is lost or reordered.
        let count = 3000
        for i in 0..<count {
            if i % 1000 == 999 {
                try c.send(#"{"op":"ping"}"#)
            } else {
                try c.send(appendRequest([#"{"id":"t\#(i)","type":"call","subject":"s\#(i % 50)","at":\#(i)}"#]))
            }
        }
        var position: Int64 = 0
        for i in 0..<count {
            let answer = try c.receive()
            if i % 1000 == 999 {
                #expect(answer == #"{"ok":true}"#, "request \(i)")
            } else {
                position += 1
                let got = ints(try parse(answer)["positions"])
                if got != [position] {
                    Issue.record("request \(i): \(answer), expected position \(position)")
                    break
                }
            }
        }
        #expect(position == Int64(count - count / 1000))
        try d.stop()
    }
}

/// The byte-level append parser takes a request only when the general path would accept it,
/// with the same events; anything else goes to the general path (nil).
@Suite("AppendFastPath")
struct AppendFastPathTests {
    private func general(_ line: String) throws -> [Event] {
        guard case .append(let append) = try Request.decode(Array(line.utf8)) else {
            Issue.record("not an append: \(line)")
            return []
        }
        return append.events
    }

    @Test func acceptsWhatTheGeneralPathAcceptsWithTheSameEvents() throws {
        let lines = [
            appendRequest(journey),
            // Whitespace everywhere JSON allows it, the keys in the other order, escapes.
            " { \"events\" : [ \(journey[0]) ,\n\t\(journey[1]) ] , \"op\" : \"append\" } \r",
            appendRequest([#"{"id":"q\"1","type":"chat","subject":"s\\t","at":1,"concern":"caf\u00e9 \/ ok","attrs":{"k":"v","a":"b"}}"#]),
        ]
        for line in lines {
            let fast = try #require(AppendFastPath.events(Array(line.utf8)), "\(line)")
            #expect(fast == (try general(line)))
            // Encoded as they are parsed: the records `EventLog.encode` makes of those events.
            let encoded = try #require(AppendFastPath.encoded(Array(line.utf8)), "\(line)")
            let expected = try EventLog.encode(try general(line)).get()
            #expect(encoded.bytes == expected.bytes)
            #expect(encoded.ends == expected.ends)
        }
        #expect(AppendFastPath.events(Array(appendRequest(journey).utf8))?.map(\.id) == (1...9).map { "e\($0)" })
    }

    @Test func leavesEverythingElseToTheGeneralPath() {
        let event = journey[0]
        let padding = String(repeating: "x", count: 3950)
        let lines = [
            #"{"op":"ping"}"#,
            #"{"op":"append","events":[]}"#,
            #"{"op":"append"}"#,
            #"{"events":[\#(event)]}"#,
            #"{"op":"append","events":[\#(event)],"op":"append"}"#,
            #"{"op":"append","events":[\#(event)],"events":[\#(event)]}"#,
            #"{"op":"append","events":[\#(event)],"note":1}"#,
            #"{"\u006fp":"append","events":[\#(event)]}"#,
            #"{"op":"append","events":[\#(event),]}"#,
            #"{"op":"append","events":[\#(event)]} x"#,
            #"{"op":"append","events":[\#(event)]"#,
            #"{"op":"append","events":[1]}"#,
            #"{"op":"append","events":[{"id":"x","type":"teleport","subject":"s","at":1}]}"#,
            #"{"op":"append","events":[{"id":"x","type":"chat","subject":"s","at":1,"colour":"red"}]}"#,
            // Under 4 KiB as text, but `\b` escapes make the compact encoding longer: the
            // general path decides.
            #"{"op":"append","events":[{"id":"x","type":"chat","subject":"s","at":1,"concern":"\#(padding)\b\b\b\b\b\b\b\b\b\b\b\b\b\b\b\b"}]}"#,
        ]
        for line in lines {
            #expect(AppendFastPath.events(Array(line.utf8)) == nil, "\(line)")
            #expect(AppendFastPath.encoded(Array(line.utf8)) == nil, "\(line)")
        }
    }
}
