import Foundation
import Glibc
import JourneyCore
import JourneyStore
@testable import journeyd

/// The Segment HTTP API on a fresh store, on a port the system chose; stopped at the end.
final class RunningHTTPAPI {
    let directory: TemporaryDirectory
    let engine: JourneyEngine
    let server: HTTPServer
    static let writeKey = "test-write-key"

    init(config: HTTPConfig = HTTPConfig(), eventMap: SegmentEventMap = .standard) throws {
        directory = try TemporaryDirectory()
        engine = try JourneyEngine(directory: directory.path)
        server = HTTPServer(address: HTTPAddress("127.0.0.1:0")!, config: config, handler: SegmentHTTPAPI(
            writes: engine.writes, writeKey: Self.writeKey, mapping: SegmentMapping(eventMap: eventMap)))
        try server.start()
    }

    deinit { server.stop() }

    var port: UInt16 { server.port }

    /// The stored events, in log order, as their canonical JSON.
    func stored() throws -> [String] {
        var out: [String] = []
        try engine.log.scan(from: 1) { _, view in
            out.append(EventJSON.encode(try view.event()))
            return true
        }
        return out
    }

    /// `Authorization` for `key`, as Segment's clients send it (the key as user name).
    static func basic(_ key: String = writeKey) -> String {
        "Basic " + Data("\(key):".utf8).base64EncodedString()
    }
}

/// A raw HTTP/1.1 client connection, to send exact bytes and read responses one at a time.
final class HTTPTestConnection {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        sa.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw POSIXError(.ECONNREFUSED) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ text: String) { send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }

    /// A POST of `body` to `path` with the write key, Content-Length framed.
    static func post(_ path: String, _ body: String, auth: String? = RunningHTTPAPI.basic(), extra: String = "") -> String {
        var head = "POST \(path) HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        if let auth { head += "Authorization: \(auth)\r\n" }
        return head + extra + "Content-Length: \(body.utf8.count)\r\n\r\n" + body
    }

    /// The next response: status, header fields (lowercased names) and body; nil at the end of
    /// the stream (or a timeout).
    func response() -> (status: Int, headers: [String: String], body: String)? {
        while true {
            if let end = find(Array("\r\n\r\n".utf8)) {
                let head = String(decoding: buffer[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
                var headers: [String: String] = [:]
                for line in head.dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                let length = Int(headers["content-length"] ?? "0") ?? 0
                if buffer.count >= end + 4 + length {
                    let status = Int(head[0].split(separator: " ")[1]) ?? 0
                    let body = String(decoding: buffer[(end + 4)..<(end + 4 + length)], as: UTF8.self)
                    buffer.removeFirst(end + 4 + length)
                    return (status, headers, body)
                }
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            buffer += chunk[0..<n]
        }
    }

    /// True when the server closed the connection (nothing more to read).
    func isClosed() -> Bool {
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, 0) == 0
    }

    private func find(_ pattern: [UInt8]) -> Int? {
        guard buffer.count >= pattern.count else { return nil }
        for i in 0...(buffer.count - pattern.count) where buffer[i..<(i + pattern.count)].elementsEqual(pattern) { return i }
        return nil
    }
}
