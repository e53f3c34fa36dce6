import Glibc
import JourneyClient
import JourneyCore
import JourneyProtocol
import JourneyStore

/// `journeyd import` into a directory a daemon serves (SPEC §4 v2): the file streams through
/// the socket as pipelined `append` requests, each under the daemon's line limit, and ends with
/// the counts, rejections and log of a direct import (`Importer.runPipelined`) of the same file.
///
/// - Each request is atomic; the file is not. A request's events go with
///   `"on_conflict":"reject_event"`, so the daemon appends a conflicting request event by event
///   in its place in the commit order: only the conflicting events are left out, and nothing
///   sent after it is committed before it. The log therefore holds the events in line order,
///   each new one once, exactly as a direct import leaves it.
/// - Lines are read and checked as the direct import does (the same splitter, fast path and
///   parser, in 1 MiB reads, in stretches of `batchSize` lines); valid lines go as their own
///   text, or re-encoded when they need the general parser. Rejections are reported per stretch
///   in the direct import's order: its bad lines, then the events the store refused, by line.
/// - At most `maxInFlight` requests (and `maxInFlightBytes`) are in flight: memory stays bounded
///   for any file, while the daemon commits one request as the next is read.
/// - With a daemon that does not answer `limits`, a request longer than any that has fitted so
///   far goes alone (nothing else in flight); refused as too long, it is sent again in halves,
///   next, and later requests are made smaller: the order stays that of the file. A request that
///   fails otherwise stops the import: what was answered stays stored, and the error names the
///   line to resume from.
extension Importer {
    /// Imports through the daemon at the other end of `connection`.
    ///
    /// - Parameters:
    ///   - requestBytes: the longest request line to send; by default half the daemon's limit
    ///     (its `limits` answer), or 512 KiB when it does not say.
    ///   - askLimits: whether to ask the daemon its limit (false: as a daemon that does not say).
    ///   - maxInFlight: most requests sent and not yet answered.
    ///   - progress: redrawn as the import goes, if given.
    func run(connection: JourneyConnection, requestBytes: Int? = nil, askLimits: Bool = true, maxInFlight: Int = 8,
             progress: ImportProgress? = nil) throws -> ImportTally {
        let limit = askLimits ? ImportStream.daemonLineLimit(connection) : nil
        let stream = ImportStream(connection: connection, importer: self,
                                  requestBytes: requestBytes ?? limit.map { $0 / 2 } ?? 512 << 10,
                                  knownToFit: limit ?? 0, maxInFlight: maxInFlight, progress: progress)
        return try stream.run()
    }
}

/// Progress of an import on one line of stderr, redrawn in place: lines read, events stored
/// per second, bytes read of the file's size when it is a regular file.
final class ImportProgress {
    private let total: Int?
    private let started = Clock.nowMs()
    private var drawn: Int64 = 0
    private var showing = false

    init(fd: Int32) {
        var st = stat()
        total = fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG ? Int(st.st_size) : nil
    }

    /// Redraws the line at most five times a second (always when `force`).
    func update(lines: Int, events: Int, bytes: Int, force: Bool = false) {
        let now = Clock.nowMs()
        guard force || now - drawn >= 200 else { return }
        drawn = now
        let rate = Int(Double(events) / (Double(Swift.max(1, now - started)) / 1000))
        var text = "import: \(lines) lines, \(events) events stored, \(rate) events/s, \(Self.size(bytes))"
        if let total, total > 0 {
            text += " of \(Self.size(total)) (\(Swift.min(100, bytes * 100 / total))%)"
        }
        Output.errorRaw("\r\u{1B}[2K" + text)
        showing = true
    }

    /// Erases the line (before other output on stderr, and at the end).
    func clear() {
        guard showing else { return }
        Output.errorRaw("\r\u{1B}[2K")
        showing = false
    }

    private static func size(_ bytes: Int) -> String {
        bytes >= 10 << 20 ? "\(bytes >> 20) MiB" : bytes >= 10 << 10 ? "\(bytes >> 10) KiB" : "\(bytes) B"
    }
}

/// The state of one streamed import (see `Importer.run(connection:)`).
private final class ImportStream {
    /// One append request: its line, and where each event's text and input line are.
    struct BatchRequest {
        var body: [UInt8] = []
        var spans: [Range<Int>] = []
        var lines: [Int] = []
        /// The stretch of lines it belongs to.
        var window: Int
        /// Sent alone after its request conflicted as a whole (a daemon without `on_conflict`).
        var alone = false

        init(window: Int, reserving bytes: Int = 0) {
            self.window = window
            body.reserveCapacity(bytes)
            body += ImportStream.header
        }

        var isEmpty: Bool { spans.isEmpty }

        mutating func add(_ text: UnsafeBufferPointer<UInt8>, line: Int) {
            if !spans.isEmpty { body.append(UInt8(ascii: ",")) }
            let start = body.count
            body.append(contentsOf: text)
            spans.append(start..<body.count)
            lines.append(line)
        }

        /// The request for events `range` of this one.
        func part(_ range: Range<Int>, alone: Bool = false) -> BatchRequest {
            var r = BatchRequest(window: window)
            r.alone = alone
            body.withUnsafeBufferPointer { b in
                for i in range { r.add(UnsafeBufferPointer(rebasing: b[spans[i]]), line: lines[i]) }
            }
            r.close()
            return r
        }

        mutating func close() { body.append(contentsOf: ImportStream.trailer) }
    }

    /// A stretch of input lines, as the direct import batches them: its rejections are reported
    /// together once every request of it is answered, in the direct import's order.
    struct Window {
        var errors: [EventError] = []
        var refused: [EventError] = []
        var open = 0
        var closed = false
    }

    /// An append line (JourneyProtocol's `AppendRequest`) with the event texts of the file
    /// streamed in between.
    static let header = AppendRequest.linePrefix(onConflict: .rejectEvent)
    static let trailer = AppendRequest.lineSuffix

    let connection: JourneyConnection
    let importer: Importer
    /// Requests are built up to this size.
    var requestBytes: Int
    /// The longest request line the daemon is known to take.
    var knownToFit: Int
    /// A request longer than `knownToFit` is in flight: nothing goes after it until it is answered.
    var probing = false
    let maxInFlight: Int
    let maxInFlightBytes = 8 << 20
    let progress: ImportProgress?

    var tally = ImportTally()
    var windows: [Window] = []
    /// The number of `windows[0]`.
    var firstWindow = 0
    var building: BatchRequest
    var outbox: [BatchRequest] = []
    var inFlight: [BatchRequest] = []
    var inFlightBytes = 0
    var stored = 0
    /// The first failure, and the requests not stored because of it (or not known to be).
    var failure: ProtocolError?
    var lost: [BatchRequest] = []
    var broken = false

    init(connection: JourneyConnection, importer: Importer, requestBytes: Int, knownToFit: Int, maxInFlight: Int,
         progress: ImportProgress?) {
        self.connection = connection
        self.importer = importer
        self.requestBytes = requestBytes
        self.knownToFit = knownToFit
        self.maxInFlight = Swift.max(1, maxInFlight)
        self.progress = progress
        building = BatchRequest(window: 0, reserving: requestBytes)
        windows = [Window()]
    }

    /// The daemon's longest request line (its `limits` answer), or nil when it does not say.
    static func daemonLineLimit(_ connection: JourneyConnection) -> Int? {
        guard let line = try? connection.requestBytes(Request.limits.line),
              case .success(let limits)? = try? Answer.decode(LimitsAnswer.self, from: line)
        else { return nil }
        return limits.maxLineBytes
    }

    var currentWindow: Int { firstWindow + windows.count - 1 }

    func run() throws -> ImportTally {
        var splitter = NDJSONLineSplitter()
        var check = EventLog.EncodedBatch(reservingEvents: 1)
        var chunk = [UInt8](repeating: 0, count: importer.chunkSize)
        var windowLines = 0
        var bytesRead = 0
        func handle(_ item: NDJSONLine) {
            windowLines += 1
            switch item {
            case .tooLong(let e):
                windows[windows.count - 1].errors.append(e)
            case .line(let number, let bytes):
                let text = NDJSONLine.content(number: number, bytes)
                if let format = importer.format {
                    // A standard input's record: its events, as their canonical JSON.
                    do {
                        let record = try format.map(line: text)
                        if let why = record.skipped { tally.skipped[why, default: 0] += 1 }
                        for event in record.events {
                            var w = JSONWriter()
                            EventJSON.write(event, into: &w)
                            w.bytes.withUnsafeBufferPointer { add($0, line: number) }
                        }
                    } catch {
                        var e = error
                        e.line = number
                        windows[windows.count - 1].errors.append(e)
                    }
                    return
                }
                // The direct import's checks: the fast path to a record, else the parser, which
                // names what is wrong. A line the fast path takes goes as it is.
                check.removeAll()
                if check.appendParsing(text) {
                    add(text, line: number)
                    return
                }
                do {
                    let event = try EventParser.parse(text)
                    var w = JSONWriter()
                    EventJSON.write(event, into: &w)
                    w.bytes.withUnsafeBufferPointer { add($0, line: number) }
                } catch {
                    var e = error
                    e.line = number
                    windows[windows.count - 1].errors.append(e)
                }
            }
        }
        while failure == nil {
            let n = try read(into: &chunk)
            if n == 0 { break }
            bytesRead += n
            chunk.withUnsafeBufferPointer { splitter.feed(UnsafeBufferPointer(rebasing: $0[0..<n]), handle) }
            if windowLines >= importer.batchSize {
                closeWindow()
                windowLines = 0
            }
            try pump()
            progress?.update(lines: splitter.lineNumber, events: stored, bytes: bytesRead)
        }
        if failure == nil {
            splitter.finish(handle)
            closeWindow(last: true)
        }
        try pump()
        while !inFlight.isEmpty {
            try receive()
            try pump()
        }
        progress?.update(lines: splitter.lineNumber, events: stored, bytes: bytesRead, force: true)
        progress?.clear()
        if let failure { try stop(failure) }
        return tally
    }

    /// Reads up to `chunk.count` bytes of the input, retrying on EINTR; 0 at its end.
    private func read(into chunk: inout [UInt8]) throws(CommandFailure) -> Int {
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(importer.fd, $0.baseAddress!, $0.count) }
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw CommandFailure(Exit.badInput, "read error on \(importer.path): \(String(cString: strerror(errno)))")
        }
    }

    /// Adds an event's text to the request being built, sending that first if it would grow
    /// past `requestBytes` (a request always takes one event: at most 4 KiB, it fits any limit).
    private func add(_ text: UnsafeBufferPointer<UInt8>, line: Int) {
        if !building.isEmpty && building.body.count + text.count + 1 + Self.trailer.count > requestBytes {
            enqueue()
        }
        building.add(text, line: line)
    }

    private func enqueue() {
        guard !building.isEmpty else { return }
        building.close()
        outbox.append(building)
        windows[building.window - firstWindow].open += 1
        building = BatchRequest(window: building.window, reserving: requestBytes)
    }

    private func closeWindow(last: Bool = false) {
        enqueue()
        windows[windows.count - 1].closed = true
        if !last {
            windows.append(Window())
            building = BatchRequest(window: currentWindow, reserving: requestBytes)
        }
        report()
    }

    /// Sends what waits, as far as the bounds allow, reading answers to make room.
    private func pump() throws {
        while !outbox.isEmpty && failure == nil {
            let inFlightCount = inFlight.count
            let size = outbox[0].body.count
            if inFlightCount >= maxInFlight || inFlightCount > 0 && (probing || size > knownToFit || inFlightBytes + size > maxInFlightBytes) {
                try receive()
                continue
            }
            if size > knownToFit { probing = true }
            let r = outbox.removeFirst()
            do {
                try connection.sendBytes(r.body)
            } catch {
                broken = true
                fail(ProtocolError(error.code.description, error.message), r)
                continue
            }
            inFlight.append(r)
            inFlightBytes += r.body.count
        }
        if failure != nil {
            lost.append(contentsOf: outbox)
            outbox.removeAll()
        }
    }

    /// Reads the answer to the oldest request in flight and counts it.
    private func receive() throws {
        // At most `maxInFlight` wait: removing the first moves a few.
        let r = inFlight.removeFirst()
        inFlightBytes -= r.body.count
        defer { report() }
        windows[r.window - firstWindow].open -= 1
        let probe = r.body.count > knownToFit
        if probe { probing = false }
        if broken {
            lost.append(r)
            return
        }
        let line: [UInt8]
        do {
            line = try connection.receiveBytes()
        } catch {
            broken = true
            fail(ProtocolError(error.code.description, error.message), r)
            return
        }
        let decoded: Result<AppendAnswer, ProtocolError>
        do {
            decoded = try Answer.decode(AppendAnswer.self, from: line)
        } catch {
            broken = true
            fail(ProtocolError("bad_answer", "the daemon's answer is not understood: \(error)"), r)
            return
        }
        let error: ProtocolError
        switch decoded {
        case .success(let answer):
            if probe { knownToFit = r.body.count }
            let refused = answer.rejected ?? []
            tally.duplicates += answer.duplicates.count
            tally.appended += answer.positions.count - answer.duplicates.count - refused.count
            stored += answer.positions.count - refused.count
            for x in refused where r.lines.indices.contains(x.index) {
                windows[r.window - firstWindow].refused.append(ImportRefusal.rejection(x.error, id: x.id, line: r.lines[x.index]))
            }
            return
        case .failure(let e):
            error = e
        }
        if r.alone && (error.code == "conflict" || error.code == "erased") {
            // A daemon without `on_conflict`: this event alone conflicts.
            let id = r.body.withUnsafeBufferPointer { b in
                (try? EventParser.parse(UnsafeBufferPointer(rebasing: b[r.spans[0]])))?.id ?? ""
            }
            windows[r.window - firstWindow].refused.append(ImportRefusal.rejection(error, id: id, line: r.lines[0]))
        } else if (error.code == "conflict" || error.code == "erased") && failure == nil {
            // A daemon without `on_conflict` failed the whole request: its events go one by one,
            // next. Requests already in flight behind it were committed before them, so the log
            // may differ from a direct import's unless one request at a time is in flight.
            resend((0..<r.spans.count).map { r.part($0..<$0 + 1, alone: true) }, window: r.window, next: true)
        } else if error.code == "line_too_long" && r.spans.count > 1 && failure == nil {
            // Halves, next; and smaller requests from now on. (Sent alone, as a request longer
            // than any that fitted is, they keep the file's order; one the daemon said it would
            // take and then refused may land after requests that were in flight behind it.)
            let half = r.spans.count / 2
            requestBytes = Swift.min(requestBytes, Swift.max(r.body.count / 2, 1))
            resend([r.part(0..<half), r.part(half..<r.spans.count)], window: r.window, next: true)
        } else {
            fail(error, r)
        }
    }

    private func resend(_ parts: [BatchRequest], window: Int, next: Bool = false) {
        windows[window - firstWindow].open += parts.count
        if next {
            outbox.insert(contentsOf: parts, at: 0)
        } else {
            outbox.append(contentsOf: parts)
        }
    }

    private func fail(_ error: ProtocolError, _ r: BatchRequest) {
        if failure == nil { failure = error }
        lost.append(r)
    }

    /// Reports the rejections of every finished stretch of lines, in order: the bad lines,
    /// then the events the store refused (in line order whatever order their answers took).
    private func report() {
        // After a failure, `stop` reports what comes before the line to resume from.
        guard failure == nil else { return }
        while let w = windows.first, w.closed, w.open == 0 {
            if !w.errors.isEmpty || !w.refused.isEmpty { progress?.clear() }
            for e in w.errors + w.refused.sorted(by: { ($0.line ?? 0) < ($1.line ?? 0) }) {
                tally.rejected += 1
                importer.reject(e)
            }
            windows.removeFirst()
            firstWindow += 1
        }
    }

    /// Reports what the failure left and throws it.
    private func stop(_ error: ProtocolError) throws -> Never {
        let resume = lost.compactMap(\.lines.first).min()
        // Report the rejections of the lines before the one to resume from; later ones are
        // read again on resuming.
        var before: [EventError] = []
        for w in windows {
            before += w.errors + w.refused.sorted(by: { ($0.line ?? 0) < ($1.line ?? 0) })
        }
        if !before.isEmpty { progress?.clear() }
        for e in before where resume.map({ ($0 > (e.line ?? 0)) }) ?? true {
            tally.rejected += 1
            importer.reject(e)
        }
        var message = "\(error.code): \(error.message)\nstored before stopping: appended \(tally.appended), duplicate \(tally.duplicates), rejected \(tally.rejected)"
        if let resume {
            message += "; every line before line \(resume) is stored or rejected: resume from line \(resume)"
            message += " (tail -n +\(resume) \(importer.path == "-" ? "FILE" : importer.path) | journeyd import -)"
        }
        throw CommandFailure(error.code == "invalid_event" ? Exit.badInput : Exit.store, message, errorCode: error.code)
    }
}
