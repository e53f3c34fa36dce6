import Dispatch
import Foundation
import Glibc
import JourneyProtocol
import JourneyStore
import Synchronization
@testable import journeyd

// Fake handlers and helpers for the transport tests: the real ops are wired on later.

/// A fresh directory per test, short enough for sun_path, removed at the end.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = try Syscall.makeTemporaryDirectory("/tmp/jd-test-XXXXXX")
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    var socketPath: String { path + "/journeyd.sock" }
}

/// Answers every line with the same line.
struct EchoHandler: RequestHandler {
    func handle(line: [UInt8], connection: ServerConnection) {
        connection.send(line)
    }
}

/// Answers from another thread after a pseudo-random delay (0–2 ms), as a group commit would.
struct DelayedEchoHandler: RequestHandler {
    func handle(line: [UInt8], connection: ServerConnection) {
        let delay = Int(line.reduce(0) { ($0 &* 31 &+ Int($1)) & 0x7fff_ffff } % 2000)
        DispatchQueue.global().asyncAfter(deadline: .now() + .microseconds(delay)) {
            connection.send(line)
        }
    }
}

/// Answers with the peer credentials the server saw: `pid uid gid`.
struct PeerHandler: RequestHandler {
    func handle(line: [UInt8], connection: ServerConnection) {
        let peer = connection.peer
        connection.send(Array("\(peer.pid) \(peer.uid) \(peer.gid)".utf8))
    }
}

/// Waits until `body` holds, polling; false after `timeout`.
func eventually(timeout: Duration = .seconds(3), _ body: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if body() { return true }
        usleep(2_000)
    }
    return body()
}

/// Runs `count` bodies on their own threads (not a pool: they block in socket calls) and waits.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        let thread = Thread {
            body(index)
            group.leave()
        }
        thread.stackSize = 512 * 1024
        thread.start()
    }
    group.wait()
}

/// Reads everything until end of stream from a raw descriptor (for half-close tests).
func readToEnd(_ fd: Int32) -> [UInt8] {
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if count <= 0 { return result }
        result.append(contentsOf: chunk[..<count])
    }
}
