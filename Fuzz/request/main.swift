// Fuzz target: the daemon's request path, from raw socket bytes to an answer.
//
// The first byte picks the line cap, the second how the bytes arrive (chunk sizes, and whether
// the event loop pulls frames between reads); the rest is what a client sent. `LineFramer` must
// frame exactly like a reference split on `\n`, whatever the chunking; every line goes through
// JourneyProtocol's request decoder (`Request.decode`, each op's own fields) and `Ops.answer` on
// an empty store for the query ops; every answer or error must be one valid JSON object, and
// every decoded request must encode to a line that decodes to itself. The append fast path
// (`AppendFastPath`) must accept only lines the general path accepts as an append, with the same
// events, and its encoded form the records of those events.
import Glibc
import JourneyCore
import JourneyProtocol
import JourneyStore

nonisolated(unsafe) var engine: JourneyEngine?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>) -> Int32 {
    writeSeedsIfAsked {
        let events = seedEventLines(count: 60)
        var requests: [String] = [
            #"{"op":"ping"}"#, #"{"op":"stats"}"#, #"{"op":"contacts"}"#, #"{"op":"nope"}"#, #"[1,2]"#, #"{"op":7}"#,
            #"{"op":"patient","id":"p-1","as_of":"2026-04-01T00:00:00Z"}"#,
            #"{"op":"handoff","id":"anon-7f3a","as_of":1772373900000}"#,
            #"{"op":"funnel","steps":["touch","inquiry","booking","visit"],"window_s":2592000,"by":"source","from":"2026-01-01T00:00:00Z","to":1772373900000}"#,
            #"{"op":"funnel","steps":"touch,call,visit","by":"none"}"#,
            #"{"op":"at_risk","as_of":"2026-04-01T00:00:00+02:00","limit":50,"after":"p-120"}"#,
            #"{"op":"subscribe","from":1}"#, #"{"op":"replay"}"#,
        ]
        for i in stride(from: 0, to: events.count, by: 3) {
            requests.append(#"{"op":"append","events":["# + events[i..<min(i + 3, events.count)].joined(separator: ",") + "]}")
        }
        var seeds: [[UInt8]] = []
        for (k, r) in requests.enumerated() {
            let next = requests[(k + 1) % requests.count]
            let text = k % 3 == 0 ? r + "\r\n" + next : r + "\n"
            seeds.append([UInt8(k % 4 == 1 ? 0 : 4), UInt8(truncatingIfNeeded: k)] + Array(text.utf8))
        }
        return seeds
    }
    var template = Array("/tmp/journey-fuzz-XXXXXX".utf8CString)
    guard let dir = mkdtemp(&template) else {
        say("mkdtemp failed\n")
        exit(1)
    }
    let path = String(cString: dir)
    do {
        engine = try JourneyEngine(directory: path, durability: .relaxed)
    } catch {
        say("cannot open a store in \(path): \(error)\n")
        exit(1)
    }
    return 0
}

let caps = [8, 64, 512, 4096, 1 << 20]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 2 else { return 0 }
    let cap = caps[Int(data[0]) % caps.count]
    var dice = Dice(data[1])
    let stream = UnsafeBufferPointer(start: data + 2, count: size - 2)

    // Frame as the event loop does: reads of any size, frames pulled between some of them, and
    // `finish` pulled until nil at end of input.
    var framer = LineFramer(maxLineBytes: cap)
    var frames: [LineFramer.Frame] = []
    var at = 0
    while at < stream.count {
        let n = min(dice.chunk(), stream.count - at)
        framer.append(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: stream[at..<at + n])))
        at += n
        if dice.coin() {
            while let f = framer.next() { frames.append(f) }
            check(framer.bufferedCount <= cap, "\(framer.bufferedCount) bytes buffered over the cap \(cap)")
        }
    }
    while let f = framer.finish() { frames.append(f) }
    check(framer.bufferedCount == 0, "bytes left buffered after finish")

    var reference: [LineFramer.Frame] = []
    var segments = stream.split(separator: 0x0A, omittingEmptySubsequences: false)
    if segments.last?.isEmpty == true { segments.removeLast() }
    for segment in segments {
        if segment.count > cap {
            reference.append(.tooLong)
            continue
        }
        var line = segment
        if line.last == 0x0D { line = line.dropLast() }
        if !line.isEmpty { reference.append(.line(Array(line))) }
    }
    check(frames == reference, "frames differ from the reference:\n\(frames)\n\(reference)")

    for case .line(let line) in frames { answer(line) }
    return 0
}

/// Runs one request line through the daemon's parsing (appends are validated, not committed).
func answer(_ line: [UInt8]) {
    let decoded = Result { () throws(ProtocolError) in try Request.decode(line) }
    if let fast = AppendFastPath.events(line) {
        var general: [Event]?
        if case .success(.append(let append)) = decoded { general = append.events }
        check(general == fast, "the append fast path accepted what the general path answers otherwise: \(String(decoding: line, as: UTF8.self))")
    }
    // The daemon's form of the fast path: the same acceptance, and the records of those events.
    let fast = AppendFastPath.events(line)
    let encoded = AppendFastPath.encoded(line)
    check((encoded == nil) == (fast == nil) || (encoded == nil && (try? EventLog.encode(fast!).get()) == nil),
          "the encoded fast path accepts otherwise than the event fast path: \(String(decoding: line, as: UTF8.self))")
    if let encoded, let fast {
        let expected = try? EventLog.encode(fast).get()
        check(expected?.bytes == encoded.bytes && expected?.ends == encoded.ends,
              "the encoded fast path gave other records: \(String(decoding: line, as: UTF8.self))")
    }
    let reply: [UInt8]
    switch decoded {
    case .success(let request):
        // What a client would send for this request reads back as the same request.
        let again = Result { () throws(ProtocolError) in try Request.decode(request.line) }
        check(again == .success(request), "a decoded request does not survive its encoding: \(String(decoding: line, as: UTF8.self))")
        switch request {
        case .append(let append):
            check(!append.events.isEmpty, "an append of no events was accepted")
            reply = AppendAnswer(append.events.indices.map { .appended(Position(UInt64($0 + 1))) }).line
        case .subscribe(let s):
            reply = SubscribeAnswer(from: s.from).line
        case .replay:
            reply = ReplayAnswer(rebuilding: true).line
        case .limits:
            reply = LimitsAnswer(maxLineBytes: 1 << 20, maxEventBytes: EventLimits.maxEventBytes).line
        default:
            do throws(ProtocolError) {
                reply = try Ops(engine: engine!).answer(request)
            } catch {
                check(!error.code.isEmpty && !error.message.isEmpty, "an error without code or message")
                reply = error.line
            }
        }
    case .failure(let error):
        check(!error.code.isEmpty && !error.message.isEmpty, "an error without code or message")
        reply = error.line
    }
    let parsed = try? JSONParser.parse(reply)
    check(parsed?.objectValue != nil, "the answer is not one JSON object: \(String(decoding: reply, as: UTF8.self))")
    check(!reply.contains(0x0A), "the answer spans lines")
}
