import Foundation
import Glibc
import JourneyCore
import JourneyProtocol
import Synchronization
import Testing
@testable import JourneyClient
@testable import journeyd

/// A one-connection scripted peer: accepts one client and runs `script` with its descriptor on
/// its own thread, so each test states exactly what the "daemon" sends.
final class ScriptedPeer: Sendable {
    let directory: String
    let path: String
    private let listenFd: Int32
    private let done = DispatchSemaphore(value: 0)
    private let finished = Mutex(false)

    init(_ script: @escaping @Sendable (ScriptedPeer, Int32) -> Void) throws {
        directory = try Syscall.makeTemporaryDirectory("/tmp/jc-test-XXXXXX")
        path = directory + "/peer.sock"
        listenFd = try Syscall.unixStreamSocket(nonBlocking: false)
        try Syscall.bind(listenFd, path: path)
        try Syscall.listen(listenFd, backlog: 4)
        let listenFd = self.listenFd
        Thread { [self] in
            let fd = Glibc.accept(listenFd, nil, nil)
            if fd >= 0 {
                script(self, fd)
                Syscall.close(fd)
            }
            done.signal()
        }.start()
    }

    /// Waits for the script to end, then removes the socket.
    func finish() {
        guard finished.withLock({ finished in defer { finished = true }; return !finished }) else { return }
        _ = done.wait(timeout: .now() + .seconds(5))
        Syscall.close(listenFd)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Reads one line (byte by byte: simple, and leaves later bytes in the socket).
    func readLine(_ fd: Int32) -> String? {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while Glibc.read(fd, &byte, 1) == 1 {
            if byte == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
            line.append(byte)
        }
        return nil
    }

    func write(_ fd: Int32, _ text: String) {
        try? Syscall.sendAll(fd, Array(text.utf8))
    }
}

@Suite("JourneyConnection")
struct ClientTests {
    init() {
        // Peers in these tests hang up on purpose; that must be an EPIPE, not a signal.
        signal(SIGPIPE, SIG_IGN)
    }

    @Test func missingSocketIsNotRunning() throws {
        let directory = try Syscall.makeTemporaryDirectory("/tmp/jc-test-XXXXXX")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            _ = try JourneyConnection(socketPath: directory + "/nothing.sock")
            Issue.record("connecting to a missing socket should fail")
        } catch {
            #expect(error.code == .notRunning)
            #expect(error.errno == ENOENT)
            #expect(error.message.contains("nothing.sock"))
        }
    }

    @Test func tooLongPathIsReported() {
        let path = "/tmp/" + String(repeating: "p", count: 200) + ".sock"
        do {
            _ = try JourneyConnection(socketPath: path)
            Issue.record("a 200-byte socket path cannot work")
        } catch {
            #expect(error.code == .connectFailed)
            #expect(error.message.contains("too long"))
        }
    }

    @Test func requestSendsOneLineAndReturnsTheAnswer() throws {
        let received = Mutex<[String]>([])
        let peer = try ScriptedPeer { peer, fd in
            while let line = peer.readLine(fd) {
                received.withLock { $0.append(line) }
                peer.write(fd, "answer to \(line)\n")
            }
        }
        defer { peer.finish() }
        let connection = try JourneyConnection(socketPath: peer.path)
        #expect(try connection.request(#"{"op":"ping"}"#) == #"answer to {"op":"ping"}"#)
        #expect(try connection.requestBytes(Array("é".utf8)) == Array("answer to é".utf8))
        connection.close()
        peer.finish()
        #expect(received.withLock { $0 } == [#"{"op":"ping"}"#, "é"])
    }

    @Test func answersArrivingTogetherAreSplitCorrectly() throws {
        let peer = try ScriptedPeer { peer, fd in
            _ = peer.readLine(fd)
            _ = peer.readLine(fd)
            _ = peer.readLine(fd)
            // Three answers in one write, the last one split across two writes.
            peer.write(fd, "one\ntwo\nthr")
            usleep(20_000)
            peer.write(fd, "ee\n")
        }
        defer { peer.finish() }
        let connection = try JourneyConnection(socketPath: peer.path, timeout: .seconds(2))
        try connection.send("a")
        try connection.send("b")
        try connection.send("c")
        #expect(try connection.receive() == "one")
        #expect(try connection.receive() == "two")
        #expect(try connection.receive() == "three")
    }

    @Test func requestWithNewlineIsRefusedLocally() throws {
        let peer = try ScriptedPeer { peer, fd in _ = peer.readLine(fd) }
        defer { peer.finish() }
        let connection = try JourneyConnection(socketPath: peer.path)
        do {
            _ = try connection.request("a\nb")
            Issue.record("a request with a newline must not be sent")
        } catch {
            #expect(error.code == .invalidRequest)
        }
    }

    @Test func peerClosingIsConnectionClosed() throws {
        let peer = try ScriptedPeer { peer, fd in _ = peer.readLine(fd) }
        defer { peer.finish() }
        let connection = try JourneyConnection(socketPath: peer.path, timeout: .seconds(2))
        do {
            _ = try connection.request("hello")
            Issue.record("the peer closed without answering")
        } catch {
            #expect(error.code == .connectionClosed)
        }
    }

    @Test func closedConnectionRefusesRequests() throws {
        let peer = try ScriptedPeer { _, _ in }
        defer { peer.finish() }
        let connection = try JourneyConnection(socketPath: peer.path)
        connection.close()
        do {
            _ = try connection.request("hello")
            Issue.record("a closed connection must refuse requests")
        } catch {
            #expect(error.code == .connectionClosed)
        }
    }

    @Test func silentPeerTimesOut() throws {
        let release = DispatchSemaphore(value: 0)
        let peer = try ScriptedPeer { _, _ in _ = release.wait(timeout: .now() + .seconds(3)) }
        defer {
            release.signal()
            peer.finish()
        }
        let connection = try JourneyConnection(socketPath: peer.path, timeout: .milliseconds(100))
        let start = ContinuousClock.now
        do {
            _ = try connection.request("hello")
            Issue.record("nobody answers: the request must time out")
        } catch {
            #expect(error.code == .timedOut)
        }
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .milliseconds(90) && elapsed < .seconds(2))
    }

    @Test func streamYieldsEveryLineUntilThePeerCloses() async throws {
        let peer = try ScriptedPeer { peer, fd in
            guard peer.readLine(fd) == #"{"op":"subscribe","from":1}"# else { return }
            peer.write(fd, "{\"ok\":true}\n")
            for index in 1...500 { peer.write(fd, "{\"position\":\(index)}\n") }
        }
        defer { peer.finish() }
        let connection = try JourneyConnection(socketPath: peer.path)
        var lines: [String] = []
        for try await line in connection.stream(#"{"op":"subscribe","from":1}"#) { lines.append(line) }
        #expect(lines.count == 501)
        #expect(lines[0] == #"{"ok":true}"#)
        #expect(lines[500] == #"{"position":500}"#)
        do {
            _ = try connection.request("ping")
            Issue.record("a streaming connection takes no requests")
        } catch {
            #expect(error.code == .streaming)
        }
    }

    @Test func streamIgnoresTheRequestTimeout() async throws {
        let peer = try ScriptedPeer { peer, fd in
            _ = peer.readLine(fd)
            peer.write(fd, "{\"ok\":true}\n")
            usleep(300_000)  // quiet for longer than the 100 ms request timeout
            peer.write(fd, "late\n")
        }
        defer { peer.finish() }
        let connection = try JourneyConnection(socketPath: peer.path, timeout: .milliseconds(100))
        var lines: [String] = []
        for try await line in connection.stream("subscribe") { lines.append(line) }
        #expect(lines == [#"{"ok":true}"#, "late"])
    }

    @Test func cancellingAStreamClosesTheSocket() async throws {
        let peerSawEnd = Mutex(false)
        let peer = try ScriptedPeer { peer, fd in
            _ = peer.readLine(fd)
            // Stream until the client goes away, then note it.
            var index = 0
            while (try? Syscall.sendAll(fd, Array("\(index)\n".utf8))) != nil {
                index += 1
                usleep(500)
            }
            peerSawEnd.withLock { $0 = true }
        }
        defer { peer.finish() }
        let connection = try JourneyConnection(socketPath: peer.path)
        var seen: [String] = []
        for try await line in connection.stream("subscribe") {
            seen.append(line)
            if seen.count == 3 { break }
        }
        #expect(seen == ["0", "1", "2"])
        peer.finish()
        #expect(peerSawEnd.withLock { $0 })
    }

    @Test func streamReportsAPeerThatDiesMidLine() async throws {
        let peer = try ScriptedPeer { peer, fd in
            _ = peer.readLine(fd)
            peer.write(fd, "complete\npartial")
        }
        defer { peer.finish() }
        let connection = try JourneyConnection(socketPath: peer.path)
        var lines: [String] = []
        do {
            for try await line in connection.stream("subscribe") { lines.append(line) }
            Issue.record("the stream should end with an error")
        } catch let error as ClientError {
            #expect(error.code == .connectionClosed)
        }
        #expect(lines == ["complete"])
    }
}
