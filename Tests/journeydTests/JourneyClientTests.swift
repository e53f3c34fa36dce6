import Dispatch
import Foundation
import Glibc
import JourneyClient
import JourneyCore
import JourneyStore
import Synchronization
import Testing
@testable import journeyd

// The typed client (`JourneyClient`, `JourneySubscription`) against an in-process daemon, and
// the daemon's subscription pump under backpressure.

/// A daemon on a fresh store; stopped at the end.
private final class ClientFixture {
    let directory: TemporaryDirectory
    let engine: JourneyEngine
    let daemon: Daemon
    private var stopped = false

    init(config: ServerConfig = ServerConfig(), stallTimeout: Duration = .seconds(10)) throws {
        directory = try TemporaryDirectory()
        engine = try JourneyEngine(directory: directory.path)
        daemon = Daemon(engine: engine, socketPath: directory.socketPath, subscriberStallTimeout: stallTimeout)
        try daemon.start(config: config)
    }

    func client() throws -> JourneyClient {
        try JourneyClient(dataDirectory: directory.path, timeout: .seconds(10))
    }

    func stop() throws {
        guard !stopped else { return }
        stopped = true
        try daemon.stop()
    }

    deinit {
        try? stop()
    }
}

/// The first seven events of the daemon tests' practice (`journey`): anon1 (web visitor, form)
/// identified as p1, who booked a1 for March 10; p2 chatted and booked/cancelled a2.
private let practice = Array(journey.prefix(7))

private func events(_ lines: [String]) throws -> [Event] {
    try lines.map { try EventParser.parse($0) }
}

private func ms(_ rfc3339: String) -> Int64 { Timestamp.parse(rfc3339)! }

/// `count` web visits with ids `prefix-0`, `prefix-1`, …
private func visits(_ prefix: String, _ count: Int, subject: String = "visitor") -> [Event] {
    (0..<count).map { i in
        Event(id: "\(prefix)-\(i)", type: .webVisit, subject: subject, at: 1_767_225_600_000 + Int64(i),
              source: "newsletter", campaign: "spring-recall")
    }
}

/// Polls `body` until it holds, sleeping between tries (off the cooperative threads' backs).
private func eventually(timeout: Duration = .seconds(5), _ body: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if body() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return body()
}

@Suite(.serialized)
struct JourneyClientTests {
    init() {
        signal(SIGPIPE, SIG_IGN)
    }

    // MARK: append

    @Test func appendAnswersPositionsOnceCommitted() async throws {
        let f = try ClientFixture()
        let client = try f.client()
        let outcomes = try await client.append(try events(Array(practice.prefix(3))))
        #expect(outcomes == [.appended(1), .appended(2), .appended(3)])
        // Acknowledged means committed and folded: the store and the projections have them.
        #expect(try f.engine.log.stats().events == 3)
        #expect(try f.engine.patient(id: "p1", as: "test")?.aliases == ["anon1"])

        // e1 again (its time as epoch ms: the same content), and a new event.
        var again = try events([practice[0], practice[3]])
        again[0].at = 1_767_261_600_000
        #expect(try await client.append(again) == [.duplicate(1), .appended(4)])
        #expect(try await client.append([]) == [])
        let stats = try await client.stats()
        #expect(stats.events == 4)
        #expect(stats.lastPosition == 4)
        #expect(stats.projectedPosition == 4)
        #expect(stats.clusters == 1)
        #expect(stats.rebuilding == nil)
        try await client.ping()
    }

    @Test func pipelinedBatchesAreCommittedInOrderEachOnItsOwn() async throws {
        let f = try ClientFixture()
        let client = try f.client()
        var conflicting = try events([practice[0]])[0]
        conflicting.subject = "someone-else"
        // 40 batches of 2 visits, with a conflicting batch and an empty one among them.
        var batches = (0..<40).map { visits("v\($0)", 2, subject: "s\($0 % 3)") }
        batches.insert(try events([practice[0]]), at: 0)
        batches.insert([conflicting], at: 10)
        batches.insert([], at: 20)
        let results = try await client.append(batches: batches, window: 8)
        #expect(results.count == 43)
        #expect(try results[0].get() == [.appended(1)])
        #expect(throws: ClientError.self) { try results[10].get() }
        if case .failure(let e) = results[10] { #expect(e.code == .conflict) }
        #expect(try results[20].get() == [])
        // The visits, in the order sent, after e1: positions 2…81.
        var next: Position = 2
        for (i, r) in results.enumerated() where i != 0 && i != 10 && i != 20 {
            #expect(try r.get() == [.appended(next), .appended(next.next)], "batch \(i)")
            next = next.next.next
        }
        #expect(try f.engine.log.stats().events == 81)
        // The connection stays in step for the next request.
        #expect(try await client.append(batches: [visits("v0", 1, subject: "s0")]).map { try $0.get() } == [[.duplicate(2)]])
    }

    @Test func conflictsAndInvalidEventsAreTheDaemonsErrors() async throws {
        let f = try ClientFixture()
        let client = try f.client()
        _ = try await client.append(try events(practice))

        // A new event and one reusing e1's id with other content: nothing of the batch is stored.
        var conflicting = try events([practice[0]])[0]
        conflicting.subject = "someone-else"
        do {
            _ = try await client.append(visits("new", 1) + [conflicting])
            Issue.record("a conflicting id must fail the batch")
        } catch {
            #expect(error.code == .conflict)
            #expect(error.isDaemonError)
            #expect(error.message.contains("e1"), "message: \(error.message)")
        }

        // An event the daemon's validation refuses (a 65-character id), named by index and field.
        let tooLong = Event(id: String(repeating: "x", count: 65), type: .call, subject: "p9", at: 0)
        do {
            _ = try await client.append(visits("ok", 1) + [tooLong])
            Issue.record("an over-long id must be refused")
        } catch {
            #expect(error.code == .invalidEvent)
            #expect(error.message.contains("event 1"), "message: \(error.message)")
            #expect(error.message.contains("\"id\""), "message: \(error.message)")
            #expect(error.detail?["code"]?.stringValue == "invalid_event")
        }
        #expect(try await client.stats().events == Int64(practice.count))
        // The connection stays usable after refusals.
        #expect(try await client.append(visits("after", 1)) == [.appended(Position(UInt64(practice.count) + 1))])
    }

    // MARK: queries

    @Test func patientDecodesTheDaemonsAnswer() async throws {
        let f = try ClientFixture()
        let client = try f.client()
        _ = try await client.append(try events(practice))
        let asOf = ms("2026-02-01T00:00:00Z")

        let state = try await client.patient(id: "anon1", asOf: asOf)
        #expect(state.patient == "p1")
        #expect(state.aliases == ["anon1"])
        #expect(state.asOf == asOf)
        #expect(state.stage == .booked)
        #expect(state.risk == [])
        #expect(state.firstTouch?.at == ms("2026-01-01T10:00:00Z"))
        #expect(state.firstTouch?.type == .webVisit)
        #expect(state.firstTouch?.source == "google")
        #expect(state.firstTouch?.medium == nil)
        #expect(state.acquisitionChannel == .web)
        #expect(state.lastTouch?.type == .booking)
        #expect(state.lastTouch?.at == ms("2026-01-02T09:10:00Z"))
        #expect(state.inquiries == 1)
        #expect(state.bookings == 1)
        #expect(state.visits == 0)
        #expect(state.counts[Int(EventType.identify.rawValue)] == 1)
        #expect(state.channels[Int(Channel.web.rawValue)] == 3)
        #expect(state.lifetimeValueCents == 0)
        #expect(state.openRate == nil)
        #expect(state.referredBy == nil)
        // Field for field what the engine computes in process.
        #expect(try state == f.engine.patient(id: "p1", asOf: asOf, as: "test"))

        // p2 cancelled a2 on Jan 4 and never rebooked: at risk from Jan 18.
        let p2 = try await client.patient(id: "p2", asOf: ms("2026-01-18T00:00:00Z"))
        #expect(p2.risk == [.cancelledNotRebooked])
        #expect(p2.cancellations == 1)
    }

    @Test func handoffDecodesTheDaemonsAnswer() async throws {
        let f = try ClientFixture()
        let client = try f.client()
        _ = try await client.append(try events(practice))
        let asOf = ms("2026-02-01T00:00:00Z")

        let h = try await client.handoff(id: "p1", asOf: asOf)
        #expect(h.patient == "p1")
        #expect(h.aliases == ["anon1"])
        #expect(h.stage == .booked)
        #expect(h.acquisitionChannel == .web)
        #expect(h.eligibility == "unknown")
        #expect(h.conversation == "c1")
        #expect(h.conversationStatus == "open")
        #expect(h.concern == "toothache")
        #expect(h.channels == [.web])
        #expect(h.contacts == 1)
        #expect(h.lastAgent == nil)
        #expect(h.handoffs == 0)
        #expect(h.upcoming?.appointment == "a1")
        #expect(h.upcoming?.scheduledFor == ms("2026-03-10T15:00:00Z"))
        #expect(h.upcoming?.location == nil)
        // Touches newest first (the identify is not one).
        #expect(h.recent.map(\.type) == [.booking, .form, .webVisit])
        #expect(h.recent.map(\.at) == [ms("2026-01-02T09:10:00Z"), ms("2026-01-01T10:05:00Z"), ms("2026-01-01T10:00:00Z")])
        #expect(h.recent[1].concern == "toothache")
        #expect(try h == f.engine.handoff(id: "anon1", asOf: asOf, as: "test"))

        // After the appointment's time it is no longer upcoming; p2's chat resolved c2.
        #expect(try await client.handoff(id: "anon1", asOf: ms("2026-03-11T00:00:00Z")).upcoming == nil)
        let h2 = try await client.handoff(id: "p2", asOf: asOf)
        #expect(h2.conversationStatus == "resolved")
        #expect(h2.upcoming == nil)
    }

    @Test func unknownIdIsNotFound() async throws {
        let f = try ClientFixture()
        let client = try f.client()
        _ = try await client.append(try events(practice))
        do {
            _ = try await client.patient(id: "nobody")
            Issue.record("an id never seen must be not_found")
        } catch {
            #expect(error.code == .notFound)
            #expect(error.isDaemonError)
            #expect(error.message.contains("nobody"))
        }
        do {
            _ = try await client.handoff(id: "nobody", asOf: 0)
            Issue.record("an id never seen must be not_found")
        } catch {
            #expect(error.code == .notFound)
        }
        try await client.ping()
    }

    // MARK: connections

    @Test func noDaemonIsNotRunning() throws {
        let directory = try TemporaryDirectory()
        #expect(JourneyClient.socketPath(dataDirectory: directory.path + "/") == directory.socketPath)
        do {
            _ = try JourneyClient(dataDirectory: directory.path)
            Issue.record("nothing listens there")
        } catch {
            #expect(error.code == .notRunning)
            #expect(!error.isDaemonError)
        }
    }

    @Test func aClosedClientRefusesAndARestartedDaemonIsReconnected() async throws {
        let f = try ClientFixture()
        let client = try JourneyClient(socketPath: f.directory.socketPath, timeout: .seconds(10))
        #expect(try await client.append(visits("v", 2)) == [.appended(1), .appended(2)])

        // Another daemon takes the socket: the idle connection the first one closed is replaced
        // before the next request.
        try f.stop()
        let other = try TemporaryDirectory()
        let second = Daemon(engine: try JourneyEngine(directory: other.path), socketPath: f.directory.socketPath)
        try second.start(config: ServerConfig())
        defer { try? second.stop() }
        #expect(try await client.append(visits("v", 3)) == [.appended(1), .appended(2), .appended(3)])

        client.close()
        do {
            try await client.ping()
            Issue.record("a closed client must refuse requests")
        } catch {
            #expect(error.code == .connectionClosed)
        }
    }

    @Test func cancellingARequestInFlightEndsItAndTheNextReconnects() async throws {
        // A server that never answers "hang" requests and answers everything else `{"ok":true}`.
        struct Hanging: RequestHandler {
            func handle(line: [UInt8], connection: ServerConnection) {
                if String(decoding: line, as: UTF8.self).contains("hang") { return }
                connection.send(Array(#"{"ok":true}"#.utf8))
            }
        }
        let directory = try TemporaryDirectory()
        let server = UnixSocketServer(path: directory.socketPath, config: ServerConfig(), handler: Hanging())
        try server.start()
        defer { server.stop() }
        let client = try JourneyClient(socketPath: directory.socketPath, timeout: .seconds(30))
        let stuck = Task { try await client.request(.object([JSONMember("op", .string("hang"))])) }
        try await Task.sleep(for: .milliseconds(50))
        stuck.cancel()
        do {
            _ = try await stuck.value
            Issue.record("the hanging request must end when its task is cancelled")
        } catch let error as ClientError {
            #expect(error.code == .cancelled)
        }
        try await client.ping()
    }

    // MARK: subscribe

    @Test func subscribeCatchesUpThenFollowsWithoutGapsOrRepeats() async throws {
        let f = try ClientFixture()
        let client = try f.client()
        _ = try await client.append(visits("a", 5))

        var received: [(position: Position, event: Event)] = []
        var subscription = client.subscribe(from: 1).makeAsyncIterator()
        for _ in 0..<5 {
            received.append(try #require(try await subscription.next()))
        }
        // Live: appended while subscribed, from another connection, in three batches.
        let writer = try f.client()
        _ = try await writer.append(visits("b", 3))
        _ = try await writer.append(visits("c", 1))
        _ = try await writer.append(visits("d", 4))
        for _ in 0..<8 {
            received.append(try #require(try await subscription.next()))
        }
        #expect(received.map(\.position.rawValue) == Array(1...13))
        let ids = ["a-0", "a-1", "a-2", "a-3", "a-4", "b-0", "b-1", "b-2", "c-0", "d-0", "d-1", "d-2", "d-3"]
        #expect(received.map(\.event.id) == ids)
        #expect(received[0].event == visits("a", 1)[0])
        // Nothing repeated or held back: the next one is exactly the next append.
        _ = try await writer.append(visits("e", 1))
        let next = try #require(try await subscription.next())
        #expect(next.position == 14)
        #expect(next.event.id == "e-0")

        // From the middle, and from beyond the end (it waits for that position).
        var middle = client.subscribe(from: 13).makeAsyncIterator()
        #expect(try await middle.next()?.event.id == "d-3")
        #expect(try await middle.next()?.event.id == "e-0")
        var ahead = client.subscribe(from: 16).makeAsyncIterator()
        _ = try await writer.append(visits("f", 2))
        #expect(try await ahead.next()?.position == 16)
    }

    @Test func aRefusedSubscriptionThrowsTheDaemonsError() async throws {
        let f = try ClientFixture()
        let client = try f.client()
        var subscription = client.subscribe(from: 0).makeAsyncIterator()
        do {
            _ = try await subscription.next()
            Issue.record("from 0 is not a position")
        } catch {
            #expect(error.code == .badRequest)
        }
    }

    @Test func cancellingTheSubscribingTaskClosesTheConnection() async throws {
        let f = try ClientFixture()
        let client = try f.client()
        _ = try await client.append(visits("a", 3))
        let seen = Mutex(0)
        let task = Task {
            for try await _ in client.subscribe(from: 1) {
                seen.withLock { $0 += 1 }
            }
        }
        #expect(await eventually { seen.withLock { $0 } == 3 && f.daemon.subscriptions.count == 1 })
        task.cancel()
        try await task.value  // ends without an error
        #expect(await eventually { f.daemon.subscriptions.count == 0 })

        // Leaving the loop closes it too.
        for try await (position, _) in client.subscribe(from: 2) {
            #expect(position == 2)
            break
        }
        #expect(await eventually { f.daemon.subscriptions.count == 0 })
    }

    @Test func theDaemonStoppingEndsTheSubscriptionWithAnError() async throws {
        let f = try ClientFixture()
        let client = try f.client()
        _ = try await client.append(visits("a", 1))
        var subscription = client.subscribe(from: 1).makeAsyncIterator()
        #expect(try await subscription.next()?.position == 1)
        try f.stop()
        do {
            _ = try await subscription.next()
            Issue.record("the subscription must report that the daemon went away")
        } catch {
            #expect(error.code == .connectionClosed)
        }
    }

    // MARK: the daemon's pump under backpressure

    @Test func backlogLargerThanTheOutputCapArrivesInOrder() async throws {
        // 2000 events of about 190 bytes through a 16 KiB output queue and a 64-event client buffer.
        let f = try ClientFixture(config: ServerConfig(maxOutputBytes: 16 * 1024))
        let client = try f.client()
        for batch in 0..<4 {
            _ = try await client.append(visits("b\(batch)", 500))
        }
        var count: UInt64 = 0
        var inOrder = true
        for try await (position, event) in client.subscribe(from: 1, buffer: 64) {
            count += 1
            let expected = "b\((count - 1) / 500)-\((count - 1) % 500)"
            if position.rawValue != count || event.id != expected { inOrder = false }
            if count == 2000 { break }
        }
        #expect(count == 2000)
        #expect(inOrder)
    }

    @Test func aSubscriberThatStopsReadingIsDisconnectedAndSlowsNobody() async throws {
        let f = try ClientFixture(config: ServerConfig(maxOutputBytes: 16 * 1024), stallTimeout: .milliseconds(200))
        let client = try f.client()
        // Far more than the output queue and the kernel's socket buffers hold.
        for batch in 0..<6 {
            _ = try await client.append(visits("b\(batch)", 500))
        }
        let stalled = try JourneyConnection(socketPath: f.directory.socketPath, timeout: .seconds(5))
        defer { stalled.close() }
        try stalled.send(#"{"op":"subscribe","from":1}"#)  // and never read
        #expect(await eventually { f.daemon.subscriptions.count == 1 })

        // Appends and their subscribers go on while it is stuck.
        let follower = try f.client()
        var live = follower.subscribe(from: 3001).makeAsyncIterator()
        for round in 0..<20 {
            #expect(try await client.append(visits("live\(round)", 1)) == [.appended(Position(UInt64(3001 + round)))])
            #expect(try await live.next()?.event.id == "live\(round)-0")
        }
        #expect(await eventually { f.daemon.subscriptions.count == 1 })
        // The stalled one was cut off; the follower is still subscribed.
        var sawEnd = false
        for _ in 0..<20_000 {
            do {
                _ = try stalled.receive()
            } catch {
                #expect(error.code == .connectionClosed)
                sawEnd = true
                break
            }
        }
        #expect(sawEnd)
    }
}
