#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One item produced by `NDJSONLineSplitter`.
package enum NDJSONLine {
    /// A complete, non-blank line (without its `\n` or `\r\n`), borrowed for the callback only.
    case line(number: Int, bytes: UnsafeBufferPointer<UInt8>)
    /// A line over the length limit; its bytes were skipped without being buffered.
    case tooLong(EventError)

    /// A line's bytes without the UTF-8 byte order mark a file may start with (RFC 8259 §8.1
    /// lets parsers ignore it): only line 1 can carry one.
    package static func content(number: Int, _ bytes: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        guard number == 1, bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF else { return bytes }
        return UnsafeBufferPointer(rebasing: bytes[3...])
    }
}

/// Splits a stream of byte chunks into NDJSON lines with 1-based line numbers.
///
/// Feed it chunks of any size (e.g. 1 MiB reads); it calls back once per complete line. Lines
/// that fit in one chunk are passed without copying; a line split across chunks is carried in
/// a buffer of at most `maxLineLength` bytes. A longer line is reported as `.tooLong` and skipped
/// up to its newline, so memory stays bounded whatever the input. `\r\n` endings are accepted, a
/// final line without newline is delivered by `finish`, and blank (whitespace-only) lines are
/// skipped but still counted.
package struct NDJSONLineSplitter: Sendable {
    /// The default line limit, 1 MiB (the daemon's request limit too).
    package static let defaultMaxLineLength = 1 << 20

    /// Longest line accepted, in bytes, not counting the line ending.
    package let maxLineLength: Int
    /// Lines started so far (the number of the last line delivered or skipped).
    package private(set) var lineNumber = 0

    /// Bytes held for a line that continues in the next chunk (never more than the limit + 1).
    package var bufferedByteCount: Int { carry.count }

    private var carry: [UInt8] = []
    private var discarding = false
    private var discardedLength = 0

    package init(maxLineLength: Int = NDJSONLineSplitter.defaultMaxLineLength) {
        precondition(maxLineLength > 0, "maxLineLength must be positive")
        self.maxLineLength = maxLineLength
    }

    /// Splits `chunk`, calling `body` for every line it completes.
    package mutating func feed(_ chunk: UnsafeRawBufferPointer, _ body: (NDJSONLine) -> Void) {
        feed(chunk.assumingMemoryBound(to: UInt8.self), body)
    }

    /// Splits `chunk`, calling `body` for every line it completes.
    package mutating func feed(_ chunk: [UInt8], _ body: (NDJSONLine) -> Void) {
        chunk.withUnsafeBufferPointer { feed($0, body) }
    }

    /// Splits `chunk`, calling `body` for every line it completes.
    package mutating func feed(_ chunk: UnsafeBufferPointer<UInt8>, _ body: (NDJSONLine) -> Void) {
        guard let base = chunk.baseAddress else { return }
        let n = chunk.count
        var start = 0
        while start < n {
            guard let hit = memchr(base + start, 0x0A, n - start) else {
                // A partial line: keep it for the next chunk, unless it is already too long.
                let len = n - start
                if discarding {
                    discardedLength += len
                } else if carry.count + len > rawLimit {
                    discarding = true
                    discardedLength = carry.count + len
                    carry = []
                } else {
                    carry.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[start..<n]))
                }
                return
            }
            let nl = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            lineNumber += 1
            let segment = UnsafeBufferPointer(rebasing: chunk[start..<nl])
            if discarding {
                let total = discardedLength + segment.count
                discarding = false
                discardedLength = 0
                body(.tooLong(tooLongError(total)))
            } else if carry.isEmpty {
                deliver(segment, body)
            } else if carry.count + segment.count > rawLimit {
                let total = carry.count + segment.count
                carry.removeAll(keepingCapacity: true)
                body(.tooLong(tooLongError(total)))
            } else {
                carry.append(contentsOf: segment)
                carry.withUnsafeBufferPointer { deliver($0, body) }
                carry.removeAll(keepingCapacity: true)
            }
            start = nl + 1
        }
    }

    /// Ends the stream: delivers a final line that had no newline.
    package mutating func finish(_ body: (NDJSONLine) -> Void) {
        if discarding {
            lineNumber += 1
            body(.tooLong(tooLongError(discardedLength)))
        } else if !carry.isEmpty {
            lineNumber += 1
            carry.withUnsafeBufferPointer { deliver($0, body) }
        }
        carry = []
        discarding = false
        discardedLength = 0
    }

    private func tooLongError(_ length: Int) -> EventError {
        EventError(.tooLarge, "line over \(maxLineLength) bytes", detail: "\(length) bytes", line: lineNumber)
    }

    /// Bytes a line may have before its `\n`: one more than the limit, for a `\r`.
    private var rawLimit: Int { maxLineLength + 1 }

    /// Strips a `\r`, checks the limit, skips blank lines and hands the line to `body`.
    private func deliver(_ segment: UnsafeBufferPointer<UInt8>, _ body: (NDJSONLine) -> Void) {
        var end = segment.count
        if end > 0, segment[end - 1] == 0x0D { end -= 1 }
        guard end <= maxLineLength else {
            body(.tooLong(tooLongError(segment.count)))
            return
        }
        var blank = true
        for i in 0..<end {
            let c = segment[i]
            if c != 0x20 && c != 0x09 && c != 0x0D { blank = false; break }
        }
        if blank { return }
        body(.line(number: lineNumber, bytes: UnsafeBufferPointer(rebasing: segment[0..<end])))
    }
}

/// The events and errors of the lines parsed so far (typically one chunk's worth).
package struct NDJSONBatch: Sendable {
    /// Valid events, in line order.
    package var events: [Event] = []
    /// The line number of each event in `events`.
    package var lines: [Int] = []
    /// One error per bad line, each with its `line` set, in line order.
    package var errors: [EventError] = []

    package init() {}

    /// Empties the batch, keeping its storage for the next chunk.
    package mutating func removeAll() {
        events.removeAll(keepingCapacity: true)
        lines.removeAll(keepingCapacity: true)
        errors.removeAll(keepingCapacity: true)
    }
}

/// Parses an NDJSON stream of events chunk by chunk, collecting every bad line's error rather
/// than stopping at the first. The caller owns I/O and drains each batch, so memory stays
/// bounded for any input size.
package struct NDJSONBatchParser: Sendable {
    package private(set) var splitter: NDJSONLineSplitter

    package init(maxLineLength: Int = NDJSONLineSplitter.defaultMaxLineLength) {
        splitter = NDJSONLineSplitter(maxLineLength: maxLineLength)
    }

    /// Parses every line completed by `chunk` into `batch`.
    package mutating func feed(_ chunk: UnsafeRawBufferPointer, into batch: inout NDJSONBatch) {
        splitter.feed(chunk) { NDJSONBatchParser.handle($0, &batch) }
    }

    /// Parses every line completed by `chunk` into `batch`.
    package mutating func feed(_ chunk: [UInt8], into batch: inout NDJSONBatch) {
        splitter.feed(chunk) { NDJSONBatchParser.handle($0, &batch) }
    }

    /// Parses the final line (if it had no newline) into `batch`.
    package mutating func finish(into batch: inout NDJSONBatch) {
        splitter.finish { NDJSONBatchParser.handle($0, &batch) }
    }

    /// Parses a whole NDJSON document held in memory.
    package static func parse(_ bytes: [UInt8], maxLineLength: Int = NDJSONLineSplitter.defaultMaxLineLength) -> NDJSONBatch {
        var p = NDJSONBatchParser(maxLineLength: maxLineLength)
        var batch = NDJSONBatch()
        p.feed(bytes, into: &batch)
        p.finish(into: &batch)
        return batch
    }

    private static func handle(_ item: NDJSONLine, _ batch: inout NDJSONBatch) {
        switch item {
        case .tooLong(let e):
            batch.errors.append(e)
        case .line(let number, let bytes):
            do {
                batch.events.append(try EventParser.parse(NDJSONLine.content(number: number, bytes)))
                batch.lines.append(number)
            } catch {
                var e = error
                e.line = number
                batch.errors.append(e)
            }
        }
    }
}
