import Glibc
import JourneyProtocol

/// An address to listen on: IPv4 or IPv6, and a port.
struct HTTPAddress: Sendable, Hashable, CustomStringConvertible {
    /// The host as given (`127.0.0.1`, `::1`).
    var host: String
    var port: UInt16
    var isIPv6: Bool

    /// Parses `HOST:PORT`, `[V6]:PORT` or `localhost:PORT` (127.0.0.1); nil when malformed.
    init?(_ text: String) {
        var hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            hostPart = text[text.index(after: text.startIndex)..<close]
            portPart = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        if hostPart == "localhost" { hostPart = "127.0.0.1" }
        guard let port = UInt16(portPart) else { return nil }
        host = String(hostPart)
        self.port = port
        isIPv6 = host.contains(":")
        var v4 = in_addr()
        var v6 = in6_addr()
        let ok = isIPv6 ? inet_pton(AF_INET6, host, &v6) == 1 : inet_pton(AF_INET, host, &v4) == 1
        guard ok else { return nil }
    }

    /// 127.0.0.0/8 or ::1: only this machine can connect.
    var isLoopback: Bool {
        if isIPv6 {
            var v6 = in6_addr()
            guard inet_pton(AF_INET6, host, &v6) == 1 else { return false }
            return withUnsafeBytes(of: &v6) { b in b.prefix(15).allSatisfy { $0 == 0 } && b[15] == 1 }
        }
        return host.hasPrefix("127.")
    }

    var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

// The TCP calls of the HTTP server; the rest of it sees descriptors and typed errors.
extension Syscall {
    /// A listening TCP socket bound to `address` (SO_REUSEADDR, close-on-exec); returns it and
    /// the port bound (the one chosen by the system when `address.port` is 0).
    ///
    /// The corresponding C functions are `socket`, `setsockopt`, `bind`, `listen` and `getsockname`.
    static func tcpListen(_ address: HTTPAddress, backlog: Int32) throws(SystemCallError) -> (fd: Int32, port: UInt16) {
        let family = address.isIPv6 ? AF_INET6 : AF_INET
        let fd = try retrying("socket") { Glibc.socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        do {
            var one: Int32 = 1
            _ = try retrying("setsockopt") { setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) }
            // sockaddr_in / sockaddr_in6 filled and lent to bind; getsockname reads the port back.
            if address.isIPv6 {
                var sa = sockaddr_in6()
                sa.sin6_family = sa_family_t(AF_INET6)
                sa.sin6_port = address.port.bigEndian
                _ = inet_pton(AF_INET6, address.host, &sa.sin6_addr)
                _ = try retrying("bind") {
                    withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
                }
            } else {
                var sa = sockaddr_in()
                sa.sin_family = sa_family_t(AF_INET)
                sa.sin_port = address.port.bigEndian
                _ = inet_pton(AF_INET, address.host, &sa.sin_addr)
                _ = try retrying("bind") {
                    withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
                }
            }
            _ = try retrying("listen") { Glibc.listen(fd, backlog) }
            var bound = sockaddr_in6()
            var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            _ = try retrying("getsockname") {
                withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    getsockname(fd, $0, &length) } }
            }
            // sin_port and sin6_port sit at the same offset, right after the family.
            let port = UInt16(bigEndian: bound.sin6_port)
            return (fd, port)
        } catch {
            Syscall.close(fd)
            throw error
        }
    }

    /// Disables Nagle's algorithm, so a response goes out at once.
    ///
    /// The corresponding C function is `setsockopt` with `TCP_NODELAY`.
    static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Stops reading (and, with `both`, writing) on a connected socket, waking a thread blocked in it.
    ///
    /// The corresponding C function is `shutdown`.
    static func shutdown(_ fd: Int32, both: Bool) {
        _ = Glibc.shutdown(fd, Int32(both ? SHUT_RDWR : SHUT_RD))
    }
}
