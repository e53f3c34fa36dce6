import Foundation
import Glibc
import JourneyClient
import JourneyCore
import JourneyStore
import Testing
@testable import journeyd

// The README's "Sending events from a Swift service" example, compiled and run here; a test
// checks that the README shows exactly this code.

// README example begin
func recordCall(dataDirectory: String) async throws {
    let journey = try JourneyClient(dataDirectory: dataDirectory)  // DIR/journeyd.sock

    // A touchpoint: the answer comes once it is durable on disk.
    let call = Event(
        id: "call-7781", type: .call, subject: "anon-7f3a", at: Timestamp.parse("2026-03-01T14:05:00Z")!,
        agent: "bot:intake", conversation: "c-42", concern: "crown came loose")
    let outcomes = try await journey.append([call])  // [.appended(1)]; [.duplicate(1)] if sent again

    // What the next person or bot sees, on any channel.
    let context = try await journey.handoff(id: "anon-7f3a")
    print(context.stage.name, context.concern ?? "", context.lastAgent ?? "")

    // A refusal carries the daemon's code and message; an id never seen is `notFound`.
    do {
        _ = try await journey.patient(id: "p-unknown")
    } catch {
        guard error.code == .notFound else { throw error }
        print(error.message)
    }

    // Follow the log from the start, then live; leaving the loop closes the subscription.
    for try await (position, event) in journey.subscribe(from: 1) {
        print(position, event.type.name, event.subject)
        if position == outcomes[0].position { break }
    }
}
// README example end

@Suite struct ReadmeExampleTests {
    @Test func theExampleRunsAgainstADaemon() async throws {
        signal(SIGPIPE, SIG_IGN)
        let directory = try TemporaryDirectory()
        let engine = try JourneyEngine(directory: directory.path)
        let daemon = Daemon(engine: engine, socketPath: directory.socketPath)
        try daemon.start(config: ServerConfig())
        defer { try? daemon.stop() }
        try await recordCall(dataDirectory: directory.path)
        let context = try engine.handoff(id: "anon-7f3a", as: "test")
        #expect(context?.concern == "crown came loose")
        #expect(context?.lastAgent == "bot:intake")
        #expect(try engine.log.stats().events == 1)
    }

    @Test func theReadmeShowsThisCode() throws {
        let testsDirectory = (#filePath as NSString).deletingLastPathComponent
        let root = ((testsDirectory as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
        let readme = try String(contentsOfFile: root + "/README.md", encoding: .utf8)
        let source = try String(contentsOfFile: #filePath, encoding: .utf8)
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
        let begin = try #require(lines.firstIndex(of: "// README example begin"))
        let end = try #require(lines.firstIndex(of: "// README example end"))
        let example = lines[(begin + 1)..<end].joined(separator: "\n")
        let shown = "```swift\nimport JourneyClient\nimport JourneyCore\n\n" + example + "\n```"
        #expect(readme.contains(shown), "README.md must show the example of ReadmeExampleTests.swift verbatim")
    }
}
