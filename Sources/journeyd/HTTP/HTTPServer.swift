import Dispatch
import Glibc
import JourneyCore
import JourneyProtocol
import Synchronization

/// What an HTTP server serves.
protocol HTTPHandler: Sendable {
    /// Looks at a request's head before its body is read: a response here (404, 401, 415, …)
    /// is sent at once and the connection closed, its body never read.
    func preflight(_ head: HTTPRequestHead) -> HTTPResponse?
    /// Answers a whole request (on the connection's thread; may block until the answer is known).
    func respond(to request: HTTPRequest) -> HTTPResponse
}

/// Limits and timeouts of an `HTTPServer`.
struct HTTPConfig: Sendable {
    var limits = HTTPLimits()
    /// How long a kept-alive connection may wait for its next request.
    var idleTimeout: Duration = .seconds(30)
    /// How long a request may take to arrive, from its first byte to its last (408 past it).
    var readTimeout: Duration = .seconds(10)
    /// How long a response may take to be taken by the client.
    var writeTimeout: Duration = .seconds(10)
    /// Most connections served at once; more are answered 503 and closed.
    var maxConnections = 128
    var backlog: Int32 = 128
}

/// A small HTTP/1.1 server on TCP: one thread accepts, one thread serves each connection
/// (requests in order, kept alive unless the client or an error closes it). Requests are read
/// under the caps and timeouts of `HTTPConfig` and parsed by `HTTPRequestParser`.
final class HTTPServer: Sendable {
    let address: HTTPAddress
    let config: HTTPConfig
    let handler: any HTTPHandler

    private struct State {
        var listenFd: Int32 = -1
        var port: UInt16 = 0
        var connections: Set<Int32> = []
        var stopping = false
        var acceptThread: JoinableThread?
    }
    private let state = Mutex(State())
    private let connectionsDone = DispatchGroup()

    init(address: HTTPAddress, config: HTTPConfig = HTTPConfig(), handler: any HTTPHandler) {
        self.address = address
        self.config = config
        self.handler = handler
    }

    /// The port listened on (the system's choice when the address gave 0).
    var port: UInt16 { state.withLock { $0.port } }

    /// Binds and starts accepting.
    func start() throws(SystemCallError) {
        let (fd, port) = try Syscall.tcpListen(address, backlog: config.backlog)
        state.withLock {
            $0.listenFd = fd
            $0.port = port
            $0.acceptThread = startJoinableThread { [self] in acceptLoop(fd) }
        }
    }

    /// Stops accepting, wakes every connection waiting for a request, and waits (up to the
    /// write timeout) for those answering one to finish.
    func stop() {
        let (thread, fds) = state.withLock { s -> (JoinableThread?, Set<Int32>) in
            s.stopping = true
            defer { s.acceptThread = nil }
            return (s.acceptThread, s.connections)
        }
        thread?.join()
        // Reading ends: a connection between requests sees the end of stream and closes; one
        // whose request is being answered still sends its response.
        for fd in fds { Syscall.shutdown(fd, both: false) }
        _ = connectionsDone.wait(timeout: .now() + config.writeTimeout.dispatchInterval)
    }

    private func acceptLoop(_ listenFd: Int32) {
        defer { Syscall.close(listenFd) }
        while !state.withLock({ $0.stopping }) {
            var fds = [pollfd(fd: listenFd, events: Int16(POLLIN), revents: 0)]
            guard (try? Syscall.poll(&fds, timeoutMs: 100)) ?? 0 > 0 else { continue }
            guard let client = try? Syscall.accept(listenFd) else { continue }
            Syscall.setNoDelay(client)
            let admitted = state.withLock { s -> Bool in
                guard !s.stopping, s.connections.count < config.maxConnections else { return false }
                s.connections.insert(client)
                return true
            }
            guard admitted else {
                let busy = HTTPResponse(status: 503, json: #"{"success":false,"code":"busy","message":"too many connections"}"#, close: true)
                _ = send(client, busy.bytes, deadline: .now + .milliseconds(100))
                Syscall.close(client)
                continue
            }
            connectionsDone.enter()
            startThread { [self] in
                serve(client)
                state.withLock { _ = $0.connections.remove(client) }
                Syscall.close(client)
                connectionsDone.leave()
            }
        }
    }

    // MARK: one connection

    /// Serves requests on `fd` until the client closes, asks to close, or breaks a rule.
    private func serve(_ fd: Int32) {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(64 << 10)
        while true {
            // The head: wait for its first byte as long as the idle timeout, then the whole
            // request within the read timeout.
            var deadline = ContinuousClock.now + (buffer.isEmpty ? config.idleTimeout : config.readTimeout)
            var started = !buffer.isEmpty
            var head: HTTPRequestHead
            var headLength: Int
            while true {
                let result = buffer.withUnsafeBufferPointer { HTTPRequestParser.parseHead($0, limits: config.limits) }
                if case .head(let h, let length) = result {
                    head = h
                    headLength = length
                    break
                }
                if case .failure(let e) = result {
                    refuse(fd, e)
                    return
                }
                switch read(fd, into: &buffer, deadline: deadline) {
                case .data:
                    if !started {
                        started = true
                        deadline = ContinuousClock.now + config.readTimeout
                    }
                case .end: return
                case .timeout:
                    if started { refuse(fd, HTTPError(408, "the request took longer than \(config.readTimeout) to arrive")) }
                    return
                }
            }
            if case .length(let n) = head.framing, n > config.limits.maxBodyBytes {
                refuse(fd, HTTPError(413, "body over \(config.limits.maxBodyBytes) bytes"))
                return
            }
            if var early = handler.preflight(head) {
                early.close = true
                _ = send(fd, early.bytes, deadline: .now + config.writeTimeout)
                return
            }
            if head.expectsContinue && buffer.count == headLength {
                guard send(fd, HTTPResponse.continueBytes, deadline: .now + config.writeTimeout) else { return }
            }
            // The body.
            var body: [UInt8] = []
            var consumed = headLength
            switch head.framing {
            case .none:
                break
            case .length(let n):
                while buffer.count - headLength < n {
                    switch read(fd, into: &buffer, deadline: deadline) {
                    case .data: continue
                    case .end: return
                    case .timeout:
                        refuse(fd, HTTPError(408, "the request took longer than \(config.readTimeout) to arrive"))
                        return
                    }
                }
                body = Array(buffer[headLength..<headLength + n])
                consumed = headLength + n
            case .chunked:
                var decoder = ChunkedBodyDecoder(limits: config.limits)
                var offset = headLength
                while true {
                    do {
                        offset += try buffer.withUnsafeBufferPointer { b throws(HTTPError) in
                            try decoder.feed(UnsafeBufferPointer(rebasing: b[offset...]))
                        }
                    } catch {
                        refuse(fd, error)
                        return
                    }
                    if decoder.isComplete { break }
                    switch read(fd, into: &buffer, deadline: deadline) {
                    case .data: continue
                    case .end: return
                    case .timeout:
                        refuse(fd, HTTPError(408, "the request took longer than \(config.readTimeout) to arrive"))
                        return
                    }
                }
                body = decoder.body
                consumed = offset
            }
            buffer.removeFirst(consumed)
            var response = handler.respond(to: HTTPRequest(head: head, body: body))
            if !head.keepAlive || state.withLock({ $0.stopping }) { response.close = true }
            guard send(fd, response.bytes, deadline: .now + config.writeTimeout), !response.close else { return }
        }
    }

    /// Answers a request that broke a rule of the protocol, then the connection closes.
    private func refuse(_ fd: Int32, _ e: HTTPError) {
        var w = JSONWriter()
        w.beginObject()
        w.key("success"); w.bool(false)
        w.key("code"); w.string(e.status == 413 ? "payload_too_large" : e.status == 408 ? "timeout" : "invalid_request")
        w.key("message"); w.string(e.message)
        w.endObject()
        let response = HTTPResponse(status: e.status, json: w.string, close: true)
        _ = send(fd, response.bytes, deadline: .now + config.writeTimeout)
    }

    private enum ReadOutcome { case data, end, timeout }

    /// Reads what is available into `buffer`, waiting until `deadline`.
    private func read(_ fd: Int32, into buffer: inout [UInt8], deadline: ContinuousClock.Instant) -> ReadOutcome {
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return .timeout }
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
            guard let ready = try? Syscall.poll(&fds, timeoutMs: Int32(clamping: left.milliseconds + 1)) else { return .end }
            if ready == 0 { continue }
            let n: Int?
            do { n = try chunk.withUnsafeMutableBytes { b throws(SystemCallError) in try Syscall.read(fd, into: b) } } catch {
                return .end
            }
            guard let n else { continue }
            if n == 0 { return .end }
            buffer.append(contentsOf: chunk[0..<n])
            return .data
        }
    }

    /// Sends all of `bytes` by `deadline`; false when the client is gone or too slow.
    private func send(_ fd: Int32, _ bytes: [UInt8], deadline: ContinuousClock.Instant) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n: Int?
            do {
                n = try bytes.withUnsafeBytes { b throws(SystemCallError) in
                    try Syscall.send(fd, UnsafeRawBufferPointer(rebasing: b[sent...]))
                }
            } catch {
                return false
            }
            if let n {
                sent += n
                continue
            }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return false }
            var fds = [pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)]
            _ = try? Syscall.poll(&fds, timeoutMs: Int32(clamping: left.milliseconds + 1))
        }
        return true
    }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }
}
