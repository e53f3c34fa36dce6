import Dispatch
import Glibc
import JourneyCore
import JourneyProtocol
import JourneyStore

extension CLI {
    /// `journeyd serve`: runs until SIGTERM or SIGINT, then drains and exits 0.
    static func serveCommand(_ args: Arguments, dir: String) throws -> Int32 {
        guard args.positional.isEmpty else { throw UsageError("serve takes no arguments") }
        var config = ServerConfig()
        if let g = args.value("allow-group") {
            guard let gid = groupID(g) else { throw UsageError("--allow-group: no group named \(Quote.short(g))") }
            config.allowGroup = gid
        }
        if let n = try args.int("max-line") {
            guard n >= 4096 + 64 else { throw UsageError("--max-line must be at least 4160 bytes (one event of 4 KiB and its request)") }
            config.maxLineBytes = n
        }
        if let n = try args.int("max-connections") {
            guard n >= 1 else { throw UsageError("--max-connections must be at least 1") }
            config.maxConnections = n
        }
        if let n = try args.int("max-output") {
            guard n >= 64 << 10 else { throw UsageError("--max-output must be at least 65536 bytes") }
            config.maxOutputBytes = n
        }
        if let n = try args.int("max-total-output") {
            guard n >= config.maxOutputBytes else { throw UsageError("--max-total-output must be at least --max-output (\(config.maxOutputBytes) bytes)") }
            config.maxTotalOutputBytes = n
        }
        if let ms = try args.duration("idle-timeout") {
            config.idleTimeout = ms == 0 ? nil : .milliseconds(ms)
        }
        if let ms = try args.duration("stall-timeout") {
            guard ms >= 1000 else { throw UsageError("--stall-timeout must be at least 1s") }
            config.stallTimeout = .milliseconds(ms)
        }
        if let n = try args.int("max-open-files") {
            // The descriptor limit of this process (a service manager's LimitNOFILE= does the same).
            var limit = rlimit()
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            limit.rlim_cur = rlim_t(min(UInt64(n), UInt64(limit.rlim_max)))
            guard n >= 16, setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
                throw UsageError("--max-open-files: cannot set the descriptor limit to \(n)")
            }
        }
        let socket = args.value("socket") ?? Gateway.socketPath(dir: dir)
        let http = try httpOptions(args)
        mkdir(dir, 0o700)
        // Handled from the start: a signal that comes once the socket is announced but before
        // the wait must still stop the daemon cleanly.
        let stop = JourneyStore.Semaphore()
        let signals = handleTermination(stop)
        defer { for s in signals { s.cancel() } }
        // Opening takes the store's writer lock, before anything is bound.
        let engine = try JourneyEngine(directory: dir, durability: args.flag("relaxed-durability") ? .relaxed : .full,
                                       deferRebuild: true)
        // For the crash tests of signals: the process stops between a fold and the commit of
        // its signals (after this many handoffs of signals are stored) and waits for `kill -9`.
        if let env = getenv("JOURNEYD_TEST_HOLD_SIGNALS_AFTER"), let n = Int(String(cString: env)) {
            Log.warn("serve", "JOURNEYD_TEST_HOLD_SIGNALS_AFTER=\(n): signals after \(n) handoffs are never stored (a crash test)")
            engine.writes.holdSignals(after: n)
        }
        let daemon = Daemon(engine: engine, socketPath: socket) { _ in stop.signal() }
        try daemon.start(config: config)
        var httpServer: HTTPServer?
        if let http {
            let server = HTTPServer(address: http.address, handler: SegmentHTTPAPI(
                writes: engine.writes, writeKey: http.writeKey, mapping: SegmentMapping(eventMap: http.eventMap)))
            do { try server.start() } catch {
                try? daemon.stop()
                throw CommandFailure(Exit.usage, "--http \(http.address): \(error)")
            }
            httpServer = server
            var bound = http.address
            bound.port = server.port
            Log.info("serve", "segment http api listening http=\(bound)")
        }
        Log.info("serve", "listening socket=\(socket) data=\(dir) events=\(engine.log.lastPosition) pid=\(getpid()) max_connections=\(config.maxConnections) max_output=\(config.maxOutputBytes) max_total_output=\(config.maxTotalOutputBytes)")
        if engine.needsRebuild {
            Log.info("rebuild", "projections are stale or missing: rebuilding from the log while serving")
            _ = daemon.startRebuild()
        }
        stop.wait()
        // The HTTP API first: its requests in flight are answered before the pipeline drains.
        httpServer?.stop()
        if let failure = engine.log.writeFailure {
            Log.error("serve", "stopping: the store takes no more writes (\(failure.context.lmdb?.name ?? failure.code.description)); answering what was queued")
            try daemon.stop()
            Log.error("serve", "stopped with status \(Exit.store): restart journeyd once the disk is checked")
            return Exit.store
        }
        Log.info("serve", "stopping: draining requests and saving checkpoints")
        try daemon.stop()
        Log.info("serve", "stopped")
        return Exit.ok
    }

    /// What `--http` asks for: where, the write key, the track event map.
    struct HTTPOptions {
        var address: HTTPAddress
        var writeKey: String
        var eventMap: SegmentEventMap
    }

    /// The `--http` options, checked: an address that only this machine reaches unless
    /// `--http-allow-remote`, a write key (`--write-key`, else `$JOURNEY_WRITE_KEY`).
    static func httpOptions(_ args: Arguments) throws -> HTTPOptions? {
        guard let text = args.value("http") else {
            for flag in ["write-key", "map"] where args.value(flag) != nil { throw UsageError("--\(flag) needs --http") }
            if args.flag("http-allow-remote") { throw UsageError("--http-allow-remote needs --http") }
            return nil
        }
        guard let address = HTTPAddress(text) else {
            throw UsageError("--http: expected HOST:PORT (127.0.0.1:8088, [::1]:8088), got \"\(text)\"")
        }
        guard address.isLoopback || args.flag("http-allow-remote") else {
            throw UsageError("--http \(text) is reachable from other machines: use 127.0.0.1 or ::1, or add --http-allow-remote (and put TLS in front)")
        }
        var key = args.value("write-key")
        if key == nil, let env = getenv("JOURNEY_WRITE_KEY") { key = String(cString: env) }
        guard let key, !key.isEmpty else { throw UsageError("--http needs --write-key KEY (or $JOURNEY_WRITE_KEY)") }
        return HTTPOptions(address: address, writeKey: key, eventMap: try segmentEventMap(args.value("map")))
    }

    /// Signals `stop` on SIGTERM or SIGINT until the returned sources are cancelled. The
    /// handlers run on a Dispatch queue, not in signal context.
    static func handleTermination(_ stop: JourneyStore.Semaphore) -> [DispatchSourceSignal] {
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            // The default action off first, then the source: libdispatch installs its own
            // handler when the source registers, which must replace SIG_IGN, not be replaced by
            // it (the other order lost every later SIGTERM whenever the registration came first).
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { stop.signal() }
            s.resume()
            sources.append(s)
        }
        return sources
    }

    static func groupID(_ name: String) -> gid_t? {
        if let n = UInt32(name) { return n }
        guard let g = getgrnam(name) else { return nil }
        return g.pointee.gr_gid
    }
}

extension CLI {
    /// `journeyd audit [--patient ID] [--since T]`: who was shown which patients, oldest first,
    /// from the daemon serving the directory or from its audit file (reading it is audited too).
    static func auditCommand(_ args: Arguments, dir: String) throws -> Int32 {
        guard args.positional.isEmpty else { throw UsageError("audit takes no arguments") }
        let since = try time(args, "since")
        let who = try requester(args)
        var after: Int64?
        var records: [AuditAnswer.Record] = []
        repeat {
            let request = Request.audit(AuditRequest(patient: args.value("patient"), since: since, after: after))
            let line = try Gateway.request(dir: dir, request, as: who)
            switch try Answer.decode(AuditAnswer.self, from: line) {
            case .success(let page):
                records += page.records
                after = page.next
            case .failure(let e):
                throw failure(e)
            }
        } while after != nil
        if args.flag("json") {
            for r in records {
                var w = JSONWriter()
                r.write(into: &w)
                Output.line(w.string)
            }
        } else {
            var t = Table(["at", "uid", "pid", "as", "op", "parameters", "patients", "reason"], rightAligned: [1, 2])
            for r in records {
                let shown = r.ids.isEmpty ? (r.count == 0 ? "-" : "\(r.count) patients") : r.ids.joined(separator: " ")
                t.add([Timestamp.format(ms: r.at), String(r.uid), String(r.pid), r.actor ?? "-", r.op, r.parameters,
                       shown, r.reason ?? "-"])
            }
            Output.line(t.render())
        }
        return Exit.ok
    }
}
