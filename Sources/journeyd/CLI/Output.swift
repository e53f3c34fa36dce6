import Glibc
import Synchronization

/// Buffered writes to stdout and unbuffered lines to stderr.
enum Output {
    private static let pending = Mutex<[UInt8]>([])

    static func write(_ bytes: some Sequence<UInt8>) {
        pending.withLock { buffer in
            buffer.append(contentsOf: bytes)
            if buffer.count >= 1 << 16 { drain(&buffer) }
        }
    }

    static func line(_ s: String) {
        write(s.utf8 + [10])
    }

    static func flush() {
        pending.withLock { drain(&$0) }
    }

    private static func drain(_ buffer: inout [UInt8]) {
        var offset = 0
        while offset < buffer.count {
            let n = buffer.withUnsafeBytes { Glibc.write(1, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                break // stdout closed (e.g. piped into head): drop the rest
            }
            offset += n
        }
        buffer.removeAll(keepingCapacity: true)
    }

    static func error(_ s: String) {
        errorRaw(s + "\n")
    }

    /// Writes to stderr without a newline (progress lines redrawn with `\r`).
    static func errorRaw(_ s: String) {
        let bytes = Array(s.utf8)
        bytes.withUnsafeBytes { _ = Glibc.write(2, $0.baseAddress!, $0.count) }
    }

    /// Whether stderr is a terminal (progress bars redraw in place only there).
    static var stderrIsTTY: Bool { isatty(2) != 0 }
}
