import Glibc
import JourneyCore
import JourneyStore

// JourneyBench: replay throughput of the projector next to a raw LMDB cursor scan of the same
// log (the physical floor), measured in one run. One JSON line per result on stdout.
//
//   swift run -c release JourneyBench [--events N] [--runs R] [--data DIR]

#if DEBUG
print("*** JourneyBench is a debug build: numbers are meaningless. Use swift run -c release JourneyBench ***")
#endif

func argument(_ name: String) -> String? {
    let a = CommandLine.arguments
    guard let i = a.firstIndex(of: "--" + name), i + 1 < a.count else { return nil }
    return a[i + 1]
}

let events = Int(argument("events") ?? "") ?? 1_000_000
let runs = Int(argument("runs") ?? "") ?? 5
let dir = argument("data") ?? "/tmp/journey-bench-\(events)"

func seconds(_ body: () throws -> Void) rethrows -> Double {
    var a = timespec(), b = timespec()
    clock_gettime(CLOCK_MONOTONIC, &a)
    try body()
    clock_gettime(CLOCK_MONOTONIC, &b)
    return Double(b.tv_sec - a.tv_sec) + Double(b.tv_nsec - a.tv_nsec) / 1e9
}

func percentile(_ xs: [Double], _ p: Double) -> Double {
    let s = xs.sorted()
    return s[Swift.min(s.count - 1, Int(Double(s.count - 1) * p + 0.5))]
}

func residentBytes() -> Int {
    guard let f = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(f) }
    var size = 0, resident = 0
    _ = withUnsafeMutablePointer(to: &size) { s in
        withUnsafeMutablePointer(to: &resident) { r in
            withVaList([s, r]) { vfscanf(f, "%ld %ld", $0) }
        }
    }
    return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// Anonymous resident memory (heap, not file-backed pages such as LMDB's map), from
/// /proc/self/status `RssAnon`.
func anonymousResidentBytes() -> Int {
    guard let f = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, 256, f) != nil {
        let s = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        if s.hasPrefix("RssAnon:") {
            return (Int(String(s.dropFirst(8).filter { $0.isNumber })) ?? 0) * 1024
        }
    }
    return 0
}

let log = try EventLog(directory: dir, durability: .relaxed)
if log.lastPosition < UInt64(events) {
    var batch = EventLog.EncodedBatch(reservingEvents: 10_000)
    var generated = 0
    let t = try seconds {
        for e in PracticeGenerator(.init(events: events, seed: 42)) {
            generated += 1
            if generated <= Int(log.lastPosition) { continue }
            try batch.append(e)
            if batch.count == 10_000 {
                _ = try log.appendEncoded(batch)
                batch.removeAll()
            }
        }
        if batch.count > 0 { _ = try log.appendEncoded(batch) }
        try log.sync()
    }
    print("# generated \(events) events into \(dir) in \(String(format2(t)))s")
}

func format2(_ x: Double) -> String {
    let v = (x * 100).rounded() / 100
    return String(v)
}

var scanRates: [Double] = []
var replayRates: [Double] = []
var rssAfter = 0
var clusters = 0
let rssBefore = residentBytes()
let anonBefore = anonymousResidentBytes()
var anonAfter = 0
var queryLine = ""
for run in 0..<runs {
    var n = 0
    let ts = try seconds { n = try log.rawScanCount(from: 1) }
    scanRates.append(Double(n) / ts)
    var projector = Projector()
    let tr = try seconds {
        try log.scan(from: 1) { _, view in
            try projector.apply(view)
            return true
        }
    }
    replayRates.append(Double(n) / tr)
    clusters = projector.clusterCount
    rssAfter = Swift.max(rssAfter, residentBytes())
    anonAfter = Swift.max(anonAfter, anonymousResidentBytes())
    if run == runs - 1 {
        // Query latency over the replayed state (whole-population queries and single lookups).
        let asOf: Int64 = 1_735_689_600_000 + 800 * 86_400_000
        var sink = 0
        let tf = seconds { sink &+= projector.funnel(FunnelQuery()).groups.count }
        let tc = seconds { sink &+= projector.contacts().channels.count }
        let ta = seconds { sink &+= projector.atRisk(asOf: asOf, limit: 100, after: nil).patients.count }
        let tp = seconds {
            for i in 0..<1000 { sink &+= projector.patient(id: "p-\(i * 97)", asOf: asOf)?.counts.count ?? 0 }
            for i in 0..<1000 { sink &+= projector.handoff(id: "p-\(i * 97)", asOf: asOf)?.contacts ?? 0 }
        }
        queryLine = #"{"scenario":"queries","funnel_ms":\#(format2(tf * 1000)),"contacts_ms":\#(format2(tc * 1000)),"at_risk_ms":\#(format2(ta * 1000)),"patient_and_handoff_us_each":\#(format2(tp * 1e6 / 2000)),"sink":\#(sink)}"#
    }
}

let scan50 = percentile(scanRates, 0.5), replay50 = percentile(replayRates, 0.5)
let ratio = replay50 / scan50
print(#"{"scenario":"raw_scan","events":\#(events),"runs":\#(runs),"p50_events_per_s":\#(Int(scan50)),"min_events_per_s":\#(Int(scanRates.min()!)),"max_events_per_s":\#(Int(scanRates.max()!))}"#)
print(#"{"scenario":"replay","events":\#(events),"runs":\#(runs),"p50_events_per_s":\#(Int(replay50)),"min_events_per_s":\#(Int(replayRates.min()!)),"max_events_per_s":\#(Int(replayRates.max()!)),"ratio_to_raw_scan":\#(format2(ratio))}"#)
print(#"{"scenario":"memory","clusters":\#(clusters),"rss_before_bytes":\#(rssBefore),"peak_rss_bytes":\#(rssAfter),"bytes_per_cluster_upper_bound":\#(clusters > 0 ? (rssAfter - rssBefore) / clusters : 0),"anon_bytes_per_cluster":\#(clusters > 0 ? (anonAfter - anonBefore) / clusters : 0)}"#)
print(queryLine)
