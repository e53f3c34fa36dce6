import JourneyCore
import JourneyProtocol

/// How a report is printed: a readable table, the SPEC §5 object (`--json`) or rows (`--csv`).
enum OutputFormat {
    case table, json, csv
}

/// The `segment` command's flags: each names a filter of SPEC §3.6.
enum SegmentCommand {
    static let valued: Set<String> = [
        "as-of", "limit", "after", "stage", "risk", "acquisition-channel", "source", "campaign", "min-visits",
        "max-visits", "last-visit-before", "last-visit-after", "min-value", "referred", "consent", "attr",
    ]
}

extension CLI {
    /// The request of a practice-report command, checked by the protocol's decoder (whose
    /// messages name the member at fault); times and counts are checked here first, naming the flag.
    static func reportRequest(_ args: Arguments) throws -> Request {
        try noPositional(args)
        var r: [JSONMember] = [JSONMember("op", .string(args.command))]
        func member(_ flag: String) -> String { flag.replacingAll("-", with: "_") }
        func timeMember(_ flag: String) throws {
            if let t = try time(args, flag) { r.append(JSONMember(member(flag), .number(JSONNumber(t)))) }
        }
        func intMember(_ flag: String) throws {
            if let n = try args.int(flag) { r.append(JSONMember(member(flag), .number(JSONNumber(Int64(n))))) }
        }
        func stringMember(_ flag: String) {
            if let v = args.value(flag) { r.append(JSONMember(member(flag), .string(v))) }
        }
        switch args.command {
        case "appointments", "patients":
            try timeMember("from"); try timeMember("to"); stringMember("by")
        case "cohorts":
            try timeMember("from"); try timeMember("to"); try intMember("periods"); stringMember("by"); stringMember("tz")
        case "trends":
            try timeMember("from"); try timeMember("to")
            stringMember("step"); stringMember("interval"); stringMember("by"); stringMember("tz")
            if args.flag("unique") { r.append(JSONMember("unique", .bool(true))) }
        case "referrals":
            try timeMember("as-of"); try intMember("limit")
        default:  // segment
            for flag in ["as-of", "last-visit-before", "last-visit-after"] { try timeMember(flag) }
            for flag in ["limit", "min-visits", "max-visits"] { try intMember(flag) }
            for flag in ["after", "stage", "risk", "acquisition-channel", "source", "campaign", "min-value", "consent", "attr"] {
                stringMember(flag)
            }
            if let v = args.value("referred") {
                switch v {
                case "true", "yes": r.append(JSONMember("referred", .bool(true)))
                case "false", "no": r.append(JSONMember("referred", .bool(false)))
                default: throw UsageError("--referred: expected true or false, got \"\(v)\"")
                }
            }
        }
        do {
            return try Request.decode(op: args.command, .object(r))
        } catch {
            throw failure(error)
        }
    }

    private static func noPositional(_ args: Arguments) throws {
        guard args.positional.isEmpty else { throw UsageError("unexpected argument '\(args.positional[0])'") }
    }
}

extension String {
    /// Every `target` replaced by `replacement`.
    func replacingAll(_ target: Character, with replacement: Character) -> String {
        String(map { $0 == target ? replacement : $0 })
    }
}

/// `journeyd COMMAND --help`: what the command does and its flags.
enum CommandHelp {
    static func text(_ command: String, valued: Set<String>, switches: Set<String>) -> String {
        var out = "usage: journeyd \(command)\(positional[command].map { " " + $0 } ?? "") [--data DIR] [options]\n"
        if let about = about[command] { out += "\n" + about + "\n" }
        out += "\noptions:\n"
        var lines: [(String, String)] = [("--data DIR", "the store (default $JOURNEY_DATA, else ./journey-data)")]
        func describe(_ flag: String) -> String { overrides[command]?[flag] ?? flags[flag] ?? "" }
        for flag in valued.sorted() {
            lines.append(("--\(flag) \(command == "signals" && flag == "from" ? "SEQ" : placeholder(flag))", describe(flag)))
        }
        for flag in switches.sorted() { lines.append(("--\(flag)", describe(flag))) }
        if command == "erase" {
            lines.append(("--reason TEXT", "why (required): kept in the receipt and the read audit; must not name the patient"))
            lines.append(("--as NAME", "who erases, kept in the receipt (default: your login name)"))
        }
        if readsPatients.contains(command) {
            lines.append(("--as NAME", "who reads, for the read audit (default: your login name)"))
            lines.append(("--reason TEXT", "why, recorded in the read audit"))
        }
        if ["patient", "handoff", "funnel", "contacts", "at-risk", "stats", "appointments", "patients", "cohorts",
            "trends", "referrals", "segment", "verify", "audit", "signals", "erase"].contains(command) {
            lines.append(("--json", "print the answer's JSON object"))
        }
        lines.append(("--help", "this help"))
        let w = lines.map(\.0.count).max() ?? 0
        out += lines.map { "  " + $0.0 + String(repeating: " ", count: w - $0.0.count) + "  " + $0.1 }.joined(separator: "\n")
        out += "\n\nTimes are RFC 3339 (2026-03-01T14:05:00Z) or epoch milliseconds; lists are comma-separated."
        return out
    }

    private static let positional: [String: String] = [
        "patient": "ID", "handoff": "ID", "import": "FILE|-", "backup": "DEST", "erase": "ID",
    ]

    private static func placeholder(_ flag: String) -> String {
        switch flag {
        case "from", "to", "as-of", "last-visit-before", "last-visit-after", "since": "T"
        case "limit", "periods", "min-visits", "max-visits", "events", "clients", "seed", "batch", "max-connections",
             "max-open-files": "N"
        case "max-line", "max-output", "max-total-output": "BYTES"
        case "idle-timeout", "stall-timeout": "DURATION"
        case "html", "map": "FILE"
        case "title": "TEXT"
        case "http": "ADDRESS"
        case "write-key": "KEY"
        case "consumer": "NAME"
        case "format": "FORMAT"
        case "socket": "PATH"
        case "allow-group": "GROUP"
        case "window": "DURATION"
        case "tz": "ZONE"
        case "after": "ID"
        case "min-value": "AMOUNT"
        case "attr": "KEY=VALUE"
        case "consent": "CHANNEL"
        default: flag.uppercased().replacingAll("-", with: "_")
        }
    }

    /// The commands whose answers can name patients (their reads are audited).
    private static let readsPatients: Set<String> = [
        "patient", "handoff", "at-risk", "referrals", "segment", "export", "audit", "signals",
    ]

    /// Descriptions of a flag that means something else for one command.
    private static let overrides: [String: [String: String]] = [
        "signals": ["from": "start after this seq instead of after the consumer's acknowledged one"],
        "audit": ["since": "only records at or after this time", "patient": "only reads that named this patient (any id of the cluster)"],
        "report": ["from": "start of the period (default: 11 months before the current one, UTC)",
                   "to": "end of the period, excluded (default: the start of next month, UTC)"],
    ]

    private static let about: [String: String] = [
        "serve": "Runs the local event sink: the socket protocol on DIR/journeyd.sock (mode 0600) and, with --http,\nSegment's HTTP tracking API on a loopback port. SIGTERM or SIGINT stops it cleanly.",
        "import": "Appends events from a file (or - for stdin): NDJSON, or with --format FHIR R4 Bulk Data or\nSegment Spec messages. Prints appended, duplicate and rejected counts; through a serving daemon\nit streams in batches.",
        "export": "Every event as NDJSON, in log order.",
        "patient": "The journey state of a patient: any id of the cluster answers for all of it.",
        "handoff": "What the next agent on any channel must know about a patient, at once.",
        "replay": "Rebuilds every projection from the log, with progress.",
        "stats": "The size of the log, the state of the projections, audit failures and signal consumers.",
        "verify": "Checks every record's checksum and the store's structure and indexes.",
        "backup": "A consistent copy of the store in DEST (mode 0600 in a 0700 directory), with the count it holds.",
        "audit": "Who was shown which patients: the read audit.",
        "erase": "Erases a patient's identifying data for good: in every event of the cluster of ID, the ids\n(subject, patient, referrer) become one pseudonym erased:<16 hex digits> and concern, agent, term\nand attrs are dropped; other patients' events naming the cluster (a referrer) name the pseudonym.\nThe data file is then compacted in place and the read audit rewritten, so no file of DIR holds\nthe old ids. Prints the receipt (time, actor, reason, event counts, pseudonym). Goes through the\ndaemon serving DIR, if any. Erased event ids sent again are refused (erased). Backups made before\nstill hold the data: destroying them is up to you.",
        "demo": "A synthetic practice streamed into a daemon over its socket, then reported, with the HTML report\nwritten to a path it names.",
        "generate": "A synthetic practice as NDJSON, in arrival order.",
        "report": "One self-contained HTML page: the default funnel, inquiry and visit trends, the cohort\nretention heat map and appointment outcomes by location. No script, nothing fetched.",
        "signals": "Risk changes for outreach (risk_entered, risk_left) after the consumer's acknowledged seq.",
        "migrate": "Upgrades a store of the earlier format in place (copy, verify, swap). Stop every process\nusing the store first.",
        "appointments": "Appointments scheduled in [from, to), by a property of their booking: visited, no-show,\ncancelled and open, the no-show, cancellation and rebooking rates, and revenue.",
        "patients": "New, referred, retained and lapsed patients over [from, to), with their visits and revenue.",
        "cohorts": "Patients by the month of their first visit (months starting in [from, to)), and how many\nof each came back in each following month.",
        "trends": "Events matching a step (touch, inquiry, contact or an event type) per day, ISO week or\nmonth of [from, to); with --unique, distinct patients instead.",
        "referrals": "Patients who referred others: how many, how many came, what they are worth; and\nreferred against direct patients.",
        "segment": "The patients whose journey at --as-of meets every filter given, by id, a page at a time:\nthe list a campaign is sent to.",
        "funnel": "How many patients reached each step of a funnel, per breakdown value.",
        "contacts": "Contact resolution per channel.",
        "at-risk": "Patients with a retention risk, by id, a page at a time.",
    ]

    private static let flags: [String: String] = [
        "from": "start of the period (inclusive)",
        "to": "end of the period (exclusive); only events before it count",
        "by": "the grouping",
        "tz": "IANA time zone whose local midnight starts days, weeks and months (default UTC)",
        "periods": "months followed per cohort, its own first (default 12)",
        "step": "touch, inquiry, contact or an event type (default touch)",
        "interval": "day, week or month (default week)",
        "unique": "count distinct patients instead of events",
        "as-of": "evaluate the journeys as they stood at this time (default now)",
        "limit": "page size, 1 to 10000 (default 100)",
        "after": "the id after which the page starts (the previous page's next)",
        "stage": "any of these stages: prospect, inquiring, booked, active, lapsed",
        "risk": "any of these risks: lapsed, overdue, cancelled_not_rebooked, no_show_not_rebooked, declining_engagement",
        "acquisition-channel": "the channel of the first touch",
        "source": "the source of the first touch",
        "campaign": "the campaign of the first touch",
        "min-visits": "at least this many visits",
        "max-visits": "at most this many visits",
        "last-visit-before": "the latest visit is before this time",
        "last-visit-after": "the latest visit is after this time",
        "min-value": "a lifetime value of at least this amount (120.50)",
        "referred": "true: referred by another patient; false: not",
        "consent": "the latest consent on this channel is granted",
        "attr": "KEY=VALUE: the latest event with attrs KEY has this VALUE",
        "csv": "print rows as CSV (RFC 4180) with a header row",
        "steps": "the funnel's steps (default touch,inquiry,booking,visit)",
        "window": "the conversion window (default 30d)",
        "socket": "the socket's path (default DIR/journeyd.sock)",
        "allow-group": "let members of this group connect too (socket mode 0660)",
        "max-line": "the longest request line taken, in bytes (default 1 MiB)",
        "http": "also answer Segment's HTTP tracking API on this address (127.0.0.1:PORT)",
        "write-key": "the write key the HTTP API requires (or $JOURNEY_WRITE_KEY)",
        "map": "a JSON file mapping Segment track event names to event types",
        "http-allow-remote": "let --http bind an address that is not loopback",
        "max-connections": "connections served at once (default 1024)",
        "max-output": "answers queued for one connection, in bytes, before it is cut off (default 4 MiB)",
        "max-total-output": "answers queued for all connections, in bytes (default 64 MiB)",
        "idle-timeout": "close a connection idle this long (default 300s)",
        "stall-timeout": "close a connection that takes no answers for this long (default 30s)",
        "max-open-files": "the descriptor limit to run with",
        "relaxed-durability": "acknowledge before fsync (must be asked for by name)",
        "batch": "events per batch (default: sized to the daemon's line limit)",
        "format": "ndjson (default), fhir or segment",
        "progress": "show progress even when stderr is not a terminal",
        "patient": "only this patient (any id of the cluster)",
        "since": "only at or after this time",
        "events": "how many events",
        "seed": "the generator's seed (default 42)",
        "clients": "concurrent socket clients (default 8)",
        "keep": "keep the demo's store",
        "html": "write the HTML report to this file",
        "title": "the page's heading",
        "practice-rules": "consent, reminder and recall sequences, unlinks: what the demo shows",
        "shape": "clean (default: RFC 3339 times, each event sent once) or field (every other time as epoch ms, ~1% of events sent twice, one web-first visitor in twelve never identified)",
        "consumer": "the consumer's name",
        "follow": "keep streaming new signals until SIGTERM or SIGINT (then exit 0)",
        "ack": "acknowledge each signal once printed",
    ]
}
