import Foundation
import Glibc
import JourneyProtocol
import JourneyStore

// journey-crash-loop: kills a real `journeyd serve` at random moments under concurrent appends
// and queries, restarts it, and checks after each cycle that no acknowledged event was lost or
// doubled, positions are dense, `journeyd verify` is clean and the projections equal a fresh
// fold of the log. Exits 0 when every cycle passed, 1 otherwise (the work directory is kept).

let usage = """
    usage: JourneyCrashLoop [--cycles N] [--seed S] [--clients N] [--window W] [--max-load-ms MS]
                            [--journeyd PATH] [--dir DIR] [--keep]
      --cycles N        kill/restart cycles (default 20)
      --seed S          seed of the kill moments, batch sizes and events (default 1)
      --clients N       concurrent appending clients (default 4; one more queries)
      --window W        append requests every other client keeps in flight (default 8; the
                        others wait for each answer)
      --max-load-ms MS  the longest a cycle appends before its kill (default 2000)
      --journeyd PATH   the journeyd executable (default: next to this program)
      --dir DIR         work directory (default: a new one under /tmp, removed when clean)
      --keep            keep the work directory even when every cycle passed
    """

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(2)
}

var arguments = CommandLine.arguments.dropFirst()
var cycles = 20, seed: UInt64 = 1, clients = 4, window = 8, maxLoadMs = 2000
var journeyd: String?
var directory: String?
var keep = false
while let flag = arguments.popFirst() {
    func value() -> String {
        guard let v = arguments.popFirst() else { fail("\(flag) needs a value\n\(usage)") }
        return v
    }
    func number(_ range: ClosedRange<Int>) -> Int {
        let v = value()
        guard let n = Int(v), range.contains(n) else { fail("\(flag): \"\(v)\" is not a number in \(range)") }
        return n
    }
    switch flag {
    case "--cycles": cycles = number(1...100_000)
    case "--seed":
        let v = value()
        guard let s = UInt64(v) else { fail("--seed: \"\(v)\" is not an unsigned integer") }
        seed = s
    case "--clients": clients = number(1...64)
    case "--window": window = number(1...128)
    case "--max-load-ms": maxLoadMs = number(0...600_000)
    case "--journeyd": journeyd = value()
    case "--dir": directory = value()
    case "--keep": keep = true
    case "-h", "--help":
        print(usage)
        exit(0)
    default: fail("unknown argument \(flag)\n\(usage)")
    }
}

let selfPath = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
let binary = journeyd ?? ((selfPath as NSString).deletingLastPathComponent + "/journeyd")
guard access(binary, X_OK) == 0 else { fail("no journeyd executable at \(binary) (build it, or pass --journeyd)") }
let work: String
if let directory {
    work = directory
} else {
    do { work = try Syscall.makeTemporaryDirectory("/tmp/journey-crash-XXXXXX") } catch { fail("cannot create a work directory: \(error)") }
}

var options = CrashLoopOptions(journeyd: binary, directory: work)
options.cycles = cycles
options.seed = seed
options.clients = clients
options.window = window
options.maxLoadMs = maxLoadMs
print("crash loop: \(cycles) cycles, seed \(seed), \(clients) clients (every other one with \(window) requests in flight), work directory \(work)")
let started = ContinuousClock.now
let report: CrashLoopReport
do {
    report = try CrashLoop(options: options, say: { print($0); fflush(nil) }).run()
} catch {
    fail("crash loop: \(error) (work directory kept: \(work))")
}
let acknowledged = report.cycles.reduce(0) { $0 + $1.acknowledged }
let stored = report.cycles.last?.stored ?? 0
let compared = report.cycles.reduce(0) { $0 + $1.comparedAnswers }
let seconds = Double(started.duration(to: .now).components.seconds)
print("\(report.cycles.count) cycles in \(Int(seconds)) s: \(acknowledged) events acknowledged, \(stored) stored, \(compared) answers compared")
if report.isClean {
    print("ok")
    if !keep { try? FileManager.default.removeItem(atPath: work) }
    exit(0)
} else {
    print("\(report.failures.count) failures (work directory kept: \(work)):")
    for f in report.failures.prefix(50) { print("  \(f)") }
    exit(1)
}
