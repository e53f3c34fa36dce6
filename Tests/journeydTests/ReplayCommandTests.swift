import Foundation
import Glibc
import Testing

// `journeyd replay` rebuilds the projections without restoring the checkpoint first, saves the
// new checkpoint while the signals are evaluated, and exits without releasing its memory: the
// store answers the same afterwards, and a replay killed at any moment leaves a store that
// reopens to the same answers.
@Suite("journeyd replay", .enabled(if: journeydBinary != nil))
struct ReplayCommandTests {
    /// A store of `lines` lines of the field shape (re-sent events, both time forms) in `dir`.
    private func store(_ dir: TemporaryDirectory, lines: Int) throws -> String {
        let events = dir.path + "/events.ndjson"
        let generated = try run(["generate", "--events", "\(lines)", "--seed", "3", "--shape", "field"])
        try generated.stdout.write(toFile: events, atomically: false, encoding: .utf8)
        let data = dir.path + "/store"
        let imported = try run(["import", events, "--data", data])
        #expect(imported.status == 0, "\(imported.stderr)")
        return data
    }

    /// What the store answers: the funnel, the sizes, and the signals a fresh consumer reads.
    private func answers(_ data: String) throws -> [String] {
        let funnel = try run(["funnel", "--json", "--data", data])
        let stats = try run(["stats", "--json", "--data", data])
        let signals = try run(["signals", "--consumer", "replay-test", "--data", data])
        #expect(funnel.status == 0 && stats.status == 0 && signals.status == 0, "\(funnel.stderr) \(stats.stderr) \(signals.stderr)")
        // The counts only (stats also names the file's size, which a checkpoint changes).
        let figures = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any] ?? [:]
        let counts = ["events", "projected_position", "clusters", "last_signal_seq"].map { "\(figures[$0] ?? "?")" }
        return [funnel.stdout, counts.joined(separator: " "), signals.stdout]
    }

    @Test func aReplayAnswersAsTheStoreDidAndRaisesNoSignalAgain() throws {
        let dir = try TemporaryDirectory()
        let data = try store(dir, lines: 3000)
        let before = try answers(data)
        #expect(!before[2].isEmpty, "the practice raises signals")
        let replay = try run(["replay", "--data", data])
        #expect(replay.status == 0, "\(replay.stderr)")
        // 3000 lines of which some are re-sent: fewer events than lines.
        let replayed = replay.stdout.split(separator: " ")
        #expect(replayed.first == "replayed")
        if replayed.count > 1, let n = Int(replayed[1]) { #expect(n < 3000 && n > 2900, "\(n)") }
        #expect(try answers(data) == before)
        #expect(try run(["verify", "--data", data]).status == 0)
    }

    @Test func aReplayKilledAtAnyMomentLeavesTheStoreAsItWas() throws {
        let dir = try TemporaryDirectory()
        let data = try store(dir, lines: 20_000)
        let before = try answers(data)
        // From before the open to after the checkpoint (a debug build replays 20,000 events in
        // a few hundred milliseconds).
        for delayMs in [0, 3, 10, 30, 60, 100, 150, 250, 400, 700] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: journeydBinary!)
            p.arguments = ["replay", "--data", data]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            usleep(UInt32(delayMs * 1000))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            #expect(try answers(data) == before, "killed after \(delayMs) ms")
        }
        #expect(try run(["verify", "--data", data]).status == 0)
    }
}
