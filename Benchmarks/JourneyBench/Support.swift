import Glibc
import JourneyCore

// Shared helpers of the benchmark scenarios: arguments, clocks, percentiles, process figures
// read from /proc, and the one-JSON-object-a-line output.

struct Arguments {
    let command: String
    private let rest: [String]

    init(_ argv: [String]) {
        if let first = argv.first, !first.hasPrefix("--") {
            command = first
            rest = Array(argv.dropFirst())
        } else {
            command = "replay"
            rest = argv
        }
    }

    func string(_ name: String) -> String? {
        guard let i = rest.firstIndex(of: "--" + name), i + 1 < rest.count else { return nil }
        return rest[i + 1]
    }

    func int(_ name: String, _ fallback: Int) -> Int {
        guard let s = string(name) else { return fallback }
        guard let v = Int(s.replacingUnderscores()) else { fail("--\(name): expected an integer, got \"\(s)\"") }
        return v
    }

    func double(_ name: String, _ fallback: Double) -> Double {
        guard let s = string(name) else { return fallback }
        guard let v = Double(s) else { fail("--\(name): expected a number, got \"\(s)\"") }
        return v
    }

    func required(_ name: String) -> String {
        guard let s = string(name) else { fail("\(command) needs --\(name)") }
        return s
    }
}

extension String {
    func replacingUnderscores() -> String { String(filter { $0 != "_" }) }
}

func fail(_ message: String) -> Never {
    writeAll(2, "JourneyBench: \(message)\n")
    exit(2)
}

/// Progress and notes go to stderr; stdout carries only the JSON result lines.
func note(_ message: String) {
    writeAll(2, "# \(message)\n")
}

/// Writes `text` to a file descriptor (unbuffered, so lines from threads never interleave).
func writeAll(_ fd: Int32, _ text: String) {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return }
        bytes = bytes.dropFirst(n)
    }
}

/// Monotonic seconds.
func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let a = now()
    try body()
    return now() - a
}

/// Nearest-rank percentile of `xs` (p in 0...1).
func percentile(_ xs: [Double], _ p: Double) -> Double {
    guard !xs.isEmpty else { return 0 }
    let s = xs.sorted()
    let rank = Int((Double(s.count) * p).rounded(.up)) - 1
    return s[Swift.min(s.count - 1, Swift.max(0, rank))]
}

/// CPU seconds (user + system) used by this process so far.
func processCPUSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6
        + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
}

/// CPU seconds (user + system) used by another process, from /proc/PID/stat.
func processCPUSeconds(pid: Int32) -> Double {
    guard let text = readFile("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return 0 }
    // Fields after the command name: state is field 3; utime and stime are fields 14 and 15.
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]) else { return 0 }
    return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

func readFile(_ path: String) -> String? {
    guard let f = fopen(path, "r") else { return nil }
    defer { fclose(f) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n <= 0 { break }
        out.append(contentsOf: buf[..<n])
    }
    return String(decoding: out, as: UTF8.self)
}

/// A figure of /proc/self/status in bytes (`VmRSS`, `VmHWM`, `RssAnon`, `RssFile`).
func statusBytes(_ key: String) -> Int {
    guard let text = readFile("/proc/self/status") else { return 0 }
    for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
        let kb = line.dropFirst(key.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) } ?? 0
        return kb * 1024
    }
    return 0
}

/// Returns freed heap pages to the system, so resident figures reflect live data.
func trimHeap() {
    // glibc's malloc_trim(3) is not in the Glibc module: look it up by name and call it through
    // its C signature, int malloc_trim(size_t pad).
    typealias Trim = @convention(c) (Int) -> Int32
    guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "malloc_trim") else { return }
    _ = unsafeBitCast(symbol, to: Trim.self)(0)
}

/// One result: a JSON object on one line of stdout, keys in the order given.
struct Result {
    private var fields: [(String, String)] = []

    init(_ scenario: String) { set("scenario", scenario) }

    mutating func set(_ key: String, _ value: String) {
        var w = JSONWriter()
        w.string(value)
        fields.append((key, w.string))
    }

    mutating func set(_ key: String, _ value: Int) { fields.append((key, String(value))) }

    mutating func set(_ key: String, _ value: Double, digits: Int = 1) {
        guard value.isFinite else { fields.append((key, "null")); return }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let r = (value * scale).rounded() / scale
        fields.append((key, digits == 0 ? String(Int(r)) : String(r)))
    }

    mutating func set(_ key: String, _ value: Bool) { fields.append((key, value ? "true" : "false")) }

    func print() {
        let body = fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",")
        writeAll(1, "{\(body)}\n")
    }
}

/// Adds p50, min and max of per-run rates.
extension Result {
    mutating func setRates(_ rates: [Double], unit: String = "events_per_s") {
        set("runs", rates.count)
        set("p50_\(unit)", percentile(rates, 0.5), digits: 0)
        set("min_\(unit)", rates.min() ?? 0, digits: 0)
        set("max_\(unit)", rates.max() ?? 0, digits: 0)
    }

    /// Adds p50, p99, max and count of latency samples given in seconds, as microseconds.
    mutating func setLatencies(_ samples: [Double], prefix: String = "") {
        set(prefix + "requests", samples.count)
        set(prefix + "p50_us", percentile(samples, 0.5) * 1e6)
        set(prefix + "p99_us", percentile(samples, 0.99) * 1e6)
        set(prefix + "max_us", (samples.max() ?? 0) * 1e6)
    }
}

/// Reads an NDJSON file into its lines (without newlines), skipping empty ones.
func readLines(_ path: String, limit: Int = .max) -> [[UInt8]] {
    guard let f = fopen(path, "r") else { fail("cannot open \(path): \(String(cString: strerror(errno)))") }
    defer { fclose(f) }
    var lines: [[UInt8]] = []
    var splitter = NDJSONLineSplitter()
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while lines.count < limit {
        let n = fread(&chunk, 1, chunk.count, f)
        if n <= 0 { break }
        chunk.withUnsafeBytes { raw in
            splitter.feed(UnsafeRawBufferPointer(rebasing: raw[0..<n])) { item in
                if lines.count < limit, case .line(_, let bytes) = item { lines.append(Array(bytes)) }
            }
        }
    }
    splitter.finish { item in
        if lines.count < limit, case .line(_, let bytes) = item { lines.append(Array(bytes)) }
    }
    return lines
}

/// Subjects of every `stride`-th event of an NDJSON file: ids that queries can ask about.
func sampleSubjects(_ lines: [[UInt8]], count: Int) -> [String] {
    guard !lines.isEmpty else { return [] }
    let stride = Swift.max(1, lines.count / Swift.max(1, count))
    var seen = Set<String>()
    var ids: [String] = []
    var i = 0
    while i < lines.count && ids.count < count {
        if let e = try? EventParser.parse(lines[i]), seen.insert(e.subject).inserted { ids.append(e.subject) }
        i += stride
    }
    return ids
}

/// A deterministic index sequence for picking query ids.
struct Picker {
    var rng = SplitMix64(seed: 7)
    mutating func next(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
}
