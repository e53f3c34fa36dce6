import Testing
@testable import JourneyCrashLoop

// The crash loop in short: a few kill/restart cycles of the built `journeyd serve` under load.
// The long run is `scripts/crash-loop --cycles N`.

@Suite struct CrashLoopTests {
    @Test(binaryNeeded) func killsUnderLoadLoseNothingAndProjectionsMatchAFreshFold() throws {
        let dir = try TemporaryDirectory()
        var options = CrashLoopOptions(journeyd: journeydBinary!, directory: dir.path)
        options.cycles = 3
        // Seed 38 draws one cycle of each kind: SIGKILL under load, SIGKILL twice (under load,
        // then during the restart), and SIGTERM under load.
        options.seed = 38
        options.clients = 3
        options.minLoadMs = 80
        options.maxLoadMs = 200
        options.sampleIds = 10
        let report = try CrashLoop(options: options, say: { _ in }).run()
        #expect(report.cycles.count == 3)
        #expect(report.cycles.map { "\($0.mode)".prefix(7) } == ["SIGKILL", "SIGKILL", "SIGTERM"])
        if case .killTwice = report.cycles[1].mode {} else { Issue.record("cycle 2 does not kill twice") }
        #expect(report.failures == [])
        // Each cycle appended under load, and its answers were compared after the restart.
        for c in report.cycles {
            #expect(c.acknowledged > 0, "cycle \(c.cycle) acknowledged nothing before its kill")
            #expect(c.comparedAnswers == 2 * 11 + 4)
        }
        #expect(report.cycles.last?.stored ?? 0 >= report.cycles.reduce(0) { $0 + $1.acknowledged })
    }
}
