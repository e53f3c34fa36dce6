import Foundation
import JourneyCore
import JourneyStore
import Testing

// The code of the article "Embedding Journey" (Sources/JourneyStore/JourneyStore.docc/
// EmbeddingJourney.md), compiled and run here. A test checks that every Swift block of the
// article appears in this file, line for line (indentation aside), so the article cannot drift.

/// The manifest the article shows (not compiled: it belongs to the embedding service).
let embeddingManifest = """
    // swift-tools-version:6.0
    import PackageDescription

    let package = Package(
        name: "ClinicService",
        dependencies: [
            .package(url: "https://example.org/your-org/Journey.git", branch: "main"),
        ],
        targets: [
            .executableTarget(
                name: "ClinicService",
                dependencies: [
                    .product(name: "JourneyStore", package: "Journey"),
                    .product(name: "JourneyCore", package: "Journey"),
                ]
            ),
        ]
    )
    """

/// Opens the store for writing, or read-only beside the process that writes it.
func openForQueries(directory: String) throws -> JourneyEngine {
    do {
        return try JourneyEngine(directory: directory)
    } catch let error as StoreError where error.code == .storeBusy {
        // Another process (say journeyd) writes this store: `error.context.holder` names it, with
        // the socket it serves. Query beside it, and send writes through that socket.
        return try JourneyEngine(directory: directory, access: .readOnly)
    }
}

/// The article's blocking append, from a synchronous caller.
func appendCall(_ engine: JourneyEngine) throws -> [EventLog.AppendOutcome] {
    let call = try EventParser.parse(#"{"id":"call-1","type":"call","subject":"anon-7f3a","at":"2026-03-01T14:05:00Z","concern":"crown came loose"}"#)
    let outcomes = try engine.writes.append([call])  // durable and folded when it returns
    print(outcomes)                                   // [.appended(1)]; [.duplicate(1)] if sent again
    return outcomes
}

/// The article's `submit`.
func submitVisit(_ engine: JourneyEngine) {
    let visit = Event(id: "v-9", type: .visit, subject: "anon-7f3a", at: Timestamp.parse("2026-03-04T10:00:00Z")!,
                      appointment: "apt-9", amountCents: 18_050)
    engine.writes.submit([visit]) { result in
        switch result {
        case .success(let outcomes): print("stored at", outcomes.map(\.position))
        case .failure(let error): print("refused:", error)
        }
    }
}

/// The article's queries.
func query(_ engine: JourneyEngine) throws -> (JourneyState?, HandoffContext?, FunnelReport) {
    if let state = try engine.patient(id: "anon-7f3a", as: "front-desk") {
        print(state.stage.name, state.bookings, state.visits, state.lifetimeValueCents)
    }
    let context = try engine.handoff(id: "anon-7f3a", as: AuditContext(actor: "front-desk", reason: "callback"))
    print(context?.concern ?? "", context?.lastAgent ?? "")
    let funnel = try engine.funnel(FunnelQuery())  // touch → inquiry → booking → visit, 30 days
    for group in funnel.groups {
        print(group.value ?? "(none)", group.steps.map(\.count))
    }
    let weekly = try FunnelQuery(windowMs: 7 * 86_400_000, by: .source)
    print(try engine.funnel(weekly).json)
    return (try engine.patient(id: "anon-7f3a", as: "test"), context, funnel)
}

/// The article's error handling.
func appendConflicting(_ engine: JourneyEngine) throws {
    do {
        let other = Event(id: "call-1", type: .chat, subject: "anon-7f3a", at: 0)
        _ = try engine.writes.append([other])
    } catch {
        switch error.code {
        case .conflict: print("call-1 already names another event:", error.message)
        case .storeBusy, .readOnly: print("this process may not write the store:", error.message)
        default: throw error
        }
    }
}

/// The article's relaxed durability.
func bulkLoad(directory: String) throws -> UInt64 {
    let bulk = try JourneyEngine(directory: directory, durability: .relaxed)  // no fsync per commit
    _ = try bulk.writes.append([Event(id: "w-1", type: .webVisit, subject: "anon-9", at: 0)])
    try bulk.log.sync()  // now on disk
    return bulk.log.lastPosition
}

@Suite("The Embedding Journey article", .serialized)
struct EmbeddingArticleTests {
    @Test("its code opens a store, appends, queries and observes positions")
    func articleCodeRuns() async throws {
        let scratch = StoreTestDirectory()
        let directory = scratch.sub("journey")
        do {
            let engine = try JourneyEngine(directory: directory)  // opens or creates the store
            #expect(try appendCall(engine) == [.appended(1)])
            #expect(try appendCall(engine) == [.duplicate(1)])

            let booking = Event(
                id: "bk-9", type: .booking, subject: "anon-7f3a", at: Timestamp.parse("2026-03-01T14:20:00Z")!,
                appointment: "apt-9", scheduledFor: Timestamp.parse("2026-03-04T10:00:00Z")!)
            let stored = try await engine.writes.append([booking])  // suspends, blocks no thread
            #expect(stored == [.appended(2)])

            let positions = engine.writes.positions()
            let watcher = Task {
                for await position in positions {
                    let page = try engine.atRisk(as: "outreach")  // reflects every event up to `position`
                    print("position", position, page.patients.count, "at risk")
                    if position >= 3 { break }
                }
            }
            submitVisit(engine)
            try await watcher.value

            let (state, context, funnel) = try query(engine)
            #expect(state?.visits == 1)
            #expect(context?.stage == .active)
            #expect(funnel.groups.first?.steps.first?.count == 1)

            try appendConflicting(engine)
            #expect(engine.log.lastPosition == 3)

            do {
                _ = try engine.patient(id: "p-1", as: "front-desk")
            } catch let rebuilding as Rebuilding {
                print("rebuilding:", rebuilding.progress.done, "of", rebuilding.progress.total)
            }
        }
        do {
            let engine = try openForQueries(directory: directory)
            #expect(engine.log.access == .readWrite)
        }
        do {
            let reader = try JourneyEngine(directory: directory, access: .readOnly)
            print(try reader.contacts().json)
            #expect(reader.log.lastPosition == 3)
        }
        #expect(try bulkLoad(directory: directory) == 4)
    }

    @Test("every Swift block of the article is in this file")
    func articleShowsThisCode() throws {
        let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        let root = tests.deletingLastPathComponent().deletingLastPathComponent()
        let article = try String(
            contentsOf: root.appendingPathComponent("Sources/JourneyStore/JourneyStore.docc/EmbeddingJourney.md"),
            encoding: .utf8)
        let source = try String(contentsOfFile: #filePath, encoding: .utf8)
        let sourceLines = Self.trimmedLines(source)
        let blocks = Self.swiftBlocks(article)
        #expect(blocks.count >= 6)
        for block in blocks {
            let lines = Self.trimmedLines(block)
            let found = sourceLines.indices.contains { start in
                sourceLines[start...].starts(with: lines)
            }
            #expect(found, "EmbeddingJourney.md shows code that EmbeddingArticleTests.swift does not run:\n\(block)")
        }
    }

    /// The contents of the article's ```swift blocks.
    static func swiftBlocks(_ markdown: String) -> [String] {
        var blocks: [String] = []
        var current: [Substring]?
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line.trimmingCharacters(in: .whitespaces) == "```swift" {
                current = []
            } else if current != nil, line.trimmingCharacters(in: .whitespaces) == "```" {
                blocks.append(current!.joined(separator: "\n"))
                current = nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }

    /// The lines without their indentation, blank lines dropped.
    static func trimmedLines(_ text: String) -> [String] {
        text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
