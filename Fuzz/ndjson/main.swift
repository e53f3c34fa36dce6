// Fuzz target: an NDJSON import stream.
//
// The first byte picks the line limit, the second how the stream is cut into chunks; the rest is
// the stream. Chunking must not matter (same events, line numbers and errors as parsing the
// whole document), the carry buffer stays within the limit, and the result must equal a simple
// reference: split on `\n`, strip one `\r`, skip blank lines, limit, parse each line.
import JourneyCore

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>) -> Int32 {
    writeSeedsIfAsked {
        let lines = seedEventLines(count: 200)
        var seeds: [[UInt8]] = []
        // Documents of a few lines each, with assorted limits, endings and chunkings.
        var i = 0, k = 0
        while i < lines.count {
            let n = 1 + k % 5
            let ending = k % 3 == 0 ? "\r\n" : "\n"
            var doc = lines[i..<min(i + n, lines.count)].joined(separator: ending)
            if k % 4 == 0 { doc += ending + "  \t" + ending }
            if k % 7 == 0 { doc = "\u{FEFF}" + doc }
            seeds.append([UInt8(k % 7 == 3 ? 1 : 5), UInt8(truncatingIfNeeded: k)] + Array(doc.utf8))
            i += n
            k += 1
        }
        return seeds
    }
    return 0
}

let limits = [16, 64, 200, 300, 512, 1024, 4096, 5000]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 2 else { return 0 }
    let limit = limits[Int(data[0]) % limits.count]
    var dice = Dice(data[1])
    let stream = UnsafeBufferPointer(start: data + 2, count: size - 2)
    let bytes = Array(stream)

    let whole = NDJSONBatchParser.parse(bytes, maxLineLength: limit)

    // The same stream in chunks, draining the batch now and then.
    var parser = NDJSONBatchParser(maxLineLength: limit)
    var batch = NDJSONBatch()
    var events: [Event] = [], lines: [Int] = [], errors: [EventError] = []
    func drain() {
        events += batch.events; lines += batch.lines; errors += batch.errors
        batch.removeAll()
    }
    var at = 0
    while at < stream.count {
        let n = min(dice.chunk(), stream.count - at)
        parser.feed(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: stream[at..<at + n])), into: &batch)
        check(parser.splitter.bufferedByteCount <= limit + 1, "carry of \(parser.splitter.bufferedByteCount) bytes over the limit \(limit)")
        if dice.coin() { drain() }
        at += n
    }
    parser.finish(into: &batch)
    drain()
    check(events == whole.events, "chunking changed the events")
    check(lines == whole.lines, "chunking changed the line numbers: \(lines) vs \(whole.lines)")
    check(errors == whole.errors, "chunking changed the errors:\n\(errors)\n\(whole.errors)")

    // The reference.
    var refEvents: [Event] = [], refLines: [Int] = [], refErrors: [EventError] = []
    var segments = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
    if segments.last?.isEmpty == true { segments.removeLast() }
    for (i, segment) in segments.enumerated() {
        let number = i + 1
        var line = segment
        if line.last == 0x0D { line = line.dropLast() }
        if line.count > limit {
            refErrors.append(EventError(.tooLarge, "line over \(limit) bytes", detail: "\(segment.count) bytes", line: number))
            continue
        }
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
        if number == 1, line.starts(with: [0xEF, 0xBB, 0xBF]) { line = line.dropFirst(3) }
        do {
            refEvents.append(try EventParser.parse(Array(line)))
            refLines.append(number)
        } catch {
            var e = error
            e.line = number
            refErrors.append(e)
        }
    }
    check(refEvents == whole.events, "events differ from the reference")
    check(refLines == whole.lines, "line numbers differ from the reference: \(whole.lines) vs \(refLines)")
    check(refErrors == whole.errors, "errors differ from the reference:\n\(whole.errors)\n\(refErrors)")
    check(whole.events.count == whole.lines.count, "one line number per event")
    return 0
}
