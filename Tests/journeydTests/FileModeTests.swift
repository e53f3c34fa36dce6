import Foundation
import Glibc
import JourneyClient
import Synchronization
import JourneyCore
import Testing
@testable import journeyd

// Every file and directory Journey creates is owner-only whatever the umask, and a backup
// reports exactly what it holds while appends go on.

private final class Flag: Sendable {
    private let value = Atomic<Bool>(true)
    var isSet: Bool { value.load(ordering: .relaxed) }
    func clear() { value.store(false, ordering: .relaxed) }
}

/// Runs `journeyd ARGS` under `sh` with umask 000.
private func runUmask000(_ args: [String], timeout: Duration = .seconds(60)) throws -> RunResult {
    let quoted = args.map { "'" + $0 + "'" }.joined(separator: " ")
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", "umask 000; exec '\(journeydBinary!)' \(quoted)"]
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    #expect(waitForExit(p, timeout: timeout))
    return RunResult(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                     stderr: String(decoding: errData, as: UTF8.self))
}

/// Every path under `root` (itself included) with its permission bits.
private func modes(under root: String) -> [(String, mode_t, Bool)] {
    var out: [(String, mode_t, Bool)] = []
    func visit(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        let isDirectory = st.st_mode & S_IFMT == S_IFDIR
        out.append((path, st.st_mode & 0o7777, isDirectory))
        if isDirectory, let names = try? FileManager.default.contentsOfDirectory(atPath: path) {
            for n in names { visit(path + "/" + n) }
        }
    }
    visit(root)
    return out
}

@Suite("Files Journey creates", .serialized, .enabled(if: journeydBinary != nil))
struct FileModeTests {
    init() { signal(SIGPIPE, SIG_IGN) }

    @Test("with umask 000: data directory, LMDB files, locks, audit, socket and backups are owner-only")
    func ownerOnlyWhateverTheUmask() throws {
        let parent = try TemporaryDirectory()
        let data = parent.path + "/data", backup = parent.path + "/backup"
        let file = parent.path + "/events.ndjson"
        try journey.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try runUmask000(["import", file, "--data", data]).status == 0)
        #expect(try runUmask000(["patient", "p1", "--data", data]).status == 0)  // writes audit.log
        let b = try runUmask000(["backup", backup, "--data", data])
        #expect(b.stdout == "backed up 9 events to \(backup)\n")
        // The daemon: its socket and socket lock, checkpoints saved at stop.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "umask 000; exec '\(journeydBinary!)' serve --data '\(data)'"]
        p.standardError = FileHandle.nullDevice
        try p.run()
        let socket = data + "/journeyd.sock"
        #expect(eventually(timeout: .seconds(20)) { access(socket, F_OK) == 0 })
        var served: [(String, mode_t, Bool)] = []
        if let c = try? JourneyConnection(socketPath: socket, timeout: .seconds(10)) {
            _ = try? c.request(#"{"op":"handoff","id":"p2"}"#)
            c.close()
            served = modes(under: data)
        }
        kill(p.processIdentifier, SIGTERM)
        #expect(waitForExit(p, timeout: .seconds(20)))

        let all = served + modes(under: data) + modes(under: backup)
        let names = Set(all.map { ($0.0 as NSString).lastPathComponent })
        for expected in ["data.mdb", "lock.mdb", "audit.log", "writer.lock", "journeyd.sock", "journeyd.sock.lock"] {
            #expect(names.contains(expected), "\(expected) was not created")
        }
        for (path, mode, isDirectory) in all {
            #expect(mode == (isDirectory ? 0o700 : 0o600), "\(path) has mode \(String(mode, radix: 8))")
        }
    }

    @Test("backup reports exactly the events the backup holds while appends run")
    func backupCountWhileAppending() throws {
        let parent = try TemporaryDirectory()
        let data = parent.path + "/data"
        let serve = try ServeProcess(directory: data)
        #expect(serve.waitUntilServing())
        let socket = serve.socketPath
        // Appends go on in the background while three backups are taken.
        let appending = Flag()
        let done = DispatchSemaphore(value: 0)
        let writer = Thread {
            defer { done.signal() }
            guard let c = try? JourneyConnection(socketPath: socket, timeout: .seconds(30)) else { return }
            defer { c.close() }
            var n = 0
            while appending.isSet {
                let batch = (0..<50).map { i in
                    #"{"id":"w\#(n)-\#(i)","type":"web_visit","subject":"s\#(i)","at":"2026-01-01T00:00:00Z"}"#
                }
                _ = try? c.request(#"{"op":"append","events":["# + batch.joined(separator: ",") + "]}")
                n += 1
            }
        }
        writer.start()
        usleep(300_000)
        for k in 0..<3 {
            let dest = parent.path + "/backup\(k)"
            let r = try run(["backup", dest, "--data", data])
            #expect(r.status == 0)
            let reported = r.stdout.split(separator: " ").dropFirst(2).first.flatMap { Int($0) }
            // What the backup holds, read from the backup itself.
            let stats = try run(["stats", "--json", "--data", dest])
            let held = try parse(stats.stdout)["events"]?.int64Value
            #expect(reported != nil && reported.map(Int64.init) == held, "reported \(String(describing: reported)), holds \(String(describing: held))")
            usleep(100_000)
        }
        appending.clear()
        done.wait()
        #expect(serve.terminate() == 0)
    }
}
