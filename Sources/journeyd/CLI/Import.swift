import Dispatch
import Glibc
import JourneyCore
import JourneyProtocol
import JourneyStore
import Synchronization

/// What an import did: events appended, duplicates skipped, lines rejected, and records of a
/// standard input that add no event, counted by why (`Patient`, `track "Product Viewed"`).
struct ImportTally: Sendable, Hashable, OutcomeCounts {
    var appended = 0
    var duplicates = 0
    var rejected = 0
    var skipped: [String: Int] = [:]

    /// Adds `other`'s counts to these.
    mutating func add(_ other: ImportTally) {
        appended += other.appended
        duplicates += other.duplicates
        rejected += other.rejected
        skipped.merge(other.skipped, uniquingKeysWith: +)
    }
}

/// Reads NDJSON events from a file descriptor in batches and appends them.
///
/// Batches end at the first 1 MiB read that brings them to `batchSize` lines or more; each
/// batch is appended atomically, except that a batch with a conflicting id is appended event
/// by event so that only the conflicting events are rejected. Every bad line is reported to
/// `reject` with its line number, in line order.
struct Importer {
    /// The input, read to its end.
    var fd: Int32
    /// The input's name in messages.
    var path: String
    var batchSize: Int = 10_000
    /// Bytes read at a time; a batch ends after the read that fills it.
    var chunkSize: Int = 1 << 20
    /// The input's format when it is a standard input (FHIR, Segment) mapped to events; nil for
    /// Journey's own NDJSON. Each line is one record, which may add several events (each
    /// reported under the record's line) or none (counted in `ImportTally.skipped`).
    var format: InputFormat? = nil
    /// Called with every rejected line's error, in order.
    var reject: (EventError) -> Void

    /// Imports through `appender` on the calling thread: read, parse, then append, one batch
    /// after the other (the reference the other imports are tested against).
    func run(appender: any Appender) throws -> ImportTally {
        var tally = ImportTally()
        var parser = NDJSONBatchParser()
        var batch = NDJSONBatch()
        func report(_ errors: [EventError]) {
            tally.rejected += errors.count
            for e in errors { reject(e) }
        }
        func flushBatch() throws {
            report(batch.errors)
            if !batch.events.isEmpty {
                let r = try appender.append(batch.events, lines: batch.lines)
                tally.appended += r.appended
                tally.duplicates += r.duplicates
                report(r.rejected)
            }
            batch.removeAll()
        }
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        var splitter = NDJSONLineSplitter()
        func mapLine(_ item: NDJSONLine) {
            guard let format else { return }
            switch item {
            case .tooLong(let e):
                batch.errors.append(e)
            case .line(let number, let bytes):
                do {
                    let record = try format.map(line: NDJSONLine.content(number: number, bytes))
                    if let why = record.skipped { tally.skipped[why, default: 0] += 1 }
                    for e in record.events {
                        batch.events.append(e)
                        batch.lines.append(number)
                    }
                } catch {
                    var e = error
                    e.line = number
                    batch.errors.append(e)
                }
            }
        }
        while true {
            let n = try read(into: &chunk)
            if n == 0 { break }
            chunk.withUnsafeBytes {
                let bytes = UnsafeRawBufferPointer(rebasing: $0[0..<n])
                if format == nil { parser.feed(bytes, into: &batch) } else { splitter.feed(bytes, mapLine) }
            }
            if batch.events.count + batch.errors.count >= batchSize { try flushBatch() }
        }
        if format == nil { parser.finish(into: &batch) } else { splitter.finish(mapLine) }
        try flushBatch()
        try appender.finish()
        return tally
    }

    /// Imports into a local engine through its write pipeline: a parser thread reads, parses,
    /// validates and encodes the next batches while up to `window` earlier ones are committed
    /// and folded. The pipeline gathers the waiting batches into one transaction (one fsync),
    /// each batch atomic on its own; a batch with a conflicting id is appended event by event in
    /// its place, so only the conflicting events are rejected and the log's order is the file's.
    /// The batches form one chain: after a failure nothing later is appended. Memory stays
    /// bounded by the window. Counts, rejections (in the same order) and the resulting log are
    /// those of `run(appender:)` with a `LocalAppender`.
    func runPipelined(engine: JourneyEngine, window: Int = 32) throws -> ImportTally {
        let queue = HandOff<ParsedBatch>(capacity: 4)
        let source = Source(fd: fd, path: path, batchSize: batchSize, chunkSize: chunkSize, format: format)
        startThread { source.parse(into: queue) }

        // Results come back in submission order (the pipeline answers in commit order).
        let results = HandOff<Result<EventLog.EventResults, StoreError>>(capacity: window + 1)
        let chain = WriteChain()
        var waiting: [(batch: ParsedBatch, submitted: Bool)] = []
        var tally = ImportTally()
        var tookLast = false

        func report(_ e: EventError) {
            tally.rejected += 1
            reject(e)
        }
        /// Reports the oldest waiting batch once its result is in.
        func settleOldest() throws {
            let (batch, submitted) = waiting.removeFirst()
            tally.skipped.merge(batch.skipped, uniquingKeysWith: +)
            batch.errors.forEach(report)
            guard submitted else { return }
            switch results.take() {
            case .failure(let e):
                throw ImportRefusal.failure(Ops.storeError(e))
            case .success(let events):
                for (i, r) in events.enumerated() {
                    switch r {
                    case .success(let o): tally.count(o)
                    case .failure(let e):
                        report(ImportRefusal.rejection(Ops.storeError(e), id: batch.records.id(at: i), line: batch.lines[i]))
                    }
                }
            }
        }
        do {
            while !tookLast {
                let batch = queue.take()
                tookLast = batch.isLast
                // A batch that ends the import (unreadable input, an event the store cannot
                // take) is not appended: what came before is settled, then it is reported.
                if batch.readFailure != nil || (batch.encodeFailure != nil && batch.eventCount > 0) {
                    while !waiting.isEmpty { try settleOldest() }
                    batch.errors.forEach(report)
                    if let failure = batch.readFailure { throw failure }
                    throw ImportRefusal.failure(Ops.storeError(batch.encodeFailure!))
                }
                let submit = batch.records.count > 0
                if submit {
                    engine.writes.submit(EventLog.GroupEntry(batch: .success(batch.records), splitConflicts: true, chain: chain)) {
                        results.put($0)
                    }
                }
                waiting.append((batch, submit))
                while waiting.count >= window { try settleOldest() }
            }
            while !waiting.isEmpty { try settleOldest() }
        } catch {
            // Take every batch up to the parser's last one, so that the parser thread is never
            // left blocked on a full queue and is done with `fd` when this returns; and wait for
            // the batches in flight (the chain refuses those after the failure).
            queue.cancel()
            while !tookLast { tookLast = queue.take().isLast }
            for w in waiting where w.submitted { _ = results.take() }
            throw error
        }
        try engine.log.sync()
        try engine.checkpoint()
        return tally
    }

    /// Reads up to `chunk.count` bytes, retrying on EINTR; 0 at the end of input.
    private func read(into chunk: inout [UInt8]) throws -> Int {
        try Self.read(fd, path, into: &chunk)
    }

    fileprivate static func read(_ fd: Int32, _ path: String, into chunk: inout [UInt8]) throws(CommandFailure) -> Int {
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw CommandFailure(Exit.badInput, "read error on \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// One batch of input lines, parsed, validated and encoded, on its way to the store.
struct ParsedBatch: Sendable {
    /// The valid events, encoded, in line order.
    var records = EventLog.EncodedBatch(reservingEvents: 0)
    /// The line number of each record.
    var lines: [Int] = []
    /// One error per bad line, in line order.
    var errors: [EventError] = []
    /// Valid events seen (records, plus any that could not be encoded).
    var eventCount = 0
    /// The first event that could not be encoded: the store refuses the whole batch.
    var encodeFailure: StoreError?
    /// Reading the input failed after the lines of this batch (which is then not appended).
    var readFailure: CommandFailure?
    /// The parser's last batch.
    var isLast = false
    /// Records of a standard input that added no event, by why.
    var skipped: [String: Int] = [:]

    init(reserving n: Int) {
        records = EventLog.EncodedBatch(reservingEvents: n)
        lines.reserveCapacity(n)
    }

    init(readFailure: CommandFailure) {
        self.readFailure = readFailure
        isLast = true
    }

    /// Lines in the batch, for its size limit.
    var lineCount: Int { eventCount + errors.count }
}

/// The parser thread's side of a pipelined import. It also sorts each batch's keys, work
/// taken off the thread that writes.
private struct Source: Sendable {
    var fd: Int32
    var path: String
    var batchSize: Int
    var chunkSize: Int
    var format: InputFormat?

    /// Parses the input into batches and hands them to `queue`; the last one has `isLast` set
    /// (and `readFailure` when reading failed). Stops early once the queue is cancelled.
    func parse(into queue: HandOff<ParsedBatch>) {
        var splitter = NDJSONLineSplitter()
        var batch = ParsedBatch(reserving: batchSize)
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        func handle(_ item: NDJSONLine) {
            switch item {
            case .tooLong(let e):
                batch.errors.append(e)
            case .line(let number, let bytes):
                let text = NDJSONLine.content(number: number, bytes)
                if let format {
                    mapped(format, text, line: number)
                    return
                }
                // Most lines go straight to their record; the rest (and every bad line) take
                // the general path, which names what is wrong.
                if batch.encodeFailure == nil, batch.records.appendParsing(text) {
                    batch.eventCount += 1
                    batch.lines.append(number)
                    return
                }
                do {
                    let event = try EventParser.parse(text)
                    batch.eventCount += 1
                    guard batch.encodeFailure == nil else { return }
                    do {
                        try batch.records.append(event)
                        batch.lines.append(number)
                    } catch {
                        batch.encodeFailure = error
                    }
                } catch {
                    var e = error
                    e.line = number
                    batch.errors.append(e)
                }
            }
        }
        /// A record of a standard input: its events, each under the record's line.
        func mapped(_ format: InputFormat, _ text: UnsafeBufferPointer<UInt8>, line: Int) {
            let record: MappedRecord
            do { record = try format.map(line: text) } catch {
                var e = error
                e.line = line
                batch.errors.append(e)
                return
            }
            if let why = record.skipped { batch.skipped[why, default: 0] += 1 }
            for event in record.events {
                batch.eventCount += 1
                guard batch.encodeFailure == nil else { continue }
                do {
                    try batch.records.append(event)
                    batch.lines.append(line)
                } catch {
                    batch.encodeFailure = error
                }
            }
        }
        while !queue.isCancelled {
            let n: Int
            do { n = try Importer.read(fd, path, into: &chunk) } catch {
                queue.put(ParsedBatch(readFailure: error))
                return
            }
            if n == 0 { break }
            chunk.withUnsafeBufferPointer { splitter.feed(UnsafeBufferPointer(rebasing: $0[0..<n]), handle) }
            if batch.lineCount >= batchSize {
                batch.records.sortKeys()
                queue.put(batch)
                batch = ParsedBatch(reserving: batchSize)
            }
        }
        splitter.finish(handle)
        batch.records.sortKeys()
        batch.isLast = true
        queue.put(batch)
    }
}
