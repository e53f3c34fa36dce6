import JourneyCore
import JourneyProtocol
import JourneyStore

/// The fast path for the commonest request, `{"op":"append","events":[…]}`: the events are
/// parsed straight from the line's bytes (to their records, or by `EventParser`, as `journeyd
/// import` does), with no `JSONValue` tree in between.
///
/// It only ever accepts: anything it does not handle, or any error, answers nil and the request
/// takes the general path (`Request.decode`, JourneyProtocol's `AppendRequest`), which gives the same
/// events for a good request and the error messages for a bad one. So it must be at least as
/// strict as that path: the whole line must be valid JSON made of pieces each checked here or by
/// the event parsers, with no key it does not know and no key twice.
enum AppendFastPath {
    typealias OnConflict = AppendRequest.OnConflict

    /// The events of an append request, or nil to take the general path.
    static func events(_ line: [UInt8]) -> [Event]? {
        var events: [Event] = []
        var onConflict = OnConflict.failBatch
        let ok = line.withUnsafeBufferPointer { b in
            walk(b, &onConflict) { text in
                guard let event = try? EventParser.parse(text) else { return false }
                events.append(event)
                return true
            }
        }
        return ok ? events : nil
    }

    /// The events of an append request encoded for the log as they are parsed, with their keys
    /// sorted for the writer (`EncodedBatch.sortKeys`), or nil to take the general path: also
    /// when an event cannot be encoded (too large), so that the general path answers its error.
    /// Most events go straight from their text to their record (`EncodedBatch.appendParsing`,
    /// as `journeyd import` does); the others through `EventParser`, with the same record.
    static func encoded(_ line: [UInt8]) -> EventLog.EncodedBatch? {
        encodedWithOption(line)?.batch
    }

    /// `encoded`, with the request's `on_conflict`.
    static func encodedWithOption(_ line: [UInt8]) -> (batch: EventLog.EncodedBatch, onConflict: OnConflict)? {
        var batch = EventLog.EncodedBatch(reservingEvents: line.count / 160 + 1)
        var onConflict = OnConflict.failBatch
        let ok = line.withUnsafeBufferPointer { b in
            walk(b, &onConflict) { text in
                if batch.appendParsing(text) { return true }
                guard let event = try? EventParser.parse(text) else { return false }
                return (try? batch.append(event)) != nil
            }
        }
        guard ok else { return nil }
        batch.sortKeys()
        return (batch, onConflict)
    }

    private static let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
    private static let openBrace = UInt8(ascii: "{"), closeBrace = UInt8(ascii: "}")
    private static let openBracket = UInt8(ascii: "["), closeBracket = UInt8(ascii: "]")
    private static let comma = UInt8(ascii: ","), colon = UInt8(ascii: ":")

    /// Checks the whole request and passes the text of each of its events, in order, to `sink`,
    /// which must parse it (false stops the walk: a bad event); true when the request is a
    /// valid append of at least one event and `sink` accepted every event. Sets `onConflict`
    /// from the request's option, if it has one.
    private static func walk(_ b: UnsafeBufferPointer<UInt8>, _ onConflict: inout OnConflict,
                             _ sink: (UnsafeBufferPointer<UInt8>) -> Bool) -> Bool {
        var i = 0
        func skipSpace() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
        }
        /// Consumes `text` (plain ASCII, no escapes) if it is next.
        func take(_ text: StaticString) -> Bool {
            let n = text.utf8CodeUnitCount
            guard i + n <= b.count else { return false }
            for k in 0..<n where b[i + k] != text.utf8Start[k] { return false }
            i += n
            return true
        }
        skipSpace()
        guard i < b.count, b[i] == openBrace else { return false }
        i += 1
        var sawOp = false
        var sawEvents = false
        var sawOption = false
        while true {
            skipSpace()
            if take(#""op""#) {
                guard !sawOp else { return false }
                skipSpace()
                guard i < b.count, b[i] == colon else { return false }
                i += 1
                skipSpace()
                guard take(#""append""#) else { return false }
                sawOp = true
            } else if take(#""events""#) {
                guard !sawEvents else { return false }
                skipSpace()
                guard i < b.count, b[i] == colon else { return false }
                i += 1
                skipSpace()
                guard let count = eventList(b, &i, sink), count > 0 else { return false }
                sawEvents = true
            } else if take(#""on_conflict""#) {
                guard !sawOption else { return false }
                skipSpace()
                guard i < b.count, b[i] == colon else { return false }
                i += 1
                skipSpace()
                if take(#""reject_event""#) {
                    onConflict = .rejectEvent
                } else if take(#""fail_batch""#) {
                    onConflict = .failBatch
                } else {
                    return false
                }
                sawOption = true
            } else {
                return false
            }
            skipSpace()
            guard i < b.count else { return false }
            let c = b[i]
            i += 1
            if c == closeBrace { break }
            guard c == comma else { return false }
        }
        skipSpace()
        return i == b.count && sawOp && sawEvents
    }

    /// Parses the array at `i` (its `[`), each element an event object passed to `sink`;
    /// leaves `i` after `]` and answers the number of events (nil when `sink` refused one).
    private static func eventList(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int, _ sink: (UnsafeBufferPointer<UInt8>) -> Bool) -> Int? {
        guard i < b.count, b[i] == openBracket else { return nil }
        i += 1
        var count = 0
        while true {
            while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
            guard i < b.count, b[i] == openBrace else { return nil }
            let start = i
            guard let (end, escapes) = objectEnd(b, from: start) else { return nil }
            // The general path checks the 4 KiB limit on the compact encoding; an escape such
            // as `\b` grows by four bytes there, so text this close to the limit goes that way.
            guard end - start + 4 * escapes <= EventLimits.maxEventBytes else { return nil }
            guard sink(UnsafeBufferPointer(rebasing: b[start..<end])) else { return nil }
            count += 1
            i = end
            while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
            guard i < b.count else { return nil }
            let c = b[i]
            i += 1
            if c == closeBracket { return count }
            guard c == comma else { return nil }
        }
    }

    /// The index just past the `}` matching the `{` at `start`, by brackets outside strings, and
    /// the number of escapes in its strings; nil if the input ends first. It need not validate:
    /// `EventParser` checks the span it bounds.
    private static func objectEnd(_ b: UnsafeBufferPointer<UInt8>, from start: Int) -> (Int, Int)? {
        var depth = 0
        var escapes = 0
        var i = start
        while i < b.count {
            let c = b[i]
            if c == quote {
                i += 1
                while i < b.count, b[i] != quote {
                    if b[i] == backslash {
                        escapes += 1
                        i += 2
                    } else {
                        i += 1
                    }
                }
            } else if c == openBrace || c == openBracket {
                depth += 1
            } else if c == closeBrace || c == closeBracket {
                depth -= 1
                if depth == 0 { return (i + 1, escapes) }
            }
            i += 1
        }
        return nil
    }
}
