import Dispatch
import Foundation
import Glibc
import JourneyClient
import JourneyCore
import JourneyStore
import Synchronization

// Scenarios against a real `journeyd serve` (durable acks: fsync before every `ok`), with clients
// on threads of this process using JourneyConnection. Requests are encoded before the clock
// starts, so a client does little more than write a request and read its answer; the client
// process's CPU time is reported next to the daemon's, to show whether the client could be the
// bottleneck.
//
//   JourneyBench socket-ingest --journeyd PATH --events-file F --per-request K [--clients 16]
//                              [--window W] [--max-events M] [--runs R] [--work DIR]
//
// `--window W`: requests each client keeps in flight (pipelined on its connection; 1 = send,
// wait for the answer, send the next). Default as in bench.py: 128 for requests of fewer than
// 10 events, else 32.
//   JourneyBench socket-queries --journeyd PATH --data DIR --ids-from BASE --appends EXTRA
//                              [--appenders 4] [--seconds S]

/// A `journeyd serve` child process on a data directory.
final class Daemon {
    let process = Process()
    let socketPath: String

    init(journeyd: String, dir: String, extra: [String] = []) throws {
        socketPath = dir + "/journeyd.sock"
        process.executableURL = URL(fileURLWithPath: journeyd)
        process.arguments = ["serve", "--data", dir] + extra
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Ready when it answers a ping (it may first restore its projections from a checkpoint).
        let deadline = now() + 120
        while now() < deadline {
            if let c = try? JourneyConnection(socketPath: socketPath),
               let answer = try? c.request(#"{"op":"ping"}"#), answer.hasPrefix(#"{"ok":true"#) {
                return
            }
            guard process.isRunning else { fail("journeyd serve exited with status \(process.terminationStatus)") }
            usleep(20_000)
        }
        process.terminate()
        fail("journeyd serve did not answer on \(socketPath)")
    }

    var pid: Int32 { process.processIdentifier }
    var cpuSeconds: Double { processCPUSeconds(pid: pid) }

    /// SIGTERM, then waits for the drain and exit.
    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

/// Runs `body(i)` for i in 0..<count on threads of their own and waits for all of them.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for i in 0..<count {
        group.enter()
        let t = Thread {
            body(i)
            group.leave()
        }
        t.stackSize = 1 << 20
        t.start()
    }
    group.wait()
}

/// What the client threads of one run share.
final class ClientRun: Sendable {
    let next = Atomic<Int>(0)
    let connected = Atomic<Int>(0)
    let go = Atomic<Bool>(false)
    let stop = Atomic<Bool>(false)
    let failures = Atomic<Int>(0)
    let eventsDone = Atomic<Int>(0)
    let firstError = Mutex<String?>(nil)

    func failed(_ message: String) {
        failures.add(1, ordering: .relaxed)
        firstError.withLock { if $0 == nil { $0 = message } }
    }

    func take() -> Int { next.wrappingAdd(1, ordering: .relaxed).oldValue }
}

/// `{"op":"append","events":[…]}` of `lines[range]`.
func appendRequest(_ lines: ArraySlice<[UInt8]>) -> [UInt8] {
    var r = Array(#"{"op":"append","events":["#.utf8)
    var first = true
    for l in lines {
        if !first { r.append(UInt8(ascii: ",")) }
        r.append(contentsOf: l)
        first = false
    }
    r.append(contentsOf: "]}".utf8)
    return r
}

func isOK(_ answer: [UInt8]) -> Bool {
    answer.starts(with: #"{"ok":true"#.utf8)
}

/// Sends `requests` from `connections` threads (each request taken by whichever is free), each
/// keeping up to `window` requests in flight on its connection, counting the events that went
/// through.
func sendAll(
    _ requests: [[UInt8]], perRequest: Int, socketPath: String, connections: Int, window: Int = 1, run: ClientRun
) {
    onThreads(connections) { _ in
        let c: JourneyConnection
        do {
            c = try JourneyConnection(socketPath: socketPath)
        } catch {
            run.failed("connect: \(error)")
            run.connected.add(1, ordering: .relaxed)
            return
        }
        run.connected.add(1, ordering: .relaxed)
        while !run.go.load(ordering: .acquiring) { sched_yield() }
        var inFlight = 0
        var more = true
        do {
            while true {
                // Fill the window, then take one answer (answers come in request order).
                while more && inFlight < window {
                    let i = run.stop.load(ordering: .relaxed) ? requests.count : run.take()
                    guard i < requests.count else {
                        more = false
                        break
                    }
                    try c.sendBytes(requests[i])
                    inFlight += 1
                }
                guard inFlight > 0 else { break }
                let answer = try c.receiveBytes()
                inFlight -= 1
                if isOK(answer) {
                    run.eventsDone.add(perRequest, ordering: .relaxed)
                } else {
                    run.failed(String(decoding: answer.prefix(300), as: UTF8.self))
                }
            }
        } catch {
            run.failed("request: \(error)")
        }
    }
}

func socketIngestScenario(_ args: Arguments) throws {
    let journeyd = args.required("journeyd")
    let perRequest = args.int("per-request", 100)
    let clients = args.int("clients", 16)
    let window = max(1, args.int("window", perRequest < 10 ? 128 : 32))
    let maxEvents = args.int("max-events", 1_000_000)
    let runs = args.int("runs", 3)
    let work = args.string("work") ?? "/tmp/journey-bench-socket"
    let lines = readLines(args.required("events-file"), limit: maxEvents)
    let requests = stride(from: 0, to: lines.count - lines.count % perRequest, by: perRequest).map {
        appendRequest(lines[$0..<$0 + perRequest])
    }
    let events = requests.count * perRequest
    guard events > 0 else { fail("not enough events for one request of \(perRequest)") }
    mkdir(work, 0o755)

    var rates: [Double] = []
    var wall = 0.0, clientCPU = 0.0, daemonCPU = 0.0
    var failures = 0
    var firstError: String?
    for i in 0..<runs {
        let dir = "\(work)/ingest-\(perRequest)-\(i)"
        removeTree(dir)
        let daemon = try Daemon(journeyd: journeyd, dir: dir)
        let run = ClientRun()
        // The clients connect, then all start together.
        let socketPath = daemon.socketPath
        let sender = Thread {
            sendAll(requests, perRequest: perRequest, socketPath: socketPath, connections: clients, window: window, run: run)
            run.stop.store(true, ordering: .releasing)
        }
        sender.start()
        while run.connected.load(ordering: .relaxed) < clients { usleep(1000) }
        let c0 = processCPUSeconds(), d0 = daemon.cpuSeconds, t0 = now()
        run.go.store(true, ordering: .releasing)
        // `stop` doubles as the "all threads finished" signal of the sender.
        while !run.stop.load(ordering: .acquiring) { usleep(200) }
        let t = now() - t0, c = processCPUSeconds() - c0, d = daemon.cpuSeconds - d0
        rates.append(Double(run.eventsDone.load(ordering: .relaxed)) / t)
        wall += t
        clientCPU += c
        daemonCPU += d
        failures += run.failures.load(ordering: .relaxed)
        if firstError == nil { firstError = run.firstError.withLock { $0 } }
        daemon.stop()
        removeTree(dir)
        note("socket ingest \(perRequest)/request window \(window) run \(i + 1): \(Int(rates.last!)) events/s")
    }
    var r = Result("socket_ingest")
    r.set("clients", clients)
    r.set("events_per_request", perRequest)
    r.set("window", window)
    r.set("events", events)
    r.setRates(rates)
    r.set("client_cpu_cores", clientCPU / wall, digits: 2)
    r.set("daemon_cpu_cores", daemonCPU / wall, digits: 2)
    r.set("cores", Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    r.set("failed_requests", failures)
    if let firstError { r.set("first_error", firstError) }
    r.print()
}

func socketQueriesScenario(_ args: Arguments) throws {
    let journeyd = args.required("journeyd")
    let dir = args.required("data")
    let appenders = args.int("appenders", 4)
    let maxSeconds = args.double("seconds", 5)
    let ids = sampleSubjects(readLines(args.required("ids-from")), count: 1000)
    guard !ids.isEmpty else { fail("no ids to query") }
    let extra = readLines(args.required("appends"))
    let requests = stride(from: 0, to: extra.count, by: 100).map { appendRequest(extra[$0..<Swift.min($0 + 100, extra.count)]) }
    let asOf = Clock.nowMs()
    func query(_ op: String, _ id: String) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("op"); w.string(op)
        w.key("id"); w.string(id)
        w.key("as_of"); w.int(asOf)
        w.endObject()
        return w.bytes
    }
    let handoffRequests = ids.map { query("handoff", $0) }
    let patientRequests = ids.map { query("patient", $0) }
    // The floor of a round trip over the same path: `ping` is answered on the I/O thread like
    // `handoff`, without reading the projections (or writing an audit record).
    let pingRequest = Array(#"{"op":"ping"}"#.utf8)

    let daemon = try Daemon(journeyd: journeyd, dir: dir)
    defer { daemon.stop() }
    let connection = try JourneyConnection(socketPath: daemon.socketPath)
    let run = ClientRun()
    let appendsDone = Atomic<Bool>(false)
    let socketPath = daemon.socketPath
    let sender = Thread {
        sendAll(requests, perRequest: 100, socketPath: socketPath, connections: appenders, run: run)
        appendsDone.store(true, ordering: .releasing)
    }
    sender.start()
    while run.connected.load(ordering: .relaxed) < appenders { usleep(1000) }
    run.go.store(true, ordering: .releasing)

    var handoff: [Double] = []
    var patient: [Double] = []
    var ping: [Double] = []
    var picker = Picker()
    var failures = 0
    let started = now()
    var i = 0
    while !appendsDone.load(ordering: .acquiring) && now() - started < maxSeconds {
        // handoff, patient, handoff, ping, … (half the requests are handoffs)
        let kind = i & 3 == 3 ? 2 : i & 1
        let k = picker.next(ids.count)
        let request = kind == 0 ? handoffRequests[k] : kind == 1 ? patientRequests[k] : pingRequest
        let a = now()
        let answer = try connection.requestBytes(request)
        let t = now() - a
        if !isOK(answer) { failures += 1 }
        switch kind {
        case 0: handoff.append(t)
        case 1: patient.append(t)
        default: ping.append(t)
        }
        i += 1
    }
    let appended = run.eventsDone.load(ordering: .relaxed)
    let appendSeconds = now() - started
    run.stop.store(true, ordering: .relaxed)
    while !appendsDone.load(ordering: .acquiring) { usleep(1000) }
    for (name, samples) in [("handoff_socket", handoff), ("patient_socket", patient), ("ping_socket", ping)] {
        var q = Result(name)
        q.setLatencies(samples)
        q.set("concurrent_append_events_per_s", Double(appended) / Swift.max(1e-9, appendSeconds), digits: 0)
        q.set("appenders", appenders)
        q.set("append_batch", 100)
        q.set("failed_requests", failures + run.failures.load(ordering: .relaxed))
        q.print()
    }
}

func removeTree(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}
