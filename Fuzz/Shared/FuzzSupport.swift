// Helpers shared by the fuzz targets (compiled into each one by scripts/fuzz).
import Glibc
import JourneyCore

/// Stops the run with a message when an invariant fails; libFuzzer records the input that
/// reached it as a crash.
func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() {
        say("fuzz invariant failed: \(message())\n")
        abort()
    }
}

/// A deterministic stream of small numbers (chunk sizes, call patterns) derived from one byte,
/// so the input's other bytes stay the data under test.
struct Dice {
    var rng: SplitMix64
    init(_ seed: UInt8) { rng = SplitMix64(seed: UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 &+ 1) }
    mutating func below(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
    mutating func coin() -> Bool { rng.next() & 1 == 0 }
    /// A chunk length: mostly short, sometimes long, to split lines every way.
    mutating func chunk() -> Int {
        switch below(4) {
        case 0: 1 + below(3)
        case 1: 1 + below(16)
        case 2: 1 + below(256)
        default: 1 + below(8192)
        }
    }
}

/// Events covering every type and every field, with escapes, non-ASCII text, offsets,
/// fractional seconds and edge values, one JSON text each.
let handwrittenEvents: [String] = [
    #"{"id":"e1","type":"call","subject":"p-1","at":"2026-03-01T14:05:00Z","direction":"in","duration_s":95,"outcome":"answered","agent":"staff:jdoe","conversation":"c-1","concern":"tooth ache \u00e9\ud83d\ude00 \"quoted\"","resolved":false}"#,
    #"{"id":"e2","type":"search_hit","subject":"anon-7f3a","at":1772373900000,"source":"google","medium":"cpc","campaign":"spring-recall","term":"pediatric dentist near me","channel":"search"}"#,
    #"{"id":"e3","type":"web_visit","subject":"anon-7f3a","at":"2026-03-01T14:05:00.123456+02:00","attrs":{"page":"/book","ua":"Mozilla/5.0","k\u0001":"v\n"}}"#,
    #"{"id":"e4","type":"booking","subject":"p-1","at":"2026-03-02T09:00:00-05:30","appointment":"a-9","scheduled_for":"2026-03-10T10:00:00Z","location":"north","provider":"dr-who"}"#,
    #"{"id":"e5","type":"visit","subject":"p-1","at":"2026-03-10T10:00:00Z","appointment":"a-9","amount":125.5,"location":"north","provider":"dr-who"}"#,
    #"{"id":"e6","type":"message_sent","subject":"p-1","at":"2026-03-11T10:00:00Z","message":"m-1","channel":"sms"}"#,
    #"{"id":"e7","type":"message_opened","subject":"p-1","at":"2026-03-11T10:05:00Z","message":"m-1"}"#,
    #"{"id":"e8","type":"referral","subject":"p-2","at":"2026-03-12T00:00:00Z","referrer":"p-1"}"#,
    #"{"id":"e9","type":"identify","subject":"anon-7f3a","at":"2026-03-01T14:06:00Z","patient":"p-1"}"#,
    #"{"id":"e10","type":"handoff","subject":"p-1","at":"2026-03-01T14:07:00Z","agent":"bot:intake","to_agent":"staff:jdoe","to_channel":"phone","conversation":"c-1"}"#,
    #"{"id":"e11","type":"eligibility","subject":"p-1","at":"2026-03-01T14:08:00Z","status":"verified"}"#,
    #"{"id":"e12","type":"cancellation","subject":"p-1","at":"2026-03-03T00:00:00Z","appointment":"a-9","channel":"portal"}"#,
    #"{"id":"e13","type":"no_show","subject":"p-1","at":"0001-01-01T00:00:00Z","appointment":"a-8"}"#,
    #"{"id":"e14","type":"chat","subject":"p-1","at":"9999-12-31T23:59:59.999Z","conversation":"c-2","resolved":true,"channel":"chat","concern":null}"#,
    #"{"id":"e15","type":"form","subject":"p-3","at":-62135596800000,"channel":"web","amount":null}"#,
    #"  {"id":"e16","type":"call","subject":"p-4","at":"2026-03-01t14:05:00z","direction":"out","outcome":"voicemail","duration_s":0}  "#,
    #"{"id":"e17","type":"call","subject":"p-4","at":"2026-03-01T14:05:00Z","outcome":"missed","channel":"in_person"}"#,
    #"{"id":"e18","type":"eligibility","subject":"p-5","at":"2026-03-01T14:05:00Z","status":"denied","attrs":{}}"#,
    #"{"id":"e19","type":"visit","subject":"p-5","at":"2026-03-01T14:05:00Z","amount":0.10,"channel":"referral"}"#,
    #"{"id":"e20","type":"call","subject":"p-6","at":"2026-03-01T14:05:00Z","channel":"social","outcome":"abandoned","medium":"\/x"}"#,
    #"{"id":"e21","type":"eligibility","subject":"p-5","at":"2026-03-01T14:05:00Z","status":"pending","channel":"email"}"#,
    #"{"id":"e22","type":"unlink","subject":"anon-7f3a","at":"2026-03-02T09:00:00Z","patient":"p-1","agent":"staff:jdoe"}"#,
    #"{"id":"e23","type":"consent","subject":"p-1","at":"2026-03-02T09:05:00Z","channel":"sms","status":"granted"}"#,
    #"{"id":"e24","type":"consent","subject":"p-5","at":"2026-03-02T09:05:00Z","status":"revoked","channel":"email"}"#,
]

/// The handwritten events followed by `count` events of the synthetic practice, as JSON lines.
func seedEventLines(count: Int) -> [String] {
    var lines = handwrittenEvents
    for e in PracticeGenerator(.init(events: count, seed: 7)) { lines.append(EventJSON.encode(e)) }
    return lines
}

/// When `JOURNEY_FUZZ_SEEDS` names a directory, writes `make()`'s inputs there as files and
/// exits (scripts/fuzz builds the seed corpus this way); otherwise does nothing.
func writeSeedsIfAsked(_ make: () -> [[UInt8]]) {
    guard let dir = getenv("JOURNEY_FUZZ_SEEDS").map({ String(cString: $0) }) else { return }
    for (i, bytes) in make().enumerated() {
        let path = "\(dir)/seed-\(i)"
        guard let f = fopen(path, "wb") else {
            say("cannot write \(path)\n")
            exit(1)
        }
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
    }
    exit(0)
}

/// Writes `text` to standard error.
func say(_ text: String) {
    var text = text
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}
