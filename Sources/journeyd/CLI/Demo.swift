import Dispatch
import Glibc
import JourneyClient
import JourneyCore
import JourneyProtocol
import JourneyStore
import Synchronization

extension CLI {
    /// `journeyd demo`: a synthetic practice streamed into a daemon over its socket by several
    /// concurrent clients, then reported from the daemon's answers.
    static func demoCommand(_ args: Arguments) throws -> Int32 {
        let size = try args.int("events") ?? 40_000
        let clients = try args.int("clients") ?? 8
        guard size >= 100 else { throw UsageError("--events must be at least 100") }
        guard (1...64).contains(clients) else { throw UsageError("--clients must be 1 to 64") }
        let seed: UInt64
        if let s = args.value("seed") {
            guard let v = UInt64(s) else { throw UsageError("--seed: expected a whole number, got \(Quote.short(s))") }
            seed = v
        } else {
            seed = 42
        }

        // The practice's history ends today: roughly eighteen months of new patients, at about
        // fourteen events each (with the practice rules' reminders, recalls and consent).
        let now = Clock.nowMs()
        let perPatient = 14
        let perDay = Swift.max(2, size / perPatient / 540)
        let days = Int64(size / perPatient / perDay) + 30
        let options = PracticeGenerator.Options(events: size, seed: seed, start: now - days * 86_400_000,
                                                patientsPerDay: perDay, practiceRules: true)
        let events = PracticeGenerator(options).filter { $0.at <= now } // the future has not happened yet

        let dir: String
        let temporary = args.value("data") == nil
        if let d = args.value("data") {
            dir = d
        } else {
            var template = Array("/tmp/journey-demo-XXXXXX".utf8CString)
            guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
                throw CommandFailure(Exit.store, "cannot create a temporary directory: \(String(cString: strerror(errno)))")
            }
            dir = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        defer {
            if temporary && !args.flag("keep") { removeTree(dir) }
        }
        mkdir(dir, 0o700)

        Output.error("journeyd demo: a synthetic practice of \(events.count) events (seed \(seed)), store \(dir)")
        let engine = try JourneyEngine(directory: dir)
        let socket = Gateway.socketPath(dir: dir)
        let daemon = Daemon(engine: engine, socketPath: socket)
        try daemon.start(config: ServerConfig())
        defer { try? daemon.stop() }

        // Stream through the socket: each client takes the next batch of 100 until none is left.
        let batchSize = 100
        let batches = stride(from: 0, to: events.count, by: batchSize).map {
            Array(events[$0..<Swift.min($0 + batchSize, events.count)])
        }
        let next = Atomic<Int>(0)
        let sent = Atomic<Int>(0)
        let failures = Mutex<[String]>([])
        let group = DispatchGroup()
        let started = Clock.nowMs()
        for _ in 0..<clients {
            group.enter()
            startThread {
                defer { group.leave() }
                do {
                    let c = try JourneyConnection(socketPath: socket)
                    defer { c.close() }
                    while true {
                        let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                        guard i < batches.count else { return }
                        let request = AppendRequest(events: batches[i]).line
                        let answer = try c.requestBytes(request)
                        guard case .success? = try? Answer.decode(AppendAnswer.self, from: answer) else {
                            failures.withLock { $0.append(String(decoding: answer, as: UTF8.self)) }
                            return
                        }
                        sent.wrappingAdd(batches[i].count, ordering: .relaxed)
                    }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        while group.wait(timeout: .now() + .milliseconds(200)) == .timedOut {
            progressBar(sent.load(ordering: .relaxed), events.count, started)
        }
        progressBar(sent.load(ordering: .relaxed), events.count, started, final: true)
        if let f = failures.withLock({ $0.first }) { throw CommandFailure(Exit.store, "a client failed: \(f)") }

        // Report from the daemon's answers.
        let c = try JourneyConnection(socketPath: socket)
        defer { c.close() }
        func ask<T: DecodableAnswer>(_ request: Request, _ type: T.Type) throws -> T {
            let answer = try c.requestBytes(request.line)
            guard case .success(let value)? = try? Answer.decode(T.self, from: answer) else {
                throw CommandFailure(
                    Exit.store, "\(String(decoding: request.line, as: UTF8.self)): \(String(decoding: answer, as: UTF8.self))")
            }
            return value
        }
        let stats = try ask(.stats, StatsAnswer.self)
        Output.line("")
        Output.line("== practice: \(stats.events) events, \(stats.clusters) identities ==")
        Output.line("")
        Output.line("== default funnel by acquisition channel ==")
        Output.line(Reports.funnel(try ask(.funnel(FunnelRequest()), FunnelAnswer.self).report))
        Output.line("")
        Output.line("== contact resolution by channel ==")
        Output.line(Reports.contacts(try ask(.contacts, ContactsAnswer.self).report))
        Output.line("")
        Output.line("== at risk ==")
        Output.line(try atRiskSummary { after in
            try ask(.atRisk(AtRiskRequest(limit: 1000, after: after)), AtRiskAnswer.self).report
        })
        // The last twelve months (this one included) of appointments and patients.
        let to = ReportPeriod.monthStart(now, offset: 1), from = ReportPeriod.monthStart(now, offset: -11)
        Output.line("")
        Output.line("== appointments by location ==")
        Output.line(Reports.appointments(try ask(.appointments(AppointmentsRequest(try AppointmentsQuery(from: from, to: to, by: .location))),
                                                 AppointmentsAnswer.self).report))
        Output.line("")
        Output.line("== patients by acquisition channel ==")
        Output.line(Reports.patients(try ask(.patients(PatientsRequest(try PatientsQuery(from: from, to: to, by: .acquisitionChannel))),
                                             PatientsAnswer.self).report))
        // The most recent chat handed off to a person: what the agent picking it up sees.
        if let h = events.last(where: { $0.type == .handoff }) {
            Output.line("")
            Output.line("== warm handoff: what the next agent sees for \(h.subject) ==")
            Output.line(Reports.handoff(try ask(.handoff(HandoffRequest(id: h.subject)), HandoffAnswer.self).report))
        }
        // The whole picture on one page.
        let htmlPath = args.value("html") ?? ((getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp") + "/journey-demo-report.html")
        try writePrivateFile(htmlPath, Array(try reportPage(dir: dir, as: try requester(args), title: "Demo practice", now: now, from: from, to: to).utf8))
        Output.line("")
        Output.line("== the HTML report (funnel, trends, cohorts, appointments) is at \(htmlPath) ==")
        Output.flush()
        return Exit.ok
    }

    /// Pages through the at-risk list; counts patients per risk and shows the first few.
    static func atRiskSummary(_ page: (String?) throws -> AtRiskPage) throws -> String {
        var counts: [String: Int] = [:]
        var total = 0
        var first: [AtRiskPage.Entry] = []
        var asOf = "-"
        var after: String? = nil
        repeat {
            let p = try page(after)
            asOf = cell(time: p.asOf)
            for x in p.patients {
                total += 1
                if first.count < 8 { first.append(x) }
                for r in x.risk { counts[r.name, default: 0] += 1 }
            }
            after = p.next
        } while after != nil
        var t = Table(["risk", "patients"], rightAligned: [1])
        for r in ["lapsed", "overdue", "cancelled_not_rebooked", "no_show_not_rebooked", "declining_engagement"] {
            t.add([r, String(counts[r] ?? 0)])
        }
        var out = "\(total) patients at risk as of \(asOf)\n" + t.render()
        var sample = Table(["patient", "stage", "risk"])
        for x in first { sample.add([x.patient, x.stage.name, cell(x.risk.map(\.name))]) }
        out += "\n\nfirst at-risk patients\n" + sample.render()
        return out
    }

    static func progressBar(_ done: Int, _ total: Int, _ started: Int64, final: Bool = false) {
        let width = 30
        let filled = total > 0 ? done * width / total : width
        let elapsed = Double(Swift.max(1, Clock.nowMs() - started)) / 1000
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = "streaming [\(bar)] \(done)/\(total) events, \(Int(Double(done) / elapsed)) events/s"
        if Output.stderrIsTTY {
            Output.errorRaw("\r" + line + (final ? "\n" : ""))
        } else if final {
            Output.error(line)
        }
    }

    /// Removes a directory tree the demo created (files one level deep: the LMDB files and socket).
    static func removeTree(_ dir: String) {
        guard let d = opendir(dir) else { return }
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name == "." || name == ".." { continue }
            unlink(dir + "/" + name)
        }
        closedir(d)
        rmdir(dir)
    }
}
