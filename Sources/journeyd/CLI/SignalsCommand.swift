import Dispatch
import Glibc
import JourneyClient
import JourneyCore
import JourneyProtocol
import JourneyStore

/// `journeyd signals --consumer NAME [--from SEQ] [--follow] [--ack] [--json]`: a consumer's
/// signals after its acknowledged seq (or after `--from`), one line each, through the daemon
/// serving the directory or from the store itself.
///
/// Without `--follow` it prints the signals stored when it started and ends; with it, it goes
/// on printing each new one until SIGTERM or SIGINT (then it exits 0). `--ack` acknowledges each
/// signal once printed (and flushed), so the next run starts after it.
extension CLI {
    static func signalsCommand(_ args: Arguments, dir: String) throws -> Int32 {
        guard args.positional.isEmpty else { throw UsageError("unexpected argument '\(args.positional[0])'") }
        guard let consumer = args.value("consumer") else { throw UsageError("--consumer NAME is required") }
        var from: UInt64?
        if let f = try args.int("from") {
            guard f >= 0 else { throw UsageError("--from must be a seq ≥ 0") }
            from = UInt64(f)
        }
        let printer = SignalPrinter(json: args.flag("json"))
        let who = try requester(args)
        // Following ends at SIGTERM or SIGINT, with what was printed flushed and status 0 (also
        // when started with them ignored, as a background job of a script is).
        let stops = args.flag("follow") ? endOnTermination() : []
        defer { for s in stops { s.cancel() } }
        switch try Gateway.writer(dir: dir) {
        case .daemon(let c):
            defer { c.close() }
            try throughDaemon(c, consumer: consumer, from: from, follow: args.flag("follow"), ack: args.flag("ack"), who, printer)
        case .store(let engine):
            try fromStore(engine, consumer: consumer, from: from, follow: args.flag("follow"), ack: args.flag("ack"),
                          AuditContext(actor: who.actor, reason: who.reason), printer)
        }
        return Exit.ok
    }

    private static func throughDaemon(_ c: JourneyConnection, consumer: String, from: UInt64?, follow: Bool, ack: Bool,
                                      _ who: Requester, _ printer: SignalPrinter) throws {
        // Where the stream is caught up, for a run that ends there.
        let stats = try decoded(StatsAnswer.self, try c.requestBytes(Request.stats.line))
        // A followed stream may be quiet for hours: its reads wait without a timeout.
        let stream = follow ? try JourneyConnection(socketPath: c.socketPath, timeout: nil) : c
        defer { if follow { stream.close() } }
        // Named as the reader the daemon records each batch of signals in the read audit for.
        let request = who.adding(to: SignalsRequest(consumer: consumer, from: from).line)
        let answer = try decoded(SignalsAnswer.self, try stream.requestBytes(request))
        if !follow && answer.after >= stats.lastSignalSeq { return }
        // The stream takes no more requests: acknowledgements go on a connection of their own.
        let acks = ack ? try JourneyConnection(socketPath: c.socketPath) : nil
        defer { acks?.close() }
        while true {
            let line = try stream.receiveBytes()
            let signal: Signal
            switch try SignalsAnswer.decodeSignal(line) {
            case .success(let s): signal = s
            case .failure(let e): throw failure(e)
            }
            printer.print(signal)
            // Followed, each line is shown as it comes.
            if follow || acks != nil { Output.flush() }
            if let acks {
                _ = try decoded(AckAnswer.self, try acks.requestBytes(AckRequest(consumer: consumer, seq: signal.seq).line))
            }
            if !follow && signal.seq >= stats.lastSignalSeq { return }
        }
    }

    private static func fromStore(_ engine: JourneyEngine, consumer: String, from: UInt64?, follow: Bool, ack: Bool,
                                  _ reader: AuditContext, _ printer: SignalPrinter) throws {
        // What opening the store raised (elapsed-time changes while it was closed) is stored first.
        engine.settleSignals()
        let stream = try engine.signals(consumer: consumer, from: from, as: reader)
        var last = stream.after
        let end = try engine.log.lastSignalSeq()
        while true {
            // The engine raises the signals falling due meanwhile itself; this process is the
            // store's writer, so nothing else adds to it while it runs.
            // Each page is recorded in the read audit before it is printed.
            let page: [Signal]
            do {
                page = try engine.signals(consumer: consumer, after: last, limit: 1024, as: reader)
            } catch let e as AuditUnavailable {
                throw failure(ProtocolError("audit_unavailable", e.description))
            }
            for signal in page {
                printer.print(signal)
                if ack {
                    Output.flush()
                    try stream.ack(signal.seq)
                }
                last = signal.seq
            }
            if !follow && last >= end { return }
            if follow {
                Output.flush()
                usleep(500_000)
            }
        }
    }

    /// Handles SIGTERM and SIGINT by flushing stdout and exiting 0 (every signal printed with
    /// `--ack` was acknowledged before the next one was read; the one in flight is delivered
    /// again to the next run).
    private static func endOnTermination() -> [DispatchSourceSignal] {
        [SIGTERM, SIGINT].map { sig in
            // SIG_IGN first, then the source (see `handleTermination`).
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler {
                Output.flush()
                _exit(Exit.ok)
            }
            s.resume()
            return s
        }
    }

    private static func decoded<T: DecodableAnswer>(_ type: T.Type, _ line: [UInt8]) throws -> T {
        let result: Result<T, ProtocolError>
        do {
            result = try Answer.decode(T.self, from: line)
        } catch {
            throw CommandFailure(Exit.store, "unreadable answer: \(error)")
        }
        switch result {
        case .success(let a): return a
        case .failure(let e): throw failure(e)
        }
    }
}

/// Prints signals as readable lines or as their JSON objects.
struct SignalPrinter {
    var json: Bool

    func print(_ s: Signal) {
        if json {
            Output.line(s.json)
        } else {
            let contactable = s.contactable.isEmpty ? "-" : s.contactable.map(\.name).joined(separator: ",")
            Output.line("\(s.seq)  \(Timestamp.format(ms: s.at))  \(s.kind.rawValue)  \(TerminalText.escape(s.patient))  \(s.risk.name)  stage=\(s.stage.name)  contactable=\(contactable)")
        }
    }
}
