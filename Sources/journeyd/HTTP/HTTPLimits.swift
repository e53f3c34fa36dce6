/// Size caps of the HTTP request parser: a request past any of them is refused, never buffered.
struct HTTPLimits: Sendable {
    /// Longest request line and header section, in bytes (431 past it).
    var maxHeadBytes = 16 << 10
    /// Most header fields (431 past it).
    var maxHeaderCount = 100
    /// Longest body, in bytes, whether given by `Content-Length` or chunked (413 past it).
    var maxBodyBytes = 500 << 10
}
