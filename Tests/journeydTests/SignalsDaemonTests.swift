import Foundation
import Glibc
import JourneyClient
import JourneyCore
import JourneyProtocol
import JourneyStore
import Testing
@testable import journeyd

// `signals` and `ack` through the socket: the typed client, acknowledgements across
// reconnects, `stats`, refusals, and a consumer that stops reading.

private let day: Int64 = 86_400_000
private let t0: Int64 = 1_767_225_600_000  // 2026-01-01T00:00:00Z

/// A daemon on a fresh store whose signals are evaluated at a clock 30 days after `t0`.
private final class SignalsFixture {
    let directory: TemporaryDirectory
    let engine: JourneyEngine
    let daemon: Daemon

    init(config: ServerConfig = ServerConfig(), stallTimeout: Duration = .seconds(10)) throws {
        directory = try TemporaryDirectory()
        engine = try JourneyEngine(directory: directory.path, durability: .relaxed, clock: ManualClock(t0 + 30 * day))
        daemon = Daemon(engine: engine, socketPath: directory.socketPath, subscriberStallTimeout: stallTimeout)
        try daemon.start(config: config)
    }

    func client() throws -> JourneyClient {
        try JourneyClient(dataDirectory: directory.path, timeout: .seconds(10))
    }

    deinit { try? daemon.stop() }
}

/// A cancellation of patient `subject` at `t0`: 30 days later, `cancelled_not_rebooked` holds.
private func cancellation(_ subject: String) -> Event {
    Event(id: "c-\(subject)", type: .cancellation, subject: subject, at: t0)
}

@Suite("Signals through the daemon", .serialized)
struct SignalsDaemonTests {
    @Test func aConsumerReadsAcknowledgesAndResumesAfterItsAck() async throws {
        let f = try SignalsFixture()
        let client = try f.client()
        _ = try await client.append([cancellation("a"), cancellation("b"), cancellation("c")])
        f.engine.settleSignals()
        let signals = client.signals(consumer: "outreach")
        var it = signals.makeAsyncIterator()
        let first = try #require(try await it.next())
        #expect(first.seq == 1 && first.patient == "a" && first.kind == .riskEntered && first.risk == .cancelledNotRebooked)
        #expect(first.at == t0 + 14 * day && first.stage == .prospect && first.contactable == [])
        #expect(try await signals.ack(1) == 1)
        // An acknowledgement never moves back.
        #expect(try await client.ack(consumer: "outreach", seq: 1) == 1)
        let stats = try await client.stats()
        #expect(stats.lastSignalSeq == 3)
        #expect(stats.consumers.map { "\($0.name) \($0.acked) \($0.lag)" } == ["outreach 1 2"])

        // A new stream (another connection) starts after the acknowledged seq, then follows.
        var again = client.signals(consumer: "outreach").makeAsyncIterator()
        #expect(try await again.next()?.seq == 2)
        #expect(try await again.next()?.seq == 3)
        _ = try await client.append([cancellation("d")])
        let live = try #require(try await again.next())
        #expect(live.seq == 4 && live.patient == "d")
        // `from` reads again from any seq.
        var replay = client.signals(consumer: "outreach", from: 0).makeAsyncIterator()
        #expect(try await replay.next()?.seq == 1)
    }

    @Test func badRequestsAreRefusedWithTheirReason() throws {
        let f = try SignalsFixture()
        let c = try JourneyConnection(socketPath: f.directory.socketPath, timeout: .seconds(5))
        defer { c.close() }
        #expect(try c.request(#"{"op":"signals"}"#).contains(#""code":"bad_request""#))
        #expect(try c.request(#"{"op":"signals","consumer":""}"#).contains(#""code":"bad_request""#))
        #expect(try c.request(#"{"op":"ack","consumer":"nobody","seq":1}"#).contains(#""code":"not_found""#))
        #expect(try c.request(#"{"op":"ack","consumer":"x"}"#).contains(#""code":"bad_request""#))
        // A consumer exists once it read; a seq past the latest signal is refused.
        let opened = try JourneyConnection(socketPath: f.directory.socketPath, timeout: .seconds(5))
        defer { opened.close() }
        #expect(try opened.request(#"{"op":"signals","consumer":"x"}"#) == #"{"ok":true,"consumer":"x","after":0}"#)
        let refused = try c.request(#"{"op":"ack","consumer":"x","seq":5}"#)
        #expect(refused.contains(#""code":"bad_request""#) && refused.contains("the latest signal is 0"))
        #expect(try c.request(#"{"op":"ping"}"#) == #"{"ok":true}"#)
    }

    @Test func aConsumerThatStopsReadingIsCutOffAndSlowsNoAppend() async throws {
        let f = try SignalsFixture(config: ServerConfig(maxOutputBytes: 16 * 1024), stallTimeout: .milliseconds(200))
        let client = try f.client()
        // 3000 signals of about 150 bytes: far more than the output queue and the socket buffers hold.
        for batch in 0..<6 {
            _ = try await client.append((0..<500).map { cancellation("p\(batch)-\($0)") })
        }
        f.engine.settleSignals()
        let stalled = try JourneyConnection(socketPath: f.directory.socketPath, timeout: .seconds(5))
        defer { stalled.close() }
        try stalled.send(#"{"op":"signals","consumer":"stalled"}"#)  // and never read
        #expect(eventually { f.daemon.signalStreams.count == 1 })
        for round in 0..<20 {
            _ = try await client.append([cancellation("live\(round)")])
        }
        // Cut off after the stall timeout; its acknowledged seq did not move.
        #expect(eventually { f.daemon.signalStreams.count == 0 })
        #expect(try f.engine.log.signalConsumer("stalled")?.acked == 0)
        f.engine.settleSignals()
        #expect(try f.engine.log.lastSignalSeq() == 3020)
    }
}
