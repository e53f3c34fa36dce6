import Foundation
import Glibc
import JourneyClient
import JourneyStore

/// A `journeyd serve --data DIR` child process. Its stderr goes to `logPath`, appended across
/// restarts, so a failing cycle can be read afterwards.
final class DaemonProcess {
    let process = Process()
    let directory: String

    init(journeyd: String, directory: String, logPath: String) throws {
        self.directory = directory
        process.executableURL = URL(fileURLWithPath: journeyd)
        process.arguments = ["serve", "--data", directory]
        if access(logPath, F_OK) != 0 { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = log
        try process.run()
    }

    var socketPath: String { directory + "/journeyd.sock" }
    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// Waits until the daemon answers a ping; false if it exited or did not answer in time.
    func waitUntilServing(timeout: Duration = .seconds(30)) -> Bool {
        poll(timeout: timeout) { [self] in
            guard process.isRunning, let c = try? JourneyConnection(socketPath: socketPath, timeout: .seconds(2)) else {
                return false
            }
            defer { c.close() }
            return (try? c.request(#"{"op":"ping"}"#)) == #"{"ok":true}"#
        } && process.isRunning
    }

    /// Sends `sig` and waits for the exit; answers the exit status (or nil when the process did
    /// not exit within `timeout`, in which case it is killed).
    @discardableResult
    func stop(_ sig: Int32, timeout: Duration = .seconds(30)) -> Int32? {
        kill(pid, sig)
        guard poll(timeout: timeout, { [self] in !process.isRunning }) else {
            kill(pid, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// Polls `body` every 2 ms until it holds; false after `timeout`.
func poll(timeout: Duration, _ body: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if body() { return true }
        usleep(2_000)
    }
    return body()
}

/// Runs a `journeyd` command to completion; answers the exit status and the standard output.
func runJourneyd(_ journeyd: String, _ args: [String]) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: journeyd)
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    // Read before waiting: a full pipe would block the child.
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}
