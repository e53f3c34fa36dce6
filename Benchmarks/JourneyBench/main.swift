import Glibc

// JourneyBench: the benchmark scenarios of BENCHMARKS.md, one JSON object a line on stdout
// (progress on stderr). `scripts/bench` runs them all and writes BENCHMARKS.md.
//
//   JourneyBench replay          --events N [--runs R] [--data DIR]       replay vs raw scan, memory
//   JourneyBench scan            --store DIR [--runs R]                   raw scan of a store's log
//   JourneyBench queries         --data DIR --ids-from F --appends F      in-process queries
//   JourneyBench socket-ingest   --journeyd PATH --events-file F --per-request K
//   JourneyBench socket-queries  --journeyd PATH --data DIR --ids-from F --appends F
//   JourneyBench http-ingest     --journeyd PATH [--events N] [--per-request K] [--clients C]

#if DEBUG
note("JourneyBench is a debug build: its numbers are meaningless (use -c release)")
#endif

signal(SIGPIPE, SIG_IGN)
let arguments = Arguments(Array(CommandLine.arguments.dropFirst()))
do {
    switch arguments.command {
    case "replay": try replayScenario(arguments)
    case "scan": try storeScanScenario(arguments)
    case "queries": try queriesScenario(arguments)
    case "socket-ingest": try socketIngestScenario(arguments)
    case "socket-queries": try socketQueriesScenario(arguments)
    case "http-ingest": try httpIngestScenario(arguments)
    default: fail("unknown scenario '\(arguments.command)': replay, scan, queries, socket-ingest, socket-queries or http-ingest")
    }
} catch {
    fail("\(error)")
}
