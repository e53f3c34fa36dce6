import Glibc
import JourneyStore

// Scenario: a raw LMDB cursor scan of the `log` database of an existing store (one that
// `journeyd import` wrote), read exactly as the replay scenario's raw scan reads its own log:
// one read transaction, one cursor from the first position, every value touched. It is the
// physical floor that `journeyd replay` of the same store is compared with.
//
//   JourneyBench scan --store DIR [--runs R]
//
// The store is opened read-only (no writer lock, nothing written). The first run pays for
// faulting the store's pages into this process's mapping; the p50 of the runs is the figure.

func storeScanScenario(_ args: Arguments) throws {
    let dir = args.required("store")
    let runs = Swift.max(1, args.int("runs", 3))
    let log = try EventLog(directory: dir, access: .readOnly)
    var times: [Double] = []
    var n = 0
    for _ in 0..<runs {
        times.append(try seconds { n = try log.rawScanCount(from: 1) })
    }
    var r = Result("store_scan")
    r.set("log_events", n)
    r.set("runs", runs)
    r.set("p50_s", percentile(times, 0.5), digits: 4)
    r.set("first_s", times[0], digits: 4)
    r.set("min_s", times.min() ?? 0, digits: 4)
    r.set("max_s", times.max() ?? 0, digits: 4)
    r.set("p50_events_per_s", Double(n) / Swift.max(percentile(times, 0.5), 1e-9), digits: 0)
    r.print()
}
