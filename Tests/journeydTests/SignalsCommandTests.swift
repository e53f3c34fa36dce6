import Dispatch
import Foundation
import Glibc
import JourneyClient
import JourneyCore
import Synchronization
import Testing

// `journeyd signals` of the built binary, from the store itself and through a serving daemon:
// readable lines and `--json`, `--ack` persisting, `--from`, `--follow` receiving a live signal
// until it is stopped.

private let day: Int64 = 86_400_000

/// Events dated from the wall clock at `now` (the command evaluates at the wall clock):
/// `c1`…`c3` cancelled 30 days ago (`cancelled_not_rebooked` from 16 days ago on), `c2` also
/// granted `sms` consent, `r1` cancelled and booked again (no risk).
private struct CommandPractice {
    let now = Int64(Date().timeIntervalSince1970 * 1000)

    var events: [String] {
        (1...3).map { i in #"{"id":"cx\#(i)","type":"cancellation","subject":"c\#(i)","at":\#(now - 30 * day)}"# } + [
            #"{"id":"cs2","type":"consent","subject":"c2","at":\#(now - 29 * day),"channel":"sms","status":"granted"}"#,
            #"{"id":"rx1","type":"cancellation","subject":"r1","at":\#(now - 30 * day)}"#,
            #"{"id":"rb1","type":"booking","subject":"r1","at":\#(now - 20 * day)}"#,
        ]
    }

    /// A cancellation of `subject` 20 days ago: at risk from 6 days ago on.
    func later(_ subject: String) -> String {
        #"{"id":"cx-\#(subject)","type":"cancellation","subject":"\#(subject)","at":\#(now - 20 * day)}"#
    }

    /// The readable line of signal `seq` for `patient`, entered `daysAgo` days ago.
    func line(_ seq: Int, _ patient: String, daysAgo: Int64, contactable: String = "-") -> String {
        "\(seq)  \(Timestamp.format(ms: now - daysAgo * day))  risk_entered  \(patient)  cancelled_not_rebooked  stage=prospect  contactable=\(contactable)"
    }

    /// The three signals the events raise, as lines.
    var lines: [String] {
        [line(1, "c1", daysAgo: 16), line(2, "c2", daysAgo: 16, contactable: "sms"), line(3, "c3", daysAgo: 16)]
    }
}

private func splitLines(_ s: String) -> [String] {
    s.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
}

/// A running `journeyd signals --follow`, its output gathered as it comes.
private final class FollowProcess {
    let process = Process()
    private final class Gathered: Sendable {
        let bytes = Mutex<[UInt8]>([])
    }
    private let output = Gathered()
    private let reading = DispatchGroup()

    init(_ args: [String]) throws {
        process.executableURL = URL(fileURLWithPath: journeydBinary!)
        process.arguments = args
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let handle = out.fileHandleForReading
        reading.enter()
        DispatchQueue.global().async { [output, reading] in
            // Whatever the pipe holds, as it comes; empty at its end.
            while case let d = handle.availableData, !d.isEmpty {
                output.bytes.withLock { $0.append(contentsOf: d) }
            }
            reading.leave()
        }
    }

    var lines: [String] { output.bytes.withLock { splitLines(String(decoding: $0, as: UTF8.self)) } }

    /// Waits until `count` lines were printed.
    func waitForLines(_ count: Int) -> Bool {
        eventually(timeout: .seconds(10)) { self.lines.count >= count }
    }

    /// Sends `sig`; whether the process ended within 5 s (its output then read to the end).
    func stop(_ sig: Int32) -> Bool {
        kill(process.processIdentifier, sig)
        guard waitForExit(process, timeout: .seconds(5)) else { return false }
        reading.wait()
        return true
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

@Suite("journeyd signals", .serialized, binaryNeeded)
struct SignalsCommandTests {
    init() {
        signal(SIGPIPE, SIG_IGN)
    }

    @Test func fromTheStoreItself() throws {
        let dir = try TemporaryDirectory()
        let data = dir.path + "/data"
        let p = CommandPractice()
        let file = dir.path + "/events.ndjson"
        try (p.events.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try run(["import", file, "--data", data]).status == 0)

        // Readable lines; nothing acknowledged, so a second run prints the same.
        let first = try run(["signals", "--consumer", "outreach", "--data", data])
        #expect(first.status == 0)
        #expect(splitLines(first.stdout) == p.lines)
        #expect(splitLines(try run(["signals", "--consumer", "outreach", "--data", data]).stdout) == p.lines)

        // --json: the signal objects.
        let json = try run(["signals", "--consumer", "outreach", "--json", "--data", data])
        #expect(json.status == 0)
        let objects = try splitLines(json.stdout).map(parse)
        #expect(objects.map { $0["seq"]?.int64Value } == [1, 2, 3])
        #expect(objects.map { $0["patient"]?.stringValue } == ["c1", "c2", "c3"])
        #expect(objects.allSatisfy { $0["signal"]?.stringValue == "risk_entered" && $0["risk"]?.stringValue == "cancelled_not_rebooked" })
        #expect(objects.map { $0["at"]?.stringValue } == Array(repeating: Timestamp.format(ms: p.now - 16 * day), count: 3))
        #expect(objects.map { strings($0["contactable"]) } == [[], ["sms"], []])

        // --from reads after any seq, without moving the consumer.
        #expect(splitLines(try run(["signals", "--consumer", "outreach", "--from", "1", "--data", data]).stdout) == Array(p.lines.dropFirst()))
        #expect(try run(["signals", "--consumer", "outreach", "--from", "3", "--data", data]).stdout == "")

        // --ack persists: the next run of that consumer starts after seq 3; another consumer does not.
        #expect(splitLines(try run(["signals", "--consumer", "outreach", "--ack", "--data", data]).stdout) == p.lines)
        let after = try run(["signals", "--consumer", "outreach", "--data", data])
        #expect(after.status == 0 && after.stdout == "")
        #expect(splitLines(try run(["signals", "--consumer", "billing", "--data", data]).stdout) == p.lines)
        let stats = try parse(try run(["stats", "--json", "--data", data]).stdout)
        #expect((stats["consumers"]?.arrayValue ?? []).map { "\($0["name"]?.stringValue ?? "") \($0["acked"]?.int64Value ?? -1)" }
                == ["billing 0", "outreach 3"])

        // Bad flags are refused and change nothing.
        let missing = try run(["signals", "--data", data])
        #expect(missing.status != 0 && missing.stderr.contains("--consumer NAME is required"))
        let negative = try run(["signals", "--consumer", "outreach", "--from", "-1", "--data", data])
        #expect(negative.status != 0 && negative.stderr.contains("--from"))

        // --follow prints what is stored and keeps running until stopped.
        let follow = try FollowProcess(["signals", "--consumer", "billing", "--follow", "--data", data])
        #expect(follow.waitForLines(3))
        usleep(200_000)
        #expect(follow.process.isRunning)
        #expect(follow.stop(SIGINT))
        #expect(follow.process.terminationStatus == 0)
        #expect(follow.lines == p.lines)
    }

    @Test func throughTheDaemon() throws {
        let dir = try TemporaryDirectory()
        let p = CommandPractice()
        let serve = try ServeProcess(directory: dir.path)
        #expect(serve.waitUntilServing())
        let c = try JourneyConnection(socketPath: serve.socketPath, timeout: .seconds(5))
        defer { c.close() }
        #expect(ints(try parse(try c.request(appendRequest(p.events)))["positions"]) == [1, 2, 3, 4, 5, 6])
        #expect(eventually(timeout: .seconds(10)) {
            (try? parse(try c.request(#"{"op":"stats"}"#)))?["last_signal_seq"]?.int64Value == 3
        })

        let first = try run(["signals", "--consumer", "outreach", "--data", dir.path])
        #expect(first.status == 0)
        #expect(splitLines(first.stdout) == p.lines)
        let json = try run(["signals", "--consumer", "outreach", "--json", "--data", dir.path])
        #expect(try splitLines(json.stdout).map { try parse($0)["seq"]?.int64Value } == [1, 2, 3])
        #expect(splitLines(try run(["signals", "--consumer", "outreach", "--from", "2", "--data", dir.path]).stdout) == [p.lines[2]])

        // --ack through the daemon persists in its store.
        #expect(splitLines(try run(["signals", "--consumer", "outreach", "--ack", "--data", dir.path]).stdout) == p.lines)
        #expect(try run(["signals", "--consumer", "outreach", "--data", dir.path]).stdout == "")
        let stats = try parse(try c.request(#"{"op":"stats"}"#))
        #expect(stats["consumers"]?.arrayValue?.first?["acked"]?.int64Value == 3)

        // --follow --ack: the stored signals, then a live one, each acknowledged once printed.
        let follow = try FollowProcess(["signals", "--consumer", "live", "--follow", "--ack", "--data", dir.path])
        #expect(follow.waitForLines(3))
        #expect(ints(try parse(try c.request(appendRequest([p.later("c4")])))["positions"]) == [7])
        #expect(follow.waitForLines(4))
        #expect(follow.lines.last == p.line(4, "c4", daysAgo: 6))
        let acked = eventually(timeout: .seconds(5)) {
            let s = try? parse(try c.request(#"{"op":"stats"}"#))
            return (s?["consumers"]?.arrayValue ?? []).contains { $0["name"]?.stringValue == "live" && $0["acked"]?.int64Value == 4 }
        }
        #expect(acked)
        #expect(follow.stop(SIGTERM))
        #expect(follow.process.terminationStatus == 0)
        #expect(follow.lines == p.lines + [p.line(4, "c4", daysAgo: 6)])
        // The consumer that acknowledged resumes after 4; the one that did not sees only the new one.
        #expect(try run(["signals", "--consumer", "live", "--data", dir.path]).stdout == "")
        #expect(splitLines(try run(["signals", "--consumer", "outreach", "--data", dir.path]).stdout) == [p.line(4, "c4", daysAgo: 6)])
        #expect(serve.terminate(SIGTERM) == 0)
    }
}
