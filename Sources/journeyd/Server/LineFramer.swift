import JourneyProtocol
import JourneyStore

/// Splits a connection's input into request lines, with a length cap.
///
/// Remembers where it last scanned so a line arriving in many reads is scanned once (like
/// swift-nio-extras' `LineBasedFrameDecoder`). A line longer than the cap yields `.tooLong` as
/// soon as the cap is passed, and the rest of it is discarded up to the next newline, so the
/// connection stays usable and memory stays bounded by the cap plus one read.
struct LineFramer {
    enum Frame: Equatable {
        /// A complete line: no newline, no trailing carriage return, never empty.
        case line([UInt8])
        /// A line over the cap was dropped.
        case tooLong
    }

    let maxLineBytes: Int
    private var buffer: [UInt8] = []
    private var start = 0
    private var scanned = 0
    private var discarding = false

    init(maxLineBytes: Int) {
        self.maxLineBytes = maxLineBytes
    }

    /// Bytes buffered and not yet returned as a frame.
    var bufferedCount: Int { buffer.count - start }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        buffer.append(contentsOf: bytes)
    }

    mutating func append(_ bytes: [UInt8]) {
        buffer.append(contentsOf: bytes)
    }

    /// The next frame, or nil when no complete line is buffered.
    mutating func next() -> Frame? {
        while true {
            if discarding {
                guard let newline = buffer.firstNewline(from: start) else {
                    reset()
                    return nil
                }
                discarding = false
                start = newline + 1
                scanned = start
                continue
            }
            if let newline = buffer.firstNewline(from: scanned) {
                let lineStart = start
                start = newline + 1
                scanned = start
                if newline - lineStart > maxLineBytes { return .tooLong }
                if let line = trimmed(lineStart, newline) { return .line(line) }
                continue
            }
            scanned = buffer.count
            if buffer.count - start > maxLineBytes {
                reset()
                discarding = true
                return .tooLong
            }
            compact()
            return nil
        }
    }

    /// At end of input: the last line if it had no newline, else nil.
    mutating func finish() -> Frame? {
        if let frame = next() { return frame }
        defer { reset() }
        if discarding { return nil }
        return trimmed(start, buffer.count).map { .line($0) }
    }

    private func trimmed(_ from: Int, _ to: Int) -> [UInt8]? {
        var end = to
        if end > from && buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return end > from ? Array(buffer[from..<end]) : nil
    }

    private mutating func reset() {
        buffer.removeAll(keepingCapacity: true)
        start = 0
        scanned = 0
    }

    /// Drops consumed bytes once they are at least half the buffer, so compaction stays O(1) amortised.
    private mutating func compact() {
        if start == buffer.count {
            reset()
        } else if start > 0 && start >= buffer.count / 2 {
            buffer.removeSubrange(0..<start)
            scanned -= start
            start = 0
        }
    }
}
