/// Decodes a chunked body (RFC 9112 §7.1) fed in pieces of any size: chunk sizes in hex with
/// optional extensions (ignored), chunk data followed by CRLF, a last chunk of size 0 and
/// optional trailer fields (ignored), ending with an empty line.
///
/// Bounded: a chunk-size line or trailer line over 4 KiB, trailers over `maxHeadBytes`, or a
/// body over `maxBodyBytes` fail (413 for the body, 400 otherwise) without buffering more.
struct ChunkedBodyDecoder: Sendable {
    private enum State: Sendable {
        case size, data(remaining: Int), dataCR, dataLF, trailer, done
    }

    let limits: HTTPLimits
    /// The body decoded so far.
    private(set) var body: [UInt8] = []
    private var state = State.size
    private var line: [UInt8] = []
    private var trailerBytes = 0
    private static let maxLineBytes = 4096

    init(limits: HTTPLimits) {
        self.limits = limits
    }

    /// The last chunk and the trailers have been read.
    var isComplete: Bool {
        if case .done = state { return true }
        return false
    }

    /// Decodes from `bytes`; returns how many it used (all of them unless the body ended first:
    /// the rest belongs to the next request).
    mutating func feed(_ bytes: UnsafeBufferPointer<UInt8>) throws(HTTPError) -> Int {
        var i = 0
        let n = bytes.count
        while i < n {
            switch state {
            case .done:
                return i
            case .size, .trailer:
                let c = bytes[i]
                i += 1
                if c != UInt8(ascii: "\n") {
                    line.append(c)
                    guard line.count <= Self.maxLineBytes else { throw HTTPError(400, "a chunk line over 4 KiB") }
                    continue
                }
                guard line.last == UInt8(ascii: "\r") else { throw HTTPError(400, "a chunk line ends without CR") }
                line.removeLast()
                if case .size = state {
                    let size = try Self.size(line)
                    line.removeAll(keepingCapacity: true)
                    if size == 0 {
                        state = .trailer
                    } else {
                        guard size <= limits.maxBodyBytes - body.count else {
                            throw HTTPError(413, "body over \(limits.maxBodyBytes) bytes")
                        }
                        state = .data(remaining: size)
                    }
                } else {
                    if line.isEmpty {
                        state = .done
                        return i
                    }
                    trailerBytes += line.count + 2
                    guard trailerBytes <= limits.maxHeadBytes else { throw HTTPError(431, "trailer fields too large") }
                    guard !line.contains(where: { $0 < 0x20 && $0 != 0x09 }) else {
                        throw HTTPError(400, "a control character in a trailer field")
                    }
                    line.removeAll(keepingCapacity: true)
                }
            case .data(let remaining):
                let take = Swift.min(remaining, n - i)
                body.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[i..<i + take]))
                i += take
                state = remaining == take ? .dataCR : .data(remaining: remaining - take)
            case .dataCR:
                guard bytes[i] == UInt8(ascii: "\r") else { throw HTTPError(400, "chunk data longer than its size") }
                i += 1
                state = .dataLF
            case .dataLF:
                guard bytes[i] == UInt8(ascii: "\n") else { throw HTTPError(400, "chunk data not followed by CRLF") }
                i += 1
                state = .size
            }
        }
        return i
    }

    /// The chunk size of a size line: hex digits, then optional `;extension`s.
    private static func size(_ line: [UInt8]) throws(HTTPError) -> Int {
        var size = 0
        var digits = 0
        var i = 0
        while i < line.count, let d = hexValue(line[i]) {
            digits += 1
            guard digits <= 15 else { throw HTTPError(413, "a chunk size too large") }
            size = size * 16 + d
            i += 1
        }
        guard digits > 0 else { throw HTTPError(400, "a bad chunk size") }
        while i < line.count, line[i] == 0x20 || line[i] == 0x09 { i += 1 }
        guard i == line.count || line[i] == UInt8(ascii: ";") else { throw HTTPError(400, "a bad chunk size") }
        guard !line[i...].contains(where: { $0 < 0x20 && $0 != 0x09 || $0 == 0x7F }) else {
            throw HTTPError(400, "a control character in a chunk extension")
        }
        return size
    }

    private static func hexValue(_ c: UInt8) -> Int? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(c - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(c - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
