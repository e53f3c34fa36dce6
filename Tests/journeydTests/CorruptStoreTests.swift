import Dispatch
import Foundation
import Glibc
import JourneyClient
import JourneyCore
import JourneyStore
import Synchronization
import Testing
@testable import journeyd

// Damaged stores never kill a process: 200 copies of a small store (branch, leaf and overflow
// pages, a free list) with 5 random bits flipped each (seeded), each read by the built journeyd
// in a child (`verify`, `stats` and `export` in turn); every child must exit, with 0 or an error,
// never by a signal. And a replay of a damaged store fails visibly while the daemon keeps
// answering from the projections it had.

/// SplitMix64: the seeded generator of the flips, so a failing copy reproduces.
private struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// How a child ended.
private enum Ending: Hashable, CustomStringConvertible {
    case exited(Int32)
    case signal(Int32)
    case timedOut
    var description: String {
        switch self {
        case .exited(let s): "exit \(s)"
        case .signal(let s): "signal \(s)"
        case .timedOut: "timed out"
        }
    }
}

/// Runs journeyd with `args`, its output discarded.
private func ending(_ args: [String]) throws -> Ending {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: journeydBinary!)
    p.arguments = args
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    guard waitForExit(p, timeout: .seconds(30)) else {
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        return .timedOut
    }
    return p.terminationReason == .uncaughtSignal ? .signal(p.terminationStatus) : .exited(p.terminationStatus)
}

@Suite("damaged stores", .enabled(if: journeydBinary != nil))
struct CorruptStoreTests {
    @Test("200 copies with 5 flipped bits each: verify, stats and export exit, never by a signal")
    func bitFlips() throws {
        let dir = try TemporaryDirectory()
        let events = dir.path + "/events.ndjson"
        let generated = try run(["generate", "--events", "1500", "--seed", "7"])
        try generated.stdout.write(toFile: events, atomically: false, encoding: .utf8)
        let base = dir.path + "/base"
        #expect(try run(["import", events, "--data", base]).status == 0)
        // A replay writes the checkpoint again, leaving freed pages: the free list can be hit too.
        #expect(try run(["replay", "--data", base]).status == 0)
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: base + "/data.mdb")))
        #expect(original.count >= 40 * 4096)

        let root = dir.path
        let copies = 200, bits = 5
        let commands = ["verify", "stats", "export"]
        let endings = Mutex<[Int: Ending]>([:])
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            for seed in stride(from: worker, to: copies, by: 4) {
                var rng = SplitMix(state: UInt64(seed))
                var bytes = original
                var flipped: [String] = []
                for _ in 0..<bits {
                    let i = Int(rng.next() % UInt64(bytes.count))
                    let bit = Int(rng.next() % 8)
                    bytes[i] ^= 1 << UInt8(bit)
                    flipped.append("page \(i / 4096) byte \(i % 4096) bit \(bit)")
                }
                let copy = root + "/copy-\(seed)"
                do {
                    try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: false)
                    try Data(bytes).write(to: URL(fileURLWithPath: copy + "/data.mdb"))
                    let command = commands[seed % commands.count]
                    let e = try ending([command, "--data", copy])
                    endings.withLock { $0[seed] = e }
                    if case .exited(let s) = e, s == 0 || s == 3 {
                        try FileManager.default.removeItem(atPath: copy)
                    } else {
                        failures.withLock { $0.append("seed \(seed), \(command): \(e) after flipping \(flipped.joined(separator: ", ")) (copy kept in \(copy))") }
                    }
                } catch {
                    failures.withLock { $0.append("seed \(seed): \(error)") }
                }
            }
        }
        let all = endings.withLock { $0 }
        #expect(all.count == copies)
        #expect(failures.withLock { $0 } == [])
        // The damage was seen: most copies are refused as corrupt (exit 3).
        let refused = all.values.filter { $0 == .exited(3) }.count
        #expect(refused >= copies / 2, "\(refused) of \(copies) refused")
    }

    @Test("a replay of a store with a changed record fails in stats; the daemon keeps answering from its projections")
    func replayOfDamagedStore() throws {
        let daemon = try RunningDaemon()
        let events = (1...40).map { i in
            #"{"id":"e\#(i)","type":"chat","subject":"p\#(i % 4)","at":\#(1_767_225_600_000 + i),"concern":"concern-\#(i)-zzzz"}"#
        }
        let appended = try daemon.ask(#"{"op":"append","events":[\#(events.joined(separator: ","))]}"#)
        #expect(appended["ok"]?.boolValue == true)
        let before = try daemon.client.request(#"{"op":"patient","id":"p1","as_of":1767225700000}"#)
        #expect(before.contains(#""ok":true"#))
        // Change one letter of event e21's concern in the file (the daemon's map shows it).
        let path = daemon.directory.path + "/data.mdb"
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let needle = Array("concern-21-zzzz".utf8)
        let at = try #require((0...(bytes.count - needle.count)).first { bytes[$0..<$0 + needle.count].elementsEqual(needle) })
        let fd = open(path, O_WRONLY)
        #expect(fd >= 0)
        bytes[at + 11] = UInt8(ascii: "y")
        #expect(pwrite(fd, &bytes[at + 11], 1, off_t(at + 11)) == 1)
        close(fd)

        let replay = try daemon.ask(#"{"op":"replay"}"#)
        #expect(replay["ok"]?.boolValue == true)
        let failed = eventually(timeout: .seconds(20)) {
            guard let stats = try? daemon.ask(#"{"op":"stats"}"#), let f = stats["last_rebuild_failure"]?.stringValue else { return false }
            return f.contains("corrupt") && f.contains("position 21") && f.contains("checksum mismatch")
        }
        #expect(failed, "stats: \((try? daemon.client.request(#"{"op":"stats"}"#)) ?? "")")
        // The projections from before the replay still answer, unchanged.
        #expect(try daemon.client.request(#"{"op":"patient","id":"p1","as_of":1767225700000}"#) == before)
        // A subscription from 21 is refused with corrupt at that position and closed, never
        // sent the changed event.
        let subscriber = try daemon.connect()
        #expect(try subscriber.request(#"{"op":"subscribe","from":21}"#) == #"{"ok":true,"subscribed":21}"#)
        let refusal = try JSONParser.parse(Array(try subscriber.receive().utf8))
        #expect(refusal["error"]?["code"]?.stringValue == "corrupt")
        #expect(refusal["error"]?["message"]?.stringValue?.hasPrefix("corrupt: record at position 21: checksum mismatch") == true)
        #expect(throws: ClientError.self) { _ = try subscriber.receive() }
        // Reading the record answers corrupt, never the changed event.
        let verify = try daemon.engine.log.verify()
        #expect(verify.problems.map(\.position) == [21])
    }
}
