import Glibc
import JourneyCore
import JourneyStore

// Scenario: projector replay next to a raw LMDB cursor scan of the same log (the physical
// floor), and the projector's memory. Also the scaling runs (--events 10M / 50M).
//
//   JourneyBench replay --events N [--runs R] [--data DIR] [--shape clean|field]
//
// The log is generated into DIR on first use (relaxed durability, one sync at the end) and
// reused afterwards. In the field shape, `--events` counts the lines sent: the re-sent ones are
// duplicates, which the log does not store again.

/// Generates the synthetic practice into the log until it holds `events` events (in the field
/// shape: until `events` lines were sent to it, which the file `generated` records).
func ensureLog(_ log: EventLog, events: Int, dir: String, shape: PracticeShape = .clean) throws {
    let marker = dir + "/generated"
    if shape == .clean {
        guard log.lastPosition < UInt64(events) else { return }
    } else if let sent = readMarker(marker), sent >= events, log.lastPosition > 0 {
        return
    }
    let already = Int(log.lastPosition)
    var batch = EventLog.EncodedBatch(reservingEvents: 10_000)
    var generated = 0
    let t = try seconds {
        for e in PracticeGenerator(.init(events: events, seed: 42, shape: shape)) {
            generated += 1
            if generated <= already { continue }
            try batch.append(e)
            if batch.count == 10_000 {
                _ = try log.appendEncoded(batch)
                batch.removeAll()
                if generated % 1_000_000 == 0 { note("generated \(generated) of \(events) events") }
            }
        }
        if batch.count > 0 { _ = try log.appendEncoded(batch) }
        try log.sync()
    }
    if shape != .clean { writeMarker(marker, events) }
    var r = Result("generate")
    r.set("events", events)
    r.set("seconds", t, digits: 2)
    r.set("events_per_s", Double(events - already) / t, digits: 0)
    r.print()
}

func replayScenario(_ args: Arguments) throws {
    let events = args.int("events", 1_000_000)
    let runs = args.int("runs", 5)
    let dir = args.string("data") ?? "/tmp/journey-bench-\(events)"
    guard let shape = PracticeShape(rawValue: args.string("shape") ?? "clean") else {
        fail("--shape: clean or field")
    }
    mkdir(dir, 0o755)
    let log = try EventLog(directory: dir, durability: .relaxed)
    try ensureLog(log, events: events, dir: dir, shape: shape)

    var scanRates: [Double] = []
    var replayRates: [Double] = []
    var clusters = 0
    var breakdown: [(part: String, bytes: Int)] = []
    // Memory, first run only (a fresh heap): anonymous resident bytes, which leave out the
    // log's memory-mapped pages.
    trimHeap()
    let anonBefore = statusBytes("RssAnon")
    let rssBefore = statusBytes("VmRSS")
    var anonPeak = anonBefore
    var anonAfter = 0
    var rssAfter = 0

    for run in 0..<runs {
        var n = 0
        let ts = try seconds { n = try log.rawScanCount(from: 1) }
        scanRates.append(Double(n) / ts)
        var projector = Projector()
        let first = run == 0
        let tr = try seconds {
            _ = try log.fold(after: 0, into: &projector) { _ in
                if first { anonPeak = Swift.max(anonPeak, statusBytes("RssAnon")) }
            }
        }
        replayRates.append(Double(n) / tr)
        clusters = projector.clusterCount
        if first {
            breakdown = projector.memoryBreakdown
            anonPeak = Swift.max(anonPeak, statusBytes("RssAnon"))
            trimHeap()
            anonAfter = statusBytes("RssAnon")
            rssAfter = statusBytes("VmRSS")
        }
        withExtendedLifetime(projector) {}
    }

    let scan50 = percentile(scanRates, 0.5), replay50 = percentile(replayRates, 0.5)
    var scan = Result("raw_scan")
    scan.set("events", events)
    scan.set("log_events", Int(log.lastPosition))
    scan.setRates(scanRates)
    scan.print()
    var replay = Result("replay")
    replay.set("events", events)
    replay.setRates(replayRates)
    replay.set("ratio_to_raw_scan", replay50 / scan50, digits: 3)
    replay.print()
    var memory = Result("memory")
    memory.set("events", events)
    memory.set("clusters", clusters)
    memory.set("resident_bytes_per_cluster", clusters > 0 ? Double(anonAfter - anonBefore) / Double(clusters) : 0, digits: 0)
    memory.set("resident_anon_bytes_after_replay", anonAfter - anonBefore)
    memory.set("peak_anon_bytes_during_replay", anonPeak - anonBefore)
    memory.set("peak_rss_bytes", statusBytes("VmHWM"))
    memory.set("rss_bytes_before", rssBefore)
    memory.set("rss_bytes_after_replay", rssAfter)
    // Where the bytes are, per cluster (capacities the projector holds, before allocator overhead).
    for (part, bytes) in breakdown {
        memory.set("\(part)_bytes_per_cluster", clusters > 0 ? Double(bytes) / Double(clusters) : 0, digits: 0)
    }
    memory.print()
}

/// The whole number the file at `path` holds, if any.
private func readMarker(_ path: String) -> Int? {
    guard let f = fopen(path, "r") else { return nil }
    defer { fclose(f) }
    var buffer = [UInt8](repeating: 0, count: 32)
    let count = fread(&buffer, 1, buffer.count, f)
    return Int(String(decoding: buffer[0..<count], as: UTF8.self).split(separator: "\n").first ?? "")
}

/// Records `n` in the file at `path`.
private func writeMarker(_ path: String, _ n: Int) {
    guard let f = fopen(path, "w") else { return }
    fputs("\(n)\n", f)
    fclose(f)
}
