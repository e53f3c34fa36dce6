import Glibc
import JourneyCore
import JourneyProtocol
import JourneyStore

/// Exit codes of the command line.
enum Exit {
    static let ok: Int32 = 0
    static let badInput: Int32 = 1
    static let usage: Int32 = 2
    static let store: Int32 = 3
}

/// A failure that ends a command with an exit code and a message on stderr.
struct CommandFailure: Error {
    var code: Int32
    var message: String
    init(_ code: Int32, _ message: String) {
        self.code = code
        self.message = message
    }
}

let usageText = """
usage: journeyd COMMAND [--data DIR] [options]

  serve [--socket PATH] [--allow-group G] [--max-line BYTES] [--relaxed-durability]
                             run the local event sink on a Unix socket
  import FILE|- [--progress] append NDJSON events; prints appended / duplicate / rejected
                             (through the daemon serving DIR, if any, in streamed batches)
  export                     all events as NDJSON, in log order
  patient ID [--as-of T]     journey state of a patient (any id of the cluster)
  handoff ID [--as-of T]     warm-handoff context for the next agent
  funnel [--steps touch,inquiry,booking,visit] [--window 30d]
         [--by channel|source|medium|campaign|term|type|none] [--from T] [--to T]
  contacts                   contact resolution by channel
  at-risk [--as-of T] [--limit N] [--after ID]
  signals --consumer NAME [--from SEQ] [--follow] [--ack]
                             risk_entered / risk_left signals after the consumer's
                             acknowledged seq (--ack acknowledges each one printed)
  replay                     rebuild every projection from the log
  stats | verify | backup DEST | audit [--since T]
  demo [--events N] [--seed S] [--clients N]
                             a synthetic practice served by journeyd and reported
  generate [--events N] [--seed S]
                             the demo's synthetic practice as NDJSON, in arrival order

Every command takes --data DIR (default $JOURNEY_DATA, else ./journey-data); reports take --json.
Times are RFC 3339 or epoch milliseconds; durations 30d, 12h, 15m, 90s or seconds.
When a daemon serves DIR (on any socket), commands go through it. One process writes a store
at a time: import and replay are refused (store_busy) while another process writes DIR without
serving it; reading commands are never blocked.
"""

enum CLI {
    /// Runs the command line; returns the exit code.
    static func run(_ argv: [String]) -> Int32 {
        guard let command = argv.first, command != "--help", command != "-h", command != "help" else {
            Output.error(usageText)
            return argv.isEmpty ? Exit.usage : Exit.ok
        }
        let spec = flagSpec(command)
        guard let spec else {
            Output.error("journeyd: unknown command '\(command)'\n\n\(usageText)")
            return Exit.usage
        }
        do {
            let args = try Arguments(argv, valued: spec.valued.union(["data"]), switches: spec.switches.union(["json"]))
            let code = try dispatch(args)
            Output.flush()
            return code
        } catch let e as UsageError {
            Output.flush()
            Output.error("journeyd \(command): \(e.description)")
            return Exit.usage
        } catch let e as CommandFailure {
            Output.flush()
            Output.error("journeyd \(command): \(e.message)")
            return e.code
        } catch let e as StoreError {
            Output.flush()
            Output.error("journeyd \(command): \(e.description)")
            return Exit.store
        } catch {
            Output.flush()
            Output.error("journeyd \(command): \(error)")
            return Exit.store
        }
    }

    private static func flagSpec(_ command: String) -> (valued: Set<String>, switches: Set<String>)? {
        switch command {
        case "serve": (["socket", "allow-group", "max-line"], ["relaxed-durability"])
        case "import": (["batch"], ["relaxed-durability", "progress"])
        case "export", "stats", "verify", "contacts", "replay": ([], [])
        case "backup": ([], [])
        case "patient", "handoff": (["as-of"], [])
        case "funnel": (["steps", "window", "by", "from", "to"], [])
        case "at-risk": (["as-of", "limit", "after"], [])
        case "audit": (["since"], [])
        case "signals": (["consumer", "from"], ["follow", "ack"])
        case "demo": (["events", "seed", "clients"], ["keep"])
        case "generate": (["events", "seed"], [])
        default: nil
        }
    }

    static func dataDirectory(_ args: Arguments) -> String {
        if let d = args.value("data") { return d }
        if let env = getenv("JOURNEY_DATA"), let s = String(validatingCString: env), !s.isEmpty { return s }
        return "./journey-data"
    }

    private static func dispatch(_ args: Arguments) throws -> Int32 {
        let dir = dataDirectory(args)
        switch args.command {
        case "import": return try importCommand(args, dir: dir)
        case "export": return try exportCommand(args, dir: dir)
        case "verify": return try verifyCommand(args, dir: dir)
        case "backup": return try backupCommand(args, dir: dir)
        case "replay": return try replayCommand(args, dir: dir)
        case "serve": return try serveCommand(args, dir: dir)
        case "demo": return try demoCommand(args)
        case "generate": return try generateCommand(args)
        case "audit": return try auditCommand(args, dir: dir)
        case "signals": return try signalsCommand(args, dir: dir)
        default: return try queryCommand(args, dir: dir)
        }
    }

    // MARK: queries (through the daemon when one serves the directory)

    private static func queryCommand(_ args: Arguments, dir: String) throws -> Int32 {
        let request: Request
        switch args.command {
        case "patient", "handoff":
            guard args.positional.count == 1 else { throw UsageError("\(args.command) takes one patient id") }
            let id = args.positional[0]
            let asOf = try time(args, "as-of")
            request = args.command == "patient"
                ? .patient(PatientRequest(id: id, asOf: asOf)) : .handoff(HandoffRequest(id: id, asOf: asOf))
        case "funnel":
            // Step and breakdown names are checked by the protocol's decoder, with its messages.
            var r: [JSONMember] = [JSONMember("op", .string("funnel"))]
            if let s = args.value("steps") {
                r.append(JSONMember("steps", .array(s.split(separator: ",").map { .string(String($0)) })))
            }
            if let win = try args.duration("window") { r.append(JSONMember("window_s", .number(JSONNumber(win / 1000)))) }
            if let by = args.value("by") { r.append(JSONMember("by", .string(by))) }
            if let t = try time(args, "from") { r.append(JSONMember("from", .number(JSONNumber(t)))) }
            if let t = try time(args, "to") { r.append(JSONMember("to", .number(JSONNumber(t)))) }
            try noPositional(args)
            do {
                request = .funnel(try FunnelRequest(decoding: .object(r)))
            } catch {
                throw failure(error)
            }
        case "contacts":
            request = .contacts
        case "at-risk":
            request = .atRisk(AtRiskRequest(
                asOf: try time(args, "as-of"), limit: try args.int("limit"), after: args.value("after")))
        case "stats":
            request = .stats
        default:
            throw UsageError("unknown command '\(args.command)'")
        }
        if args.command != "patient" && args.command != "handoff" { try noPositional(args) }
        let answer = try Gateway.request(dir: dir, request)
        let json = args.flag("json")
        switch request {
        case .patient: try render(PatientAnswer.self, answer, json) { Reports.patient($0.report) }
        case .handoff: try render(HandoffAnswer.self, answer, json) { Reports.handoff($0.report) }
        case .funnel: try render(FunnelAnswer.self, answer, json) { Reports.funnel($0.report) }
        case .contacts: try render(ContactsAnswer.self, answer, json) { Reports.contacts($0.report) }
        case .atRisk: try render(AtRiskAnswer.self, answer, json) { Reports.atRisk($0.report) }
        default: try render(StatsAnswer.self, answer, json) { Reports.stats($0) }
        }
        return Exit.ok
    }

    private static func noPositional(_ args: Arguments) throws {
        guard args.positional.isEmpty else { throw UsageError("unexpected argument '\(args.positional[0])'") }
    }

    /// Prints an answer: its object as the daemon wrote it with `--json`, else its readable
    /// rendering from the decoded value.
    private static func render<T: DecodableAnswer>(_ type: T.Type, _ line: [UInt8], _ json: Bool,
                                                   _ readable: (T) -> String) throws {
        let decoded: Result<T, ProtocolError>
        do {
            decoded = try Answer.decode(T.self, from: line)
        } catch {
            throw CommandFailure(Exit.store, "unreadable answer: \(error)")
        }
        switch decoded {
        case .success(let answer):
            Output.line(json ? String(decoding: Answer.object(of: line), as: UTF8.self) : readable(answer))
        case .failure(let error):
            throw failure(error)
        }
    }

    /// The command failure of a refused request, with the exit code of its kind.
    static func failure(_ error: ProtocolError) -> CommandFailure {
        let exit: Int32 = switch error.code {
        case "not_found", "bad_request", "invalid_event", "conflict": Exit.badInput
        case "unknown_op": Exit.usage
        default: Exit.store
        }
        return CommandFailure(exit, "\(error.code): \(error.message)")
    }

    static func time(_ args: Arguments, _ name: String) throws(UsageError) -> Int64? {
        guard let v = args.value(name) else { return nil }
        if let ms = Int64(v) { return ms }
        guard let ms = Timestamp.parse(v) else {
            throw UsageError("--\(name): expected an RFC 3339 time (2026-03-01T14:05:00Z) or epoch milliseconds, got \"\(v)\"")
        }
        return ms
    }

    // MARK: import / export

    private static func importCommand(_ args: Arguments, dir: String) throws -> Int32 {
        guard args.positional.count == 1 else { throw UsageError("import takes one FILE, or - for stdin") }
        let path = args.positional[0]
        let fd: Int32 = path == "-" ? 0 : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CommandFailure(Exit.badInput, "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { if fd != 0 { close(fd) } }
        let batchSize = try args.int("batch") ?? 10_000
        guard batchSize >= 1 else { throw UsageError("--batch must be ≥ 1") }
        var shownErrors = 0
        let started = Clock.nowMs()
        let importer = Importer(fd: fd, path: path, batchSize: batchSize) { e in
            if shownErrors < 20 { Output.error(e.description) }
            shownErrors += 1
        }
        let tally: ImportTally
        switch try Gateway.writer(dir: dir, durability: args.flag("relaxed-durability") ? .relaxed : .full) {
        case .daemon(let c):
            // Streams through the daemon (ImportStream.swift), with progress on a terminal.
            defer { c.close() }
            let progress = Output.stderrIsTTY || args.flag("progress") ? ImportProgress(fd: fd) : nil
            tally = try importer.run(connection: c, progress: progress)
        case .store(let engine): tally = try importer.runPipelined(engine: engine)
        }
        let (appended, duplicates, rejected) = (tally.appended, tally.duplicates, tally.rejected)
        shownErrors = Swift.min(shownErrors, 20)
        if shownErrors < rejected { Output.error("… \(rejected - shownErrors) more rejected lines") }
        let seconds = Double(Swift.max(1, Clock.nowMs() - started)) / 1000
        let rate = Int(Double(appended + duplicates) / seconds)
        Output.line("appended \(appended), duplicate \(duplicates), rejected \(rejected) (\(rate) events/s)")
        return rejected > 0 ? Exit.badInput : Exit.ok
    }

    private static func generateCommand(_ args: Arguments) throws -> Int32 {
        let n = try args.int("events") ?? 1_000_000
        let seed = UInt64(try args.int("seed") ?? 42)
        for e in PracticeGenerator(.init(events: n, seed: seed)) {
            var w = JSONWriter()
            EventJSON.write(e, into: &w)
            Output.write(w.bytes + [10])
        }
        return Exit.ok
    }

    private static func exportCommand(_ args: Arguments, dir: String) throws -> Int32 {
        guard args.positional.isEmpty else { throw UsageError("export takes no arguments") }
        let log = try EventLog(directory: try Gateway.readableStore(dir), access: .readOnly)
        var w = JSONWriter()
        try log.scan(from: 1) { _, view in
            let e = try view.event()
            w = JSONWriter()
            EventJSON.write(e, into: &w)
            Output.write(w.bytes + [10])
            return true
        }
        return Exit.ok
    }

    // MARK: maintenance

    private static func verifyCommand(_ args: Arguments, dir: String) throws -> Int32 {
        let log = try EventLog(directory: try Gateway.readableStore(dir), access: .readOnly)
        let r = try log.verify()
        let problems = r.problems.map(\.description)
        if args.flag("json") {
            var w = JSONWriter()
            w.beginObject()
            w.key("records"); w.int(r.recordsChecked)
            w.key("id_entries"); w.int(r.idEntriesChecked)
            w.key("subject_entries"); w.int(r.subjectEntriesChecked)
            w.key("checkpoints"); w.int(r.checkpointsChecked)
            w.key("problems"); w.beginArray(); for p in problems { w.string(p) }; w.endArray()
            w.endObject()
            Output.line(w.string)
        } else {
            Output.line("checked \(r.recordsChecked) records, \(r.idEntriesChecked) id entries, \(r.subjectEntriesChecked) subject entries, \(r.checkpointsChecked) checkpoints")
            for p in problems { Output.line("problem: \(p)") }
            if r.problemsOmitted > 0 { Output.line("… \(r.problemsOmitted) more problems") }
            Output.line(problems.isEmpty ? "ok" : "\(problems.count + r.problemsOmitted) problems")
        }
        return problems.isEmpty ? Exit.ok : Exit.store
    }

    private static func backupCommand(_ args: Arguments, dir: String) throws -> Int32 {
        guard args.positional.count == 1 else { throw UsageError("backup takes one DEST directory") }
        let log = try EventLog(directory: try Gateway.readableStore(dir), access: .readOnly)
        try log.backup(to: args.positional[0])
        Output.line("backed up \(log.count) events to \(args.positional[0])")
        return Exit.ok
    }

    private static func replayCommand(_ args: Arguments, dir: String) throws -> Int32 {
        let engine: JourneyEngine
        switch try Gateway.writer(dir: dir) {
        case .store(let e):
            engine = e
        case .daemon(let c):
            defer { c.close() }
            let answer = try c.requestBytes(Request.replay.line)
            guard case .success? = try? Answer.decode(ReplayAnswer.self, from: answer) else {
                let message = (try? Answer.parse(answer)).flatMap { if case .failure(let e) = $0 { e.message } else { nil } }
                throw CommandFailure(Exit.store, message ?? "replay failed")
            }
            Output.line("the daemon is rebuilding its projections; 'journeyd stats' shows progress")
            return Exit.ok
        }
        let tty = Output.stderrIsTTY
        var final: RebuildProgress?
        try engine.rebuild { p in
            let pct = p.total > 0 ? p.done * 100 / p.total : 100
            let line = "replay: \(p.done)/\(p.total) events (\(pct)%), \(Int(p.eventsPerSecond)) events/s"
            if tty { Output.error("\u{1B}[1A\u{1B}[2K" + line) } else if p.done == p.total { Output.error(line) }
        }
        try engine.checkpoint()
        final = engine.projectionStats.rebuild
        _ = final
        let s = engine.projectionStats
        Output.line("replayed \(s.events) events into \(s.clusters) clusters")
        return Exit.ok
    }
}
