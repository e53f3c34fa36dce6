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
    /// The exit code.
    var code: Int32
    var message: String
    /// The protocol's error code when the failure is one (`store_busy`, `not_found`, …).
    var errorCode: String?
    init(_ code: Int32, _ message: String, errorCode: String? = nil) {
        self.code = code
        self.message = message
        self.errorCode = errorCode
    }
}

let usageText = """
usage: journeyd COMMAND [--data DIR] [options]      (journeyd --version, journeyd COMMAND --help)

  serve [--socket PATH] [--allow-group G] [--max-line BYTES] [--relaxed-durability]
        [--http 127.0.0.1:PORT --write-key K [--map FILE] [--http-allow-remote]]
        [--max-connections N] [--max-output BYTES] [--max-total-output BYTES]
        [--idle-timeout DURATION] [--stall-timeout DURATION] [--max-open-files N]
                             run the local event sink on a Unix socket (and Segment's HTTP API)
  import FILE|- [--progress] append NDJSON events; prints appended / duplicate / rejected
                             (through the daemon serving DIR, if any, in streamed batches)
  import --format fhir FILE…  FHIR R4 Bulk Data NDJSON (Appointment, Encounter; others counted)
  import --format segment [--map FILE] FILE
                             Segment Spec messages (page, track, identify, alias)
  export                     all events as NDJSON, in log order
  patient ID [--as-of T]     journey state of a patient (any id of the cluster)
  handoff ID [--as-of T]     warm-handoff context for the next agent
  funnel [--steps touch,inquiry,booking,visit] [--window 30d]
         [--by channel|source|medium|campaign|term|type|location|provider|none]
         [--from T] [--to T]        steps: touch, inquiry, contact or an event type
  contacts                   contact resolution by channel
  at-risk [--as-of T] [--limit N] [--after ID]
  appointments --from T --to T [--by channel|source|location|provider|none]
  patients --from T --to T [--by acquisition_channel|source|none]
  cohorts --from T --to T [--periods 12] [--by acquisition_channel|source|none] [--tz ZONE]
  trends --from T --to T [--step touch] [--interval day|week|month] [--by channel|…|none]
         [--unique] [--tz ZONE]
  referrals [--as-of T] [--limit N]
  segment [--as-of T] [--stage S,…] [--risk R,…] [--min-visits N] [--consent CHANNEL]
          [--attr K=V] … [--limit N] [--after ID]
                             (journeyd COMMAND --help lists a command's flags)
  report --html FILE [--from T] [--to T] [--title TEXT]
                             one self-contained page: funnel, trends, cohorts, appointments
  signals --consumer NAME [--from SEQ] [--follow] [--ack]
                             risk_entered / risk_left signals after the consumer's
                             acknowledged seq (--ack acknowledges each one printed)
  replay                     rebuild every projection from the log
  stats | verify | backup DEST
  audit [--patient ID] [--since T]
                             who was shown which patients (the read audit)
  erase ID --reason TEXT [--as NAME]
                             erase a patient's identifying data for good (ids become one
                             pseudonym, free text dropped, store compacted); prints the receipt
  migrate                    upgrade a store of an earlier format, in place (stop every
                             process using it first)
  demo [--events N] [--seed S] [--clients N] [--html FILE]
                             a synthetic practice served by journeyd and reported
  generate [--events N] [--seed S] [--practice-rules] [--shape clean|field]
                             a synthetic practice as NDJSON, in arrival order (with
                             --practice-rules, the demo's: consent, unlink, recall sequences;
                             --shape field: mixed time forms, re-sent events, anonymous visitors)

Every command takes --data DIR (default $JOURNEY_DATA, else ./journey-data); reports take --json,
and funnel, contacts, at-risk and the practice reports --csv.
Reads that name patients are recorded in DIR/audit.log with --as NAME (default: your login
name) and --reason TEXT; they are refused (audit_unavailable) when the record cannot be written.
Times are RFC 3339 or epoch milliseconds; durations 30d, 12h, 15m, 90s or seconds.
When a daemon serves DIR (on any socket), commands go through it. One process writes a store
at a time: import and replay are refused (store_busy) while another process writes DIR without
serving it; reading commands are never blocked.
"""

/// `journeyd --version`.
let versionText = "journeyd \(releaseVersion) (store format \(EventLog.formatVersion))"

/// The release of this build.
let releaseVersion = "0.9.0"

enum CLI {
    /// Runs the command line; returns the exit code.
    static func run(_ argv: [String]) -> Int32 {
        if argv.first == "--version" || argv.first == "version" {
            Output.line(versionText)
            Output.flush()
            return Exit.ok
        }
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
            if argv.dropFirst().contains("--help") || argv.dropFirst().contains("-h") {
                Output.line(CommandHelp.text(command, valued: spec.valued, switches: spec.switches))
                Output.flush()
                return Exit.ok
            }
            let args = try Arguments(argv, valued: spec.valued.union(["data", "as", "reason"]), switches: spec.switches.union(["json"]))
            if args.flag("json") && args.flag("csv") { throw UsageError("--json and --csv are exclusive: pick one") }
            let code = try dispatch(args)
            Output.flush()
            return code
        } catch let e as UsageError {
            return fail(command, argv, code: "usage", e.description, exit: Exit.usage)
        } catch let e as CommandFailure {
            return fail(command, argv, code: e.errorCode ?? (e.code == Exit.badInput ? "invalid_input" : "failed"), e.message, exit: e.code)
        } catch let e as StoreError {
            return fail(command, argv, code: e.code.description, e.description, exit: Exit.store)
        } catch {
            return fail(command, argv, code: "failed", "\(error)", exit: Exit.store)
        }
    }

    /// Ends a failed command: the message on stderr, or with `--json` the error as the protocol
    /// writes it (`{"ok":false,"error":{"code":…,"message":…}}`) on stdout, for scripts.
    private static func fail(_ command: String, _ argv: [String], code: String, _ message: String, exit: Int32) -> Int32 {
        Output.flush()
        if argv.dropFirst().contains("--json") {
            var w = JSONWriter()
            w.beginObject()
            w.key("ok"); w.bool(false)
            w.key("error")
            w.beginObject()
            w.key("code"); w.string(code)
            w.key("message"); w.string("journeyd \(command): \(message)")
            w.endObject()
            w.endObject()
            Output.write(w.bytes + [10])
            Output.flush()
        } else {
            Output.error("journeyd \(command): \(message)")
        }
        return exit
    }

    private static func flagSpec(_ command: String) -> (valued: Set<String>, switches: Set<String>)? {
        switch command {
        case "serve": (["socket", "allow-group", "max-line", "http", "write-key", "map", "max-connections", "max-output",
                        "max-total-output", "idle-timeout", "stall-timeout", "max-open-files"], ["relaxed-durability", "http-allow-remote"])
        case "import": (["batch", "format", "map"], ["relaxed-durability", "progress"])
        case "contacts": ([], ["csv"])
        case "export", "stats", "verify", "replay", "migrate": ([], [])
        case "backup": ([], [])
        case "patient", "handoff": (["as-of"], [])
        case "funnel": (["steps", "window", "by", "from", "to"], ["csv"])
        case "at-risk": (["as-of", "limit", "after"], ["csv"])
        case "appointments", "patients": (["from", "to", "by"], ["csv"])
        case "cohorts": (["from", "to", "periods", "by", "tz"], ["csv"])
        case "trends": (["from", "to", "step", "interval", "by", "tz"], ["unique", "csv"])
        case "referrals": (["as-of", "limit"], ["csv"])
        case "segment": (SegmentCommand.valued, ["csv"])
        case "audit": (["since", "patient"], [])
        case "erase": ([], [])
        case "demo": (["events", "seed", "clients", "html"], ["keep"])
        case "generate": (["events", "seed", "shape"], ["practice-rules"])
        case "report": (["html", "from", "to", "title"], [])
        case "signals": (["consumer", "from"], ["follow", "ack"])
        default: nil
        }
    }

    /// Who runs the command, for the read audit: `--as` (default: the login name of the user)
    /// and `--reason`, checked as the daemon checks a request's `as` and `reason`.
    static func requester(_ args: Arguments) throws -> Requester {
        var members: [JSONMember] = []
        if let actor = args.value("as") ?? loginName() { members.append(JSONMember("as", .string(actor))) }
        if let reason = args.value("reason") { members.append(JSONMember("reason", .string(reason))) }
        do {
            return try Requester(decoding: .object(members))
        } catch {
            throw UsageError("--as / --reason: \(error.message)")
        }
    }

    /// The name of the user running this process, or its uid as text.
    private static func loginName() -> String? {
        if let pw = getpwuid(getuid()), let name = pw.pointee.pw_name { return String(cString: name) }
        return "uid \(getuid())"
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
        case "report": return try reportCommand(args, dir: dir)
        case "audit": return try auditCommand(args, dir: dir)
        case "migrate": return try migrateCommand(args, dir: dir)
        case "signals": return try signalsCommand(args, dir: dir)
        case "erase": return try eraseCommand(args, dir: dir)
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
        case "appointments", "patients", "cohorts", "trends", "referrals", "segment":
            request = try reportRequest(args)
        case "stats":
            request = .stats
        default:
            throw UsageError("unknown command '\(args.command)'")
        }
        if args.command != "patient" && args.command != "handoff" { try noPositional(args) }
        let answer = try Gateway.request(dir: dir, request, as: try requester(args))
        let format: OutputFormat = args.flag("json") ? .json : args.flag("csv") ? .csv : .table
        switch request {
        case .patient: try render(PatientAnswer.self, answer, format) { Reports.patient($0.report) }
        case .handoff: try render(HandoffAnswer.self, answer, format) { Reports.handoff($0.report) }
        case .funnel: try render(FunnelAnswer.self, answer, format, csv: { Reports.funnelCSV($0.report) }) { Reports.funnel($0.report) }
        case .contacts: try render(ContactsAnswer.self, answer, format, csv: { Reports.contactsCSV($0.report) }) { Reports.contacts($0.report) }
        case .atRisk: try render(AtRiskAnswer.self, answer, format, csv: { Reports.atRiskCSV($0.report) }) { Reports.atRisk($0.report) }
        case .appointments:
            try render(AppointmentsAnswer.self, answer, format, csv: { Reports.appointmentsCSV($0.report) }) { Reports.appointments($0.report) }
        case .patients:
            try render(PatientsAnswer.self, answer, format, csv: { Reports.patientsCSV($0.report) }) { Reports.patients($0.report) }
        case .cohorts:
            try render(CohortsAnswer.self, answer, format, csv: { Reports.cohortsCSV($0.report) }) { Reports.cohorts($0.report) }
        case .trends:
            try render(TrendsAnswer.self, answer, format, csv: { Reports.trendsCSV($0.report) }) { Reports.trends($0.report) }
        case .referrals:
            try render(ReferralsAnswer.self, answer, format, csv: { Reports.referralsCSV($0.report) }) { Reports.referrals($0.report) }
        case .segment:
            try render(SegmentAnswer.self, answer, format, csv: { Reports.segmentCSV($0.report) }) { Reports.segment($0.report) }
        default: try render(StatsAnswer.self, answer, format) { Reports.stats($0) }
        }
        return Exit.ok
    }

    private static func noPositional(_ args: Arguments) throws {
        guard args.positional.isEmpty else { throw UsageError("unexpected argument '\(args.positional[0])'") }
    }

    /// Prints an answer: its object as the daemon wrote it with `--json`, its rows with `--csv`,
    /// else its readable rendering from the decoded value.
    private static func render<T: DecodableAnswer>(_ type: T.Type, _ line: [UInt8], _ format: OutputFormat,
                                                   csv: ((T) -> String)? = nil, _ readable: (T) -> String) throws {
        let decoded: Result<T, ProtocolError>
        do {
            decoded = try Answer.decode(T.self, from: line)
        } catch {
            throw CommandFailure(Exit.store, "unreadable answer: \(error)")
        }
        switch decoded {
        case .success(let answer):
            switch format {
            case .json: Output.line(String(decoding: Answer.object(of: line), as: UTF8.self))
            case .csv: Output.write(Array((csv?(answer) ?? readable(answer)).utf8))
            case .table: Output.line(readable(answer))
            }
        case .failure(let error):
            throw failure(error)
        }
    }

    /// The command failure of a refused request, with the exit code of its kind.
    static func failure(_ error: ProtocolError) -> CommandFailure {
        let exit: Int32 = switch error.code {
        case "not_found", "bad_request", "invalid_event", "conflict", "erased": Exit.badInput
        case "unknown_op": Exit.usage
        default: Exit.store
        }
        return CommandFailure(exit, "\(error.code): \(error.message)", errorCode: error.code)
    }

    static func time(_ args: Arguments, _ name: String) throws(UsageError) -> Int64? {
        guard let v = args.value(name) else { return nil }
        if let ms = Int64(v) { return ms }
        guard let ms = Timestamp.parse(v) else {
            throw UsageError("--\(name): expected an RFC 3339 time (2026-03-01T14:05:00Z) or epoch milliseconds, got \(Quote.short(v))")
        }
        return ms
    }

    // MARK: import / export

    private static func importCommand(_ args: Arguments, dir: String) throws -> Int32 {
        guard !args.positional.isEmpty else { throw UsageError("import takes a FILE, or - for stdin") }
        let format = try inputFormat(args)
        guard args.positional.count == 1 || format != nil else {
            throw UsageError("import of NDJSON events takes one FILE, or - for stdin (several files: --format fhir)")
        }
        guard args.positional.filter({ $0 == "-" }).count <= 1 else { throw UsageError("stdin (-) can be read once") }
        let batchSize = try args.int("batch") ?? 10_000
        guard batchSize >= 1 else { throw UsageError("--batch must be ≥ 1") }
        var shownErrors = 0
        var total = ImportTally()
        let started = Clock.nowMs()
        let writer = try Gateway.writer(dir: dir, durability: args.flag("relaxed-durability") ? .relaxed : .full)
        defer { if case .daemon(let c) = writer { c.close() } }
        for path in args.positional {
            let fd: Int32 = path == "-" ? 0 : open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw CommandFailure(Exit.badInput, "cannot open \(path): \(String(cString: strerror(errno)))") }
            defer { if fd != 0 { close(fd) } }
            // With several files, each rejection names its file.
            let prefix = args.positional.count > 1 ? "\(path): " : ""
            var importer = Importer(fd: fd, path: path, batchSize: batchSize) { e in
                if shownErrors < 20 { Output.error(prefix + e.description) }
                shownErrors += 1
            }
            importer.format = format
            switch writer {
            case .daemon(let c):
                // Streams through the daemon (ImportStream.swift), with progress on a terminal.
                let progress = Output.stderrIsTTY || args.flag("progress") ? ImportProgress(fd: fd) : nil
                total.add(try importer.run(connection: c, progress: progress))
            case .store(let engine):
                total.add(try importer.runPipelined(engine: engine))
            }
        }
        let (appended, duplicates, rejected) = (total.appended, total.duplicates, total.rejected)
        shownErrors = Swift.min(shownErrors, 20)
        if shownErrors < rejected { Output.error("… \(rejected - shownErrors) more rejected lines") }
        let seconds = Double(Swift.max(1, Clock.nowMs() - started)) / 1000
        let rate = Int(Double(appended + duplicates) / seconds)
        Output.line("appended \(appended), duplicate \(duplicates), rejected \(rejected) (\(rate) events/s)")
        if !total.skipped.isEmpty {
            let counts = total.skipped.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            // The 20 most frequent kinds; a file of many distinct names does not flood the terminal.
            var text = "skipped \(total.skipped.values.reduce(0, +)): " + counts.prefix(20).map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            if counts.count > 20 { text += ", … \(counts.count - 20) more kinds" }
            Output.line(text)
        }
        return rejected > 0 ? Exit.badInput : Exit.ok
    }

    /// The `--format` of an import (nil for Journey's own NDJSON), with its `--map` for Segment.
    private static func inputFormat(_ args: Arguments) throws -> InputFormat? {
        let name = args.value("format") ?? "ndjson"
        guard name == "segment" || args.value("map") == nil else { throw UsageError("--map is for --format segment") }
        switch name {
        case "ndjson": return nil
        case "fhir": return .fhir
        case "segment": return .segment(SegmentMapping(eventMap: try segmentEventMap(args.value("map"))))
        default: throw UsageError("--format: expected ndjson, fhir or segment, got \"\(name)\"")
        }
    }

    /// The default map of Segment track names, with the practice's own from `path` over it.
    static func segmentEventMap(_ path: String?) throws -> SegmentEventMap {
        guard let path else { return .standard }
        let bytes: [UInt8]
        do { bytes = try readWholeFile(path) } catch {
            throw CommandFailure(Exit.badInput, "cannot read the event map \(path): \(error)")
        }
        do {
            return try SegmentEventMap.standard.merging(json: bytes)
        } catch {
            throw CommandFailure(Exit.badInput, "event map \(path): \(error.description)")
        }
    }

    /// The bytes of a small file (an event map).
    static func readWholeFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CommandFailure(Exit.badInput, String(cString: strerror(errno))) }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw CommandFailure(Exit.badInput, String(cString: strerror(errno))) }
            if n == 0 { return out }
            guard out.count + n <= 1 << 20 else { throw CommandFailure(Exit.badInput, "over 1 MiB") }
            out += chunk[0..<n]
        }
    }

    private static func generateCommand(_ args: Arguments) throws -> Int32 {
        let n = try args.int("events") ?? 1_000_000
        let seed = UInt64(try args.int("seed") ?? 42)
        let shapeName = args.value("shape") ?? PracticeShape.clean.rawValue
        guard let shape = PracticeShape(rawValue: shapeName) else {
            throw UsageError("--shape: expected clean or field, got \(Quote.short(shapeName))")
        }
        for line in PracticeLines(.init(events: n, seed: seed, practiceRules: args.flag("practice-rules"), shape: shape)) {
            Output.write(line)
        }
        return Exit.ok
    }

    private static func exportCommand(_ args: Arguments, dir: String) throws -> Int32 {
        guard args.positional.isEmpty else { throw UsageError("export takes no arguments") }
        let log = try EventLog(directory: try Gateway.readableStore(dir), access: .readOnly)
        // The whole log up to its last position is disclosed: recorded before the first line.
        let through = log.lastPosition
        let who = try requester(args)
        do {
            try AuditLog(directory: dir).record(AuditEntry(
                at: Clock.nowMs(), uid: getuid(), pid: getpid(), actor: who.actor, op: "export",
                parameters: "{\"from\":1,\"through\":\(through)}", ids: [], reason: who.reason))
        } catch {
            throw CommandFailure(Exit.store, "audit_unavailable: \(error.description)")
        }
        var w = JSONWriter()
        try log.scan(from: 1) { p, view in
            guard p <= through else { return false }
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

    private static func migrateCommand(_ args: Arguments, dir: String) throws -> Int32 {
        try noPositional(args)
        let tty = Output.stderrIsTTY
        var shown = -1
        let report = try StoreMigration.migrate(directory: dir) { p in
            let pct = p.total > 0 ? p.done * 100 / p.total : 100
            guard pct != shown else { return }
            shown = pct
            let line = "migrate: \(p.done)/\(p.total) events (\(pct)%)"
            if tty { Output.error("\u{1B}[1A\u{1B}[2K" + line) } else if pct % 10 == 0 { Output.error(line) }
        }
        if report.alreadyCurrent {
            Output.line("the store in \(dir) is already of format \(report.toVersion): nothing to do")
        } else {
            Output.line("migrated the store in \(dir) from format \(report.fromVersion) to \(report.toVersion): \(report.events) events checksummed, \(report.indexEntries) other entries copied, verified")
        }
        return Exit.ok
    }

    private static func backupCommand(_ args: Arguments, dir: String) throws -> Int32 {
        guard args.positional.count == 1 else { throw UsageError("backup takes one DEST directory") }
        let log = try EventLog(directory: try Gateway.readableStore(dir), access: .readOnly)
        let held = try log.backup(to: args.positional[0])
        Output.line("backed up \(held) events to \(args.positional[0])")
        return Exit.ok
    }

    /// `erase ID --reason TEXT [--as NAME]`: through the daemon serving the store, else on the
    /// store opened as its writer; prints the receipt.
    private static func eraseCommand(_ args: Arguments, dir: String) throws -> Int32 {
        guard args.positional.count == 1 else { throw UsageError("erase takes one patient id") }
        guard args.value("reason") != nil else {
            throw UsageError("erase needs --reason TEXT (kept in the receipt; it must not name the patient)")
        }
        let request = Request.erase(EraseRequest(id: args.positional[0]))
        let line = try requester(args).adding(to: request.line)
        let answer: [UInt8]
        switch try Gateway.writer(dir: dir) {
        case .daemon(let c):
            defer { c.close() }
            answer = try c.requestBytes(line)
        case .store(let engine):
            let (op, object) = try Request.envelope(line)
            let who = try Requester(decoding: object)
            do {
                answer = try Ops(engine: engine, reader: AuditContext(actor: who.actor, reason: who.reason))
                    .answer(try Request.decode(op: op, object))
            } catch {
                answer = error.line
            }
        }
        try render(EraseAnswer.self, answer, args.flag("json") ? .json : .table) { a in
            let r = a.receipt
            return "erased: \(r.events) events of the patient, \(r.references) events of others naming them\n"
                + "pseudonym: \(r.pseudonym)\n"
                + "receipt \(r.seq) at \(Timestamp.format(ms: r.at)) by \(TerminalText.escape(r.actor ?? "-")): \(TerminalText.escape(r.reason))"
        }
        return Exit.ok
    }

    private static func replayCommand(_ args: Arguments, dir: String) throws -> Int32 {
        let engine: JourneyEngine
        // The checkpoint is not restored: the rebuild replaces it (until its own is saved, the
        // store keeps the old one, so an interrupted replay leaves the store as it was).
        switch try Gateway.writer(dir: dir, rebuildOnOpen: true) {
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
        // The new checkpoint is saved while the signals are evaluated.
        try engine.rebuildAndCheckpoint { p in
            let pct = p.total > 0 ? p.done * 100 / p.total : 100
            let line = "replay: \(p.done)/\(p.total) events (\(pct)%), \(Int(p.eventsPerSecond)) events/s"
            if tty { Output.error("\u{1B}[1A\u{1B}[2K" + line) } else if p.done == p.total { Output.error(line) }
        }
        final = engine.projectionStats.rebuild
        _ = final
        let s = engine.projectionStats
        // The signals of the rebuilt projections are stored (durable) before the process ends.
        engine.settleSignals()
        Output.line("replayed \(s.events) events into \(s.clusters) clusters")
        // Everything is durable: the process exits without releasing the engine, whose
        // projections (one allocation per cluster) the exit frees at once rather than one by one.
        _ = Unmanaged.passRetained(engine)
        return Exit.ok
    }
}
