import Foundation
import Glibc
import JourneyCore

// Segment's HTTP tracking API of a real `journeyd serve --http` (durable: 200 only after the
// fsync), from client threads of this process, each on its own kept-alive connection with one
// request in flight at a time, as Segment's SDKs send. Requests are built before the clock starts.
//
//   JourneyBench http-ingest --journeyd PATH [--events N] [--per-request 100] [--clients 16]
//                            [--port 18931] [--runs R] [--work DIR]
//
// Each message is a `track` ("Appointment Booked", "Form Submitted", …) or a `page`, of 2,000
// visitors, with a campaign context and two string properties.

func httpIngestScenario(_ args: Arguments) throws {
    let journeyd = args.required("journeyd")
    let perRequest = args.int("per-request", 100)
    let clients = args.int("clients", 16)
    let total = args.int("events", 200_000)
    let port = args.int("port", 18931)
    let runs = args.int("runs", 1)
    let work = args.string("work") ?? "/tmp/journey-bench-http"
    let key = "bench-key"
    let names = ["Appointment Booked", "Form Submitted", "Chat Started", "Call Started"]
    var built: [[UInt8]] = []
    var i = 0
    while i + perRequest <= total {
        var body = #"{"batch":["#
        for k in 0..<perRequest {
            let n = i + k
            if k > 0 { body += "," }
            let ts = Timestamp.format(ms: 1_772_359_200_000 + Int64(n) * 1000)
            let who = #""anonymousId":"visitor-\#(n % 2000)","messageId":"msg-\#(n)","timestamp":"\#(ts)""#
            let ctx = #""context":{"campaign":{"source":"google","medium":"cpc","name":"spring"}},"properties":{"path":"/book","variant":"b"}"#
            body += n % 3 == 0
                ? #"{"type":"page","name":"Book",\#(who),\#(ctx)}"#
                : #"{"type":"track","event":"\#(names[n % names.count])",\#(who),\#(ctx)}"#
        }
        body += #"],"sentAt":"2026-03-01T10:00:00Z"}"#
        let auth = "Basic " + Data("\(key):".utf8).base64EncodedString()
        built.append(Array("POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: \(auth)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8))
        i += perRequest
    }
    let requests = built
    guard !requests.isEmpty else { fail("not enough events for one request of \(perRequest)") }
    mkdir(work, 0o755)
    var rates: [Double] = []
    var failures = 0
    var wall = 0.0, daemonCPU = 0.0, clientCPU = 0.0
    for r in 0..<runs {
        let dir = "\(work)/http-\(r)"
        removeTree(dir)
        let daemon = try Daemon(journeyd: journeyd, dir: dir, extra: ["--http", "127.0.0.1:\(port)", "--write-key", key])
        let run = ClientRun()
        let sender = Thread {
            onThreads(clients) { _ in
                guard let fd = connectTCP(port: UInt16(port)) else {
                    run.failed("connect to 127.0.0.1:\(port) failed")
                    run.connected.add(1, ordering: .relaxed)
                    return
                }
                defer { close(fd) }
                run.connected.add(1, ordering: .relaxed)
                while !run.go.load(ordering: .acquiring) { sched_yield() }
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let k = run.take()
                    guard k < requests.count else { break }
                    let sent = requests[k].withUnsafeBytes { b -> Bool in
                        var off = 0
                        while off < b.count {
                            let n = send(fd, b.baseAddress! + off, b.count - off, Int32(MSG_NOSIGNAL))
                            if n <= 0 { return false }
                            off += n
                        }
                        return true
                    }
                    // The answer is short: `{"success":true}` after its head.
                    let n = sent ? recv(fd, &buffer, buffer.count, 0) : -1
                    if n > 12, buffer[9] == UInt8(ascii: "2"), buffer[10] == UInt8(ascii: "0"), buffer[11] == UInt8(ascii: "0") {
                        run.eventsDone.add(perRequest, ordering: .relaxed)
                    } else {
                        run.failed(n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : "connection lost")
                        break
                    }
                }
            }
            run.stop.store(true, ordering: .releasing)
        }
        sender.start()
        while run.connected.load(ordering: .relaxed) < clients { usleep(1000) }
        let c0 = processCPUSeconds(), d0 = daemon.cpuSeconds, t0 = now()
        run.go.store(true, ordering: .releasing)
        while !run.stop.load(ordering: .acquiring) { usleep(200) }
        let t = now() - t0
        rates.append(Double(run.eventsDone.load(ordering: .relaxed)) / t)
        wall += t
        clientCPU += processCPUSeconds() - c0
        daemonCPU += daemon.cpuSeconds - d0
        failures += run.failures.load(ordering: .relaxed)
        if let e = run.firstError.withLock({ $0 }) { note("first error: \(e)") }
        daemon.stop()
        removeTree(dir)
        note("http ingest \(perRequest)/request run \(r + 1): \(Int(rates.last!)) events/s")
    }
    var out = Result("http_ingest")
    out.set("clients", clients)
    out.set("events_per_request", perRequest)
    out.set("events", requests.count * perRequest)
    out.setRates(rates)
    out.set("client_cpu_cores", clientCPU / wall, digits: 2)
    out.set("daemon_cpu_cores", daemonCPU / wall, digits: 2)
    out.set("failed_requests", failures)
    out.print()
}

/// A TCP connection to 127.0.0.1:`port`, retried for a few seconds while the daemon starts.
func connectTCP(port: UInt16) -> Int32? {
    for _ in 0..<200 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        sa.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc == 0 { return fd }
        close(fd)
        usleep(20_000)
    }
    return nil
}
