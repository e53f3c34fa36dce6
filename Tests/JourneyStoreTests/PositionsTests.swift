import JourneyCore
import JourneyStore
import Testing

@Suite("WritePipeline.positions()")
struct PositionsTests {
    @Test("a consumer sees the current position, then an append's, once it is folded")
    func appendIsSeen() async throws {
        let dir = StoreTestDirectory()
        let engine = try JourneyEngine(directory: dir.sub("s"), durability: .relaxed)
        _ = try await engine.append([storeEvent("a", "s1")])
        let positions = engine.writes.positions()
        let consumer = Task { () -> (first: Position, seen: Position, folded: Bool) in
            var first: Position?
            for await p in positions {
                if first == nil { first = p }
                // Folded by the time the position is seen: the query answers for the new subject.
                if p >= 2 { return (first!, p, try engine.patient(id: "s2", as: "test") != nil) }
            }
            return (first ?? 0, 0, false)
        }
        _ = try await engine.writes.append([storeEvent("b", "s2")])
        let (first, seen, folded) = try await consumer.value
        #expect(first == 1 || first == 2)
        #expect(seen == 2)
        #expect(folded)
    }

    @Test("a stalled consumer holds only the newest position, never a backlog")
    func stalledConsumerIsBounded() async throws {
        let dir = StoreTestDirectory()
        let engine = try JourneyEngine(directory: dir.sub("s"), durability: .relaxed)
        var positions = engine.writes.positions().makeAsyncIterator()
        // 200 commits while nobody reads: the stream keeps one value, the latest.
        for i in 0..<200 {
            _ = try await engine.append([storeEvent("e\(i)")])
        }
        #expect(await positions.next() == 200)
        _ = try await engine.append([storeEvent("last")])
        #expect(await positions.next() == 201)
    }

    @Test("an append's answer comes after its position is published, and positions only grow")
    func publishedBeforeTheAnswer() async throws {
        let dir = StoreTestDirectory()
        let engine = try JourneyEngine(directory: dir.sub("s"), durability: .relaxed)
        var positions = engine.writes.positions().makeAsyncIterator()
        #expect(await positions.next() == 0)
        var last: Position = 0
        for i in 0..<20 {
            let outcome = try await engine.append([storeEvent("e\(i)"), storeEvent("f\(i)")])
            let p = await positions.next()
            #expect(p == outcome[1].position)
            #expect(p! > last)
            last = p!
        }
        // A batch of duplicates moves nothing: the next value is the next real commit.
        _ = try await engine.append([storeEvent("e0")])
        _ = try await engine.append([storeEvent("g")])
        #expect(await positions.next() == last.next)
    }

    @Test("the stream ends when the engine is released")
    func endsWithTheEngine() async throws {
        let dir = StoreTestDirectory()
        var engine: JourneyEngine? = try JourneyEngine(directory: dir.sub("s"), durability: .relaxed)
        _ = try await engine!.append([storeEvent("a")])
        let positions = engine!.writes.positions()
        let consumer = Task {
            var seen: [Position] = []
            for await p in positions { seen.append(p) }
            return seen
        }
        engine = nil
        #expect(await consumer.value == [1])
    }

    @Test("a read-only engine yields the position as of the open")
    func readOnly() async throws {
        let dir = StoreTestDirectory()
        do {
            let writer = try JourneyEngine(directory: dir.sub("s"), durability: .relaxed)
            _ = try await writer.append([storeEvent("a"), storeEvent("b")])
        }
        let reader = try JourneyEngine(directory: dir.sub("s"), access: .readOnly)
        var positions = reader.writes.positions().makeAsyncIterator()
        #expect(await positions.next() == 2)
    }
}
