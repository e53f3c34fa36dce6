import Dispatch
import Glibc
import JourneyCore
import JourneyStore
import Synchronization

/// What an import did: events appended, duplicates skipped, lines rejected.
struct ImportTally: Sendable, Hashable, OutcomeCounts {
    var appended = 0
    var duplicates = 0
    var rejected = 0
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
        while true {
            let n = try read(into: &chunk)
            if n == 0 { break }
            chunk.withUnsafeBytes { parser.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n]), into: &batch) }
            if batch.events.count + batch.errors.count >= batchSize { try flushBatch() }
        }
        parser.finish(into: &batch)
        try flushBatch()
        try appender.finish()
        return tally
    }

    /// Imports into a local engine on two threads: a parser thread reads, parses, validates
    /// and encodes the next batches while this thread appends and folds the previous ones.
    /// Consecutive batches share one transaction (one fsync) up to `groupLines` lines, each
    /// batch still atomic on its own; a batch counts once its transaction is durable. A
    /// transaction takes the batches that are ready once it has `minGroupLines` lines (or the
    /// last batch), so appending starts early and never waits on a full group. At most
    /// about two groups of parsed batches wait in between, so memory stays bounded. Counts,
    /// rejections (in the same order) and the resulting log are those of `run(appender:)`
    /// with a `LocalAppender`.
    func runPipelined(engine: JourneyEngine, groupLines: Int = 400_000, minGroupLines: Int = 50_000) throws -> ImportTally {
        let groupBatches = Swift.max(1, Swift.min(64, groupLines / batchSize))
        let minBatches = Swift.max(1, Swift.min(groupBatches, minGroupLines / batchSize))
        let queue = HandOff<ParsedBatch>(capacity: 2 * groupBatches)
        let source = Source(fd: fd, path: path, batchSize: batchSize, chunkSize: chunkSize)
        startThread { source.parse(into: queue) }

        // Folding runs on a third thread, one group behind the appends (in commit order).
        let folder = Folder(engine: engine, capacity: 2)
        defer { folder.finish() }

        var tally = ImportTally()
        var pending: [ParsedBatch] = []
        var tookLast = false
        do {
            while !(tookLast && pending.isEmpty) {
                // Gather a group, then append as much of it as one transaction can take.
                var lines = pending.reduce(0) { $0 + $1.lineCount }
                while !tookLast && (pending.count < groupBatches && lines < groupLines || pending.isEmpty) {
                    // Wait for the batches a group needs at least; then take only those ready.
                    let batch: ParsedBatch
                    if pending.count < minBatches && lines < minGroupLines {
                        batch = queue.take()
                    } else if let ready = queue.takeIfReady() {
                        batch = ready
                    } else {
                        break
                    }
                    tookLast = batch.isLast
                    lines += batch.lineCount
                    pending.append(batch)
                }
                let done = try appendGroup(pending, engine: engine, folder: folder, into: &tally)
                pending.removeFirst(done)
            }
        } catch {
            // Take every batch up to the parser's last one, so that the parser thread is never
            // left blocked on a full queue and is done with `fd` when this returns.
            queue.cancel()
            while !tookLast { tookLast = queue.take().isLast }
            throw error
        }
        folder.finish()
        try engine.log.sync()
        try engine.checkpoint()
        return tally
    }

    /// Appends a prefix of `group` in one transaction and reports it; returns how many batches
    /// it handled (at least one).
    private func appendGroup(_ group: [ParsedBatch], engine: JourneyEngine, folder: Folder,
                             into tally: inout ImportTally) throws -> Int {
        func report(_ e: EventError) {
            tally.rejected += 1
            reject(e)
        }
        // Batches that end the import (unreadable input, an event the store cannot take) go alone.
        let plain = group.prefix { $0.readFailure == nil && $0.encodeFailure == nil }
        guard !plain.isEmpty else {
            let batch = group[0]
            batch.errors.forEach(report)
            if let failure = batch.readFailure { throw failure }
            if let e = batch.encodeFailure, batch.eventCount > 0 { throw ImportRefusal.failure(Ops.storeError(e)) }
            return 1
        }
        let r: (outcomes: [[EventLog.AppendOutcome]], failure: StoreError?)
        do {
            let records = plain.map(\.records)
            r = try engine.appendEncoded(records, fold: false)
            folder.fold(Array(records[0..<r.outcomes.count]), r.outcomes)
        } catch {
            // Nothing of the group was stored: report as if its first batch failed alone.
            plain[0].errors.forEach(report)
            throw ImportRefusal.failure(Ops.storeError(error))
        }
        for (batch, outcomes) in zip(plain, r.outcomes) {
            batch.errors.forEach(report)
            tally.count(outcomes)
        }
        guard let failure = r.failure else { return plain.count }
        // The batch after the appended ones failed on its own.
        let batch = plain[r.outcomes.count]
        batch.errors.forEach(report)
        guard failure.code == .conflict else { throw ImportRefusal.failure(Ops.storeError(failure)) }
        // As `Appender.appendSplittingConflicts`: event by event, rejecting only what fails;
        // but the events go as one-event batches of one transaction, cut at each rejection.
        // These fold as they are appended, so everything before them is folded first.
        folder.wait()
        let singles = (0..<batch.records.count).map { batch.records.single($0) }
        var next = 0
        func rejectEvent(_ i: Int, _ error: StoreError) {
            report(ImportRefusal.rejection(Ops.storeError(error), id: batch.records.id(at: i), line: batch.lines[i]))
        }
        while next < singles.count {
            let r: (outcomes: [[EventLog.AppendOutcome]], failure: StoreError?)
            do { r = try engine.appendEncoded(Array(singles[next...])) } catch {
                // The store failed: one transaction per event, exactly as the batch-by-batch import.
                for i in next..<singles.count {
                    do { tally.count(try engine.appendEncoded(singles[i])) } catch { rejectEvent(i, error) }
                }
                break
            }
            r.outcomes.forEach { tally.count($0) }
            next += r.outcomes.count
            if let failure = r.failure {
                rejectEvent(next, failure)
                next += 1
            }
        }
        return r.outcomes.count + 1
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

/// Folds appended batches into the engine's projections on a thread of its own, in the order
/// they are handed over.
private final class Folder: Sendable {
    private enum Work: Sendable {
        case fold([EventLog.EncodedBatch], [[EventLog.AppendOutcome]])
        /// Signals `done` once everything before it is folded; `last` also ends the thread.
        case barrier(last: Bool)
    }
    private let queue: HandOff<Work>
    private let done = DispatchSemaphore(value: 0)
    private let finished = Atomic<Bool>(false)

    init(engine: JourneyEngine, capacity: Int) {
        queue = HandOff(capacity: capacity)
        let (queue, done) = (queue, done)
        startThread {
            while true {
                switch queue.take() {
                case .fold(let batches, let outcomes):
                    engine.foldAppended(batches, outcomes)
                case .barrier(let last):
                    done.signal()
                    if last { return }
                }
            }
        }
    }

    /// Hands over appended batches; waits while `capacity` groups are waiting.
    func fold(_ batches: [EventLog.EncodedBatch], _ outcomes: [[EventLog.AppendOutcome]]) {
        queue.put(.fold(batches, outcomes))
    }

    /// Returns once everything handed over is folded.
    func wait() {
        queue.put(.barrier(last: false))
        done.wait()
    }

    /// Folds everything handed over and ends the thread (once; later calls return at once).
    func finish() {
        guard !finished.exchange(true, ordering: .relaxed) else { return }
        queue.put(.barrier(last: true))
        done.wait()
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
