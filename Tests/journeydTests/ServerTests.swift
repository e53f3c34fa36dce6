import Dispatch
import Foundation
import Glibc
import JourneyClient
import JourneyProtocol
import JourneyStore
import Synchronization
import Testing
@testable import journeyd

@Suite("UnixSocketServer")
struct ServerTests {
    init() {
        // Peers in these tests hang up on purpose; that must be an EPIPE, not a signal.
        signal(SIGPIPE, SIG_IGN)
    }

    // MARK: - Socket file

    @Test func socketFileIsOwnerOnly() throws {
        let directory = try TemporaryDirectory()
        let server = UnixSocketServer(path: directory.socketPath, handler: EchoHandler())
        try server.start()
        defer { server.stop() }
        let info = try #require(try Syscall.lstat(directory.socketPath))
        #expect(info.st_mode & S_IFMT == S_IFSOCK)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(info.st_uid == geteuid())
        // No leftover private bind directory next to the socket.
        let entries = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(entries == ["journeyd.sock", "journeyd.sock.lock"])
    }

    @Test func allowGroupWidensModeAndSetsGroup() throws {
        let directory = try TemporaryDirectory()
        let group = getegid()
        let server = UnixSocketServer(
            path: directory.socketPath, config: ServerConfig(allowGroup: group), handler: EchoHandler())
        try server.start()
        defer { server.stop() }
        let info = try #require(try Syscall.lstat(directory.socketPath))
        #expect(info.st_mode & 0o777 == 0o660)
        #expect(info.st_gid == group)
    }

    @Test func secondServerOnSamePathIsRefused() throws {
        let directory = try TemporaryDirectory()
        let first = UnixSocketServer(path: directory.socketPath, handler: EchoHandler())
        try first.start()
        let second = UnixSocketServer(path: directory.socketPath, handler: EchoHandler())
        #expect(throws: ServerError.self) { try second.start() }
        do {
            try second.start()
        } catch {
            #expect(error.code == .alreadyRunning)
            #expect(error.message.contains(directory.socketPath))
        }
        // The first server is untouched and still answers.
        let client = try JourneyConnection(socketPath: directory.socketPath)
        #expect(try client.request("still here") == "still here")
        client.close()
        first.stop()

        // The lock is free once `stop` returns, except that a child another test is spawning
        // right now holds a copy of the descriptor until its exec closes it (flock locks belong
        // to the open file, shared across fork): a start may have to be tried again.
        let third = UnixSocketServer(path: directory.socketPath, handler: EchoHandler())
        var lastError: ServerError?
        let started = eventually(timeout: .seconds(5)) {
            do throws(ServerError) { try third.start(); return true } catch { lastError = error; return false }
        }
        #expect(started, "third server: \(String(describing: lastError))")
        defer { third.stop() }
        let again = try JourneyConnection(socketPath: directory.socketPath)
        #expect(try again.request("third") == "third")
    }

    @Test func staleSocketFromACrashIsReplaced() throws {
        let directory = try TemporaryDirectory()
        // A bound socket whose process is gone: the file stays, nobody listens.
        let stale = try Syscall.unixStreamSocket(nonBlocking: false)
        try Syscall.bind(stale, path: directory.socketPath)
        Syscall.close(stale)
        #expect(throws: ClientError.self) { _ = try JourneyConnection(socketPath: directory.socketPath) }

        let server = UnixSocketServer(path: directory.socketPath, handler: EchoHandler())
        try server.start()
        defer { server.stop() }
        let client = try JourneyConnection(socketPath: directory.socketPath)
        #expect(try client.request("hello") == "hello")
    }

    @Test func longDirectoryBindsInPlaceWithTheSameGuarantees() throws {
        // Too long for the private-directory detour (dir + "/.journeyd-XXXXXX/s" > 107 bytes),
        // short enough for the socket itself.
        let directory = try TemporaryDirectory()
        let nested = directory.path + "/" + String(repeating: "d", count: 94 - directory.path.count)
        try FileManager.default.createDirectory(atPath: nested, withIntermediateDirectories: false)
        let path = nested + "/s.sock"
        #expect(path.utf8.count == 102)
        let stale = try Syscall.unixStreamSocket(nonBlocking: false)
        try Syscall.bind(stale, path: path)
        Syscall.close(stale)

        let server = UnixSocketServer(path: path, handler: EchoHandler())
        try server.start()
        defer { server.stop() }
        let info = try #require(try Syscall.lstat(path))
        #expect(info.st_mode & 0o777 == 0o600)
        let client = try JourneyConnection(socketPath: path)
        #expect(try client.request("long") == "long")
    }

    @Test func nonSocketFileAtPathIsLeftAlone() throws {
        let directory = try TemporaryDirectory()
        try "precious".write(toFile: directory.socketPath, atomically: false, encoding: .utf8)
        let server = UnixSocketServer(path: directory.socketPath, handler: EchoHandler())
        do {
            try server.start()
            Issue.record("start() should refuse a regular file at the socket path")
        } catch {
            #expect(error.code == .notASocket)
        }
        #expect(try String(contentsOfFile: directory.socketPath, encoding: .utf8) == "precious")
    }

    // MARK: - Framing

    @Test func overlongLineIsRejectedAndConnectionStaysUsable() throws {
        let directory = try TemporaryDirectory()
        let server = UnixSocketServer(
            path: directory.socketPath, config: ServerConfig(maxLineBytes: 1000), handler: EchoHandler())
        try server.start()
        defer { server.stop() }
        let client = try JourneyConnection(socketPath: directory.socketPath)

        let response = try client.request(String(repeating: "a", count: 5000))
        #expect(response.hasPrefix(#"{"ok":false,"error":{"code":"line_too_long","message":""#))
        #expect(try client.request("next") == "next")

        // Exactly at the limit is accepted; one byte over is not.
        let atLimit = String(repeating: "b", count: 1000)
        #expect(try client.request(atLimit) == atLimit)
        #expect(try client.request(atLimit + "c").contains(#""code":"line_too_long""#))

        // Pipelined: an over-long line followed by a good one in the same write.
        try client.send(String(repeating: "d", count: 3000))
        try client.send("after")
        #expect(try client.receive().contains("line_too_long"))
        #expect(try client.receive() == "after")
    }

    @Test func emptyLinesAreIgnored() throws {
        let directory = try TemporaryDirectory()
        let server = UnixSocketServer(path: directory.socketPath, handler: EchoHandler())
        try server.start()
        defer { server.stop() }
        let fd = try Syscall.unixStreamSocket(nonBlocking: false)
        defer { Syscall.close(fd) }
        try Syscall.connect(fd, path: directory.socketPath)
        try Syscall.sendAll(fd, Array("\n\r\none\r\n\ntwo\n".utf8))
        // Half-close: the server answers what it has, then closes.
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
        #expect(String(decoding: readToEnd(fd), as: UTF8.self) == "one\ntwo\n")
    }

    @Test func lastLineWithoutNewlineIsAnsweredAfterHalfClose() throws {
        let directory = try TemporaryDirectory()
        let server = UnixSocketServer(path: directory.socketPath, handler: DelayedEchoHandler())
        try server.start()
        defer { server.stop() }
        let fd = try Syscall.unixStreamSocket(nonBlocking: false)
        defer { Syscall.close(fd) }
        try Syscall.connect(fd, path: directory.socketPath)
        try Syscall.sendAll(fd, Array("first\nsecond".utf8))
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
        #expect(String(decoding: readToEnd(fd), as: UTF8.self) == "first\nsecond\n")
    }

    // MARK: - Concurrency and order

    @Test func manyConcurrentClientsGetTheirOwnAnswersInOrder() throws {
        let directory = try TemporaryDirectory()
        let server = UnixSocketServer(path: directory.socketPath, handler: EchoHandler())
        try server.start()
        defer { server.stop() }
        let path = directory.socketPath
        let failures = Mutex<[String]>([])
        onThreads(32) { client in
            do {
                let connection = try JourneyConnection(socketPath: path, timeout: .seconds(10))
                for round in 0..<200 {
                    let request = "client \(client) round \(round)"
                    let response = try connection.request(request)
                    if response != request {
                        failures.withLock { $0.append("sent \(request), got \(response)") }
                        return
                    }
                }
                connection.close()
            } catch {
                failures.withLock { $0.append("client \(client): \(error)") }
            }
        }
        #expect(failures.withLock { $0 } == [])
    }

    @Test func pipelinedRequestsWithAsynchronousAnswersStayInOrder() throws {
        let directory = try TemporaryDirectory()
        let server = UnixSocketServer(path: directory.socketPath, handler: DelayedEchoHandler())
        try server.start()
        defer { server.stop() }
        let path = directory.socketPath
        let failures = Mutex<[String]>([])
        onThreads(8) { client in
            do {
                let connection = try JourneyConnection(socketPath: path, timeout: .seconds(10))
                for round in 0..<100 { try connection.send("c\(client)-r\(round)") }
                for round in 0..<100 {
                    let response = try connection.receive()
                    if response != "c\(client)-r\(round)" {
                        failures.withLock { $0.append("expected c\(client)-r\(round), got \(response)") }
                        return
                    }
                }
            } catch {
                failures.withLock { $0.append("client \(client): \(error)") }
            }
        }
        #expect(failures.withLock { $0 } == [])
    }

    @Test func slowHandlerDoesNotBlockOtherClients() throws {
        let directory = try TemporaryDirectory()
        let gate = DispatchSemaphore(value: 0)
        let server = UnixSocketServer(path: directory.socketPath, handler: GatedHandler(gate: gate))
        try server.start()
        defer { server.stop() }
        let stuck = try JourneyConnection(socketPath: directory.socketPath, timeout: .seconds(5))
        try stuck.send("wait")
        let other = try JourneyConnection(socketPath: directory.socketPath, timeout: .seconds(5))
        let start = ContinuousClock.now
        for round in 0..<20 { #expect(try other.request("quick \(round)") == "quick \(round)") }
        #expect(ContinuousClock.now - start < .seconds(1))
        gate.signal()
        #expect(try stuck.receive() == "wait")
    }

    @Test func sixtyFourClientsAtOnce() throws {
        let directory = try TemporaryDirectory()
        let server = UnixSocketServer(path: directory.socketPath, handler: DelayedEchoHandler())
        try server.start()
        defer { server.stop() }
        let path = directory.socketPath
        let answered = Mutex(0)
        // All connect first, then all talk: 64 connections are open at the same time.
        let connected = DispatchGroup()
        let go = DispatchSemaphore(value: 0)
        for _ in 0..<64 { connected.enter() }
        onThreads(65) { index in
            if index == 64 {
                connected.wait()
                for _ in 0..<64 { go.signal() }
                return
            }
            guard let connection = try? JourneyConnection(socketPath: path, timeout: .seconds(10)) else {
                connected.leave()
                return
            }
            connected.leave()
            go.wait()
            for round in 0..<20 where (try? connection.request("\(index).\(round)")) == "\(index).\(round)" {
                answered.withLock { $0 += 1 }
            }
        }
        #expect(answered.withLock { $0 } == 64 * 20)
    }

    @Test func blockingHandlersDoNotStarveEachOther() throws {
        // Each handler blocks until 24 of them are running at once: only a pool that grows past
        // the core count (unlike libdispatch's on Linux) gets there.
        let directory = try TemporaryDirectory()
        let barrier = Barrier(count: 24)
        let server = UnixSocketServer(path: directory.socketPath, handler: BarrierHandler(barrier: barrier))
        try server.start()
        defer { server.stop() }
        let path = directory.socketPath
        let answers = Mutex<[String]>([])
        onThreads(24) { _ in
            let answer = (try? JourneyConnection(socketPath: path, timeout: .seconds(10)).request("go")) ?? "error"
            answers.withLock { $0.append(answer) }
        }
        #expect(answers.withLock { $0 } == Array(repeating: "passed", count: 24))
    }

    // MARK: - Streaming and slow readers

    @Test func clientThatStopsReadingIsDisconnectedWithoutSlowingOthers() throws {
        let directory = try TemporaryDirectory()
        let probe = StreamProbe()
        let server = UnixSocketServer(
            path: directory.socketPath, config: ServerConfig(maxOutputBytes: 64 * 1024),
            handler: StreamingHandler(probe: probe, lineCount: nil))
        try server.start()
        defer { server.stop() }

        let slow = try JourneyConnection(socketPath: directory.socketPath, timeout: .seconds(5))
        try slow.send("subscribe")  // and never read
        let other = try JourneyConnection(socketPath: directory.socketPath, timeout: .seconds(5))
        var worst = Duration.zero
        for round in 0..<100 {
            let start = ContinuousClock.now
            #expect(try other.request("r\(round)") == "r\(round)")
            worst = max(worst, ContinuousClock.now - start)
        }
        #expect(worst < .seconds(1))
        #expect(eventually { probe.closed.withLock { $0 } })
        #expect(probe.sendFailed.withLock { $0 })
        // The producer was cut off near the cap (64 KiB queued plus what the kernel buffers),
        // far from an unbounded stream.
        #expect(probe.sent.withLock { $0 } < 10_000)
        // The slow client finds its connection closed once it drains what the kernel kept.
        var sawEnd = false
        for _ in 0..<20_000 {
            do {
                _ = try slow.receive()
            } catch {
                #expect(error.code == .connectionClosed)
                sawEnd = true
                break
            }
        }
        #expect(sawEnd)
        #expect(try other.request("after") == "after")
    }

    @Test func streamDeliversEveryLineThenEnds() async throws {
        let directory = try TemporaryDirectory()
        let probe = StreamProbe()
        let server = UnixSocketServer(
            path: directory.socketPath, handler: StreamingHandler(probe: probe, lineCount: 2000))
        try server.start()
        defer { server.stop() }
        let client = try JourneyConnection(socketPath: directory.socketPath, timeout: .seconds(5))
        var lines: [String] = []
        for try await line in client.stream("subscribe") { lines.append(line) }
        #expect(lines.count == 2001)
        #expect(lines.first == #"{"ok":true}"#)
        #expect(lines[1].hasPrefix("0 x"))
        #expect(lines[2000].hasPrefix("1999 x"))
        #expect(lines.dropFirst().enumerated().allSatisfy { $0.element.hasPrefix("\($0.offset) ") })
        // Requests on a streaming connection are refused by the client.
        #expect(throws: ClientError.self) { try client.request("ping") }
    }

    @Test func throttledStreamKeepsASlowReaderConnected() throws {
        // 3000 lines of 1 KiB through a 32 KiB queue: the producer waits for the reader.
        let directory = try TemporaryDirectory()
        let probe = StreamProbe()
        let server = UnixSocketServer(
            path: directory.socketPath, config: ServerConfig(maxOutputBytes: 32 * 1024),
            handler: StreamingHandler(probe: probe, lineCount: 3000, wait: .seconds(2)))
        try server.start()
        defer { server.stop() }
        let client = try JourneyConnection(socketPath: directory.socketPath, timeout: .seconds(5))
        try client.send("subscribe")
        #expect(try client.receive() == #"{"ok":true}"#)
        usleep(100_000)  // let the queue fill up while nobody reads
        var received = 0
        while let line = try? client.receive() {
            #expect(line.hasPrefix("\(received) "))
            received += 1
        }
        #expect(received == 3000)
        #expect(!probe.sendFailed.withLock { $0 })
    }

    @Test func throttledStreamDropsAReaderThatStopped() throws {
        let directory = try TemporaryDirectory()
        let probe = StreamProbe()
        let server = UnixSocketServer(
            path: directory.socketPath, config: ServerConfig(maxOutputBytes: 32 * 1024),
            handler: StreamingHandler(probe: probe, lineCount: nil, wait: .milliseconds(200)))
        try server.start()
        defer { server.stop() }
        let client = try JourneyConnection(socketPath: directory.socketPath, timeout: .seconds(5))
        try client.send("subscribe")  // and never read
        #expect(eventually { probe.sendFailed.withLock { $0 } })
        #expect(eventually { probe.closed.withLock { $0 } })
    }

    @Test func cancellingAStreamClosesTheServerSide() async throws {
        let directory = try TemporaryDirectory()
        let probe = StreamProbe()
        let server = UnixSocketServer(
            path: directory.socketPath, handler: StreamingHandler(probe: probe, lineCount: nil, pause: true))
        try server.start()
        defer { server.stop() }
        let client = try JourneyConnection(socketPath: directory.socketPath)
        var received = 0
        for try await _ in client.stream("subscribe") {
            received += 1
            if received == 5 { break }
        }
        #expect(received == 5)
        #expect(eventually { probe.closed.withLock { $0 } })
    }

    // MARK: - Stopping

    @Test func stopRemovesSocketAndClosesClients() throws {
        let directory = try TemporaryDirectory()
        let server = UnixSocketServer(path: directory.socketPath, handler: EchoHandler())
        try server.start()
        let client = try JourneyConnection(socketPath: directory.socketPath, timeout: .seconds(5))
        #expect(try client.request("before") == "before")
        server.stop()
        #expect(try Syscall.lstat(directory.socketPath) == nil)
        do {
            _ = try client.request("after")
            Issue.record("a request after stop() should fail")
        } catch {
            #expect(error.code == .connectionClosed)
        }
        do {
            _ = try JourneyConnection(socketPath: directory.socketPath)
            Issue.record("connecting after stop() should fail")
        } catch {
            #expect(error.code == .notRunning)
        }
        server.stop()  // idempotent
    }

    @Test func stopEndsSubscriptionsPromptly() throws {
        let directory = try TemporaryDirectory()
        let probe = StreamProbe()
        let server = UnixSocketServer(
            path: directory.socketPath, handler: StreamingHandler(probe: probe, lineCount: nil, pause: true))
        try server.start()
        let client = try JourneyConnection(socketPath: directory.socketPath, timeout: .seconds(5))
        try client.send("subscribe")
        #expect(try client.receive() == #"{"ok":true}"#)
        let start = ContinuousClock.now
        server.stop()
        #expect(ContinuousClock.now - start < .seconds(1))
        #expect(eventually { probe.closed.withLock { $0 } })
        // What was sent arrives, then the end.
        var lines = 0
        while (try? client.receive()) != nil { lines += 1 }
        #expect(lines < 5_000)
    }

    @Test func stopLetsAnInFlightRequestFinish() throws {
        let directory = try TemporaryDirectory()
        let gate = DispatchSemaphore(value: 0)
        let handler = GatedHandler(gate: gate)
        let server = UnixSocketServer(path: directory.socketPath, handler: handler)
        try server.start()
        let client = try JourneyConnection(socketPath: directory.socketPath, timeout: .seconds(5))
        try client.send("in flight")
        #expect(eventually { handler.isWaiting.withLock { $0 } })
        let stopped = DispatchSemaphore(value: 0)
        Thread {
            server.stop()
            stopped.signal()
        }.start()
        // stop() is waiting for the answer.
        #expect(stopped.wait(timeout: .now() + .milliseconds(200)) == .timedOut)
        gate.signal()
        #expect(try client.receive() == "in flight")
        #expect(stopped.wait(timeout: .now() + .seconds(3)) == .success)
        #expect(throws: ClientError.self) { try client.receive() }
    }

    @Test func quickRequestsAreAnsweredOnTheIOThreadOthersOnThePool() throws {
        let directory = try TemporaryDirectory()
        let server = UnixSocketServer(path: directory.socketPath, handler: ThreadReportingHandler())
        try server.start()
        defer { server.stop() }
        let client = try JourneyConnection(socketPath: directory.socketPath)
        // Answers name the handling thread. The pool reuses its idle thread for requests one
        // after the other, so only the I/O-thread path puts quick and slow on different threads.
        let answers = try ["quick", "slow", "quick", "slow"].map { try client.request($0) }
        let threads = answers.map { $0.split(separator: " ").last.map(String.init) ?? "" }
        #expect(answers.map { $0.split(separator: " ").first.map(String.init) ?? "" } == ["quick", "slow", "quick", "slow"])
        #expect(threads[0] == threads[2] && threads[1] == threads[3])
        #expect(threads[0] != threads[1])
    }

    // MARK: - Peers

    @Test func peerCredentialsAreThoseOfTheConnectingProcess() throws {
        let directory = try TemporaryDirectory()
        let server = UnixSocketServer(path: directory.socketPath, handler: PeerHandler())
        try server.start()
        defer { server.stop() }
        let client = try JourneyConnection(socketPath: directory.socketPath)
        #expect(try client.request("who") == "\(getpid()) \(geteuid()) \(getegid())")
    }

    @Test func onlyOwnUserOrAllowedGroupMayConnect() {
        let own = geteuid()
        let other: uid_t = own == 4242 ? 4243 : 4242
        #expect(EventLoop.isAllowed(PeerCredentials(pid: 1, uid: own, gid: 9999), ownUID: own, allowGroup: nil))
        #expect(!EventLoop.isAllowed(PeerCredentials(pid: 1, uid: other, gid: 9999), ownUID: own, allowGroup: nil))
        #expect(EventLoop.isAllowed(PeerCredentials(pid: 1, uid: other, gid: 777), ownUID: own, allowGroup: 777))
        // Unknown uid, other primary group: no supplementary membership either.
        #expect(!EventLoop.isAllowed(PeerCredentials(pid: 1, uid: other, gid: 9999), ownUID: own, allowGroup: 777))
        // Root is not special.
        if own != 0 {
            #expect(!EventLoop.isAllowed(PeerCredentials(pid: 1, uid: 0, gid: 0), ownUID: own, allowGroup: nil))
        }
    }

    @Test(.enabled(if: geteuid() == 0, "needs root to connect as another user"))
    func anotherUserIsRefusedWithForbidden() throws {
        let directory = try TemporaryDirectory()
        let server = UnixSocketServer(path: directory.socketPath, handler: EchoHandler())
        try server.start()
        defer { server.stop() }
        // Open the filesystem permissions so that only the SO_PEERCRED check stands in the way.
        _ = chmod(directory.path, 0o755)
        _ = chmod(directory.socketPath, 0o666)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = [
            "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c",
            """
            import socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sys.argv[1])
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk: break
                data += chunk
            sys.stdout.write(data.decode())
            """,
            directory.socketPath,
        ]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0)
        #expect(text.hasPrefix(#"{"ok":false,"error":{"code":"forbidden","message":"uid 65534 may not"#))
        #expect(text.hasSuffix("}\n"))
    }
}

// MARK: - Handlers used above

/// Holds each request until the test signals the gate.
final class GatedHandler: RequestHandler {
    let gate: DispatchSemaphore
    /// Set once a gated request is being handled. Per handler: a set of gate addresses shared
    /// by every test would see a freed gate's address reused by the next test's gate.
    let isWaiting = Mutex(false)

    init(gate: DispatchSemaphore) { self.gate = gate }

    func handle(line: [UInt8], connection: ServerConnection) {
        guard line == Array("wait".utf8) || line == Array("in flight".utf8) else {
            connection.send(line)
            return
        }
        isWaiting.withLock { $0 = true }
        gate.wait()
        connection.send(line)
    }
}

/// Lets callers through once `count` of them are waiting (or after 3 s, reported as a failure).
final class Barrier: Sendable {
    private let count: Int
    private let arrived = Mutex(0)

    init(count: Int) { self.count = count }

    func arriveAndWait() -> Bool {
        arrived.withLock { $0 += 1 }
        return eventually(timeout: .seconds(3)) { arrived.withLock { $0 } >= count }
    }
}

/// Blocks its pool thread at a barrier, then answers `passed` or `timed out`.
struct BarrierHandler: RequestHandler {
    let barrier: Barrier

    func handle(line: [UInt8], connection: ServerConnection) {
        connection.send(Array((barrier.arriveAndWait() ? "passed" : "timed out").utf8))
    }
}

/// What a streaming handler observed.
final class StreamProbe: Sendable {
    let closed = Mutex(false)
    let sendFailed = Mutex(false)
    let sent = Mutex(0)
}

/// On `subscribe`: answers `{"ok":true}`, then streams `N xxxx…` lines (1 KiB) from its own
/// thread, `lineCount` of them then closes, or (nil) until a send is refused. Echoes other lines.
struct StreamingHandler: RequestHandler {
    let probe: StreamProbe
    let lineCount: Int?
    var pause = false
    /// If set, sends with `send(_:waitingUpTo:)` (throttled by the reader) instead of `send`.
    var wait: Duration? = nil

    func handle(line: [UInt8], connection: ServerConnection) {
        guard line == Array("subscribe".utf8) else {
            connection.send(line)
            return
        }
        connection.startStreaming()
        let probe = self.probe
        let lineCount = self.lineCount
        let pause = self.pause
        let wait = self.wait
        connection.onClose { probe.closed.withLock { $0 = true } }
        connection.send(Array(#"{"ok":true}"#.utf8))
        Thread {
            let payload = [UInt8](repeating: UInt8(ascii: "x"), count: 1000)
            var index = 0
            while lineCount.map({ index < $0 }) ?? true {
                let line = Array("\(index) ".utf8) + payload
                guard wait.map({ connection.send(line, waitingUpTo: $0) }) ?? connection.send(line) else {
                    probe.sendFailed.withLock { $0 = true }
                    return
                }
                index += 1
                probe.sent.withLock { $0 = index }
                if pause { usleep(1_000) }
            }
            connection.close()
        }.start()
    }
}

/// Answers each line with the name of the thread that handled it.
struct ThreadReportingHandler: RequestHandler {
    func accept(line: [UInt8], connection: ServerConnection) -> (@Sendable () -> Void)? {
        guard line == Array("quick".utf8) else { return { handle(line: line, connection: connection) } }
        handle(line: line, connection: connection)
        return nil
    }

    func handle(line: [UInt8], connection: ServerConnection) {
        connection.send(line + Array(" on \(UInt(bitPattern: Int(bitPattern: UInt(pthread_self()))))".utf8))
    }
}
