/// One record of the read audit (`DIR/audit.log`): who was shown which patients, when, and why.
///
/// Every answer that names or lists patients is recorded this way before it is given, whatever
/// the path (the socket, the command line, an embedding service); see `AuditLog`.
public struct AuditEntry: Sendable, Hashable {
    /// When the answer was given, ms since the epoch.
    public var at: Int64
    /// The reader's user id (the socket peer's, or this process's).
    public var uid: UInt32
    /// The reader's process id.
    public var pid: Int32
    /// Who asked, as they named themselves (`as` on a request, `--as` on the command line, the
    /// embedding service's `AuditContext`); nil when a socket client gave none.
    public var actor: String?
    /// The op (`patient`, `handoff`, `at_risk`, `subscribe`, `export`, `audit`, …).
    public var op: String
    /// The request's parameters, as one JSON object.
    public var parameters: String
    /// The canonical ids the answer named, when there were at most `AuditEntry.maxIds`
    /// (empty otherwise, and for answers that stream the log: `subscribe`, `export`).
    public var ids: [String]
    /// How many patients the answer named (0 for a lookup that found nothing; for `subscribe`
    /// and `export`, which stream events, 0 and the parameters give the range).
    public var count: Int
    /// Why, when the reader said (`reason` on a request, `--reason` on the command line).
    public var reason: String?

    /// Lists of more patients than this are recorded by their count only.
    public static let maxIds = 100

    /// A record; `ids` is kept only when there are at most `maxIds` of them, `count` is their number.
    public init(at: Int64, uid: UInt32, pid: Int32, actor: String?, op: String, parameters: String,
                ids: [String], reason: String?) {
        self.at = at
        self.uid = uid
        self.pid = pid
        self.actor = actor
        self.op = op
        self.parameters = parameters
        self.count = ids.count
        self.ids = ids.count <= Self.maxIds ? ids : []
        self.reason = reason
    }

    /// Most bytes of one encoded record (a record over it is refused when read).
    static let maxEncodedBytes = 1 << 20
    /// Marks an absent optional string.
    private static let absent = UInt32.max

    /// The payload of a frame: at (8, LE), uid (4), pid (4), count (4), then op, actor, reason
    /// and parameters as strings (length u32 LE, then UTF-8; length 0xFFFFFFFF for an absent
    /// actor or reason), then the number of ids (u32) and each id as a string.
    var encoded: [UInt8] {
        var b: [UInt8] = []
        b.reserveCapacity(64 + op.utf8.count + parameters.utf8.count + ids.reduce(0) { $0 + $1.utf8.count + 4 })
        func int<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { b.append(contentsOf: $0) } }
        func string(_ s: String?) {
            guard let s else { return int(Self.absent) }
            int(UInt32(s.utf8.count))
            b.append(contentsOf: s.utf8)
        }
        int(at)
        int(uid)
        int(pid)
        int(UInt32(clamping: count))
        string(op)
        string(actor)
        string(reason)
        string(parameters)
        int(UInt32(ids.count))
        for id in ids { string(id) }
        return b
    }

    /// Decodes `encoded`; nil unless the bytes are exactly one well-formed record (every
    /// length inside the buffer, UTF-8 strings, at most `maxIds` ids and no more than `count`).
    init?(decoding raw: UnsafeRawBufferPointer) {
        guard raw.count <= Self.maxEncodedBytes else { return nil }
        var reader = Reader(raw: raw)
        guard let at = reader.int(Int64.self), let uid = reader.int(UInt32.self), let pid = reader.int(Int32.self),
              let count = reader.int(UInt32.self),
              case let op?? = reader.string(), let actor = reader.string(), let reason = reader.string(),
              case let parameters?? = reader.string(),
              let idCount = reader.int(UInt32.self), idCount <= Self.maxIds, idCount <= count
        else { return nil }
        var ids: [String] = []
        for _ in 0..<idCount {
            guard case let id?? = reader.string() else { return nil }
            ids.append(id)
        }
        guard reader.offset == raw.count else { return nil }
        (self.at, self.uid, self.pid, self.count) = (at, uid, pid, Int(count))
        (self.op, self.actor, self.reason, self.parameters, self.ids) = (op, actor, reason, parameters, ids)
    }

    /// Reads fields in order, never past the buffer.
    private struct Reader {
        let raw: UnsafeRawBufferPointer
        var offset = 0

        mutating func int<T: FixedWidthInteger>(_: T.Type) -> T? {
            let size = MemoryLayout<T>.size
            guard raw.count - offset >= size else { return nil }
            var v = T.zero
            withUnsafeMutableBytes(of: &v) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[offset..<offset + size])) }
            offset += size
            return T(littleEndian: v)
        }

        /// nil: malformed; .some(nil): absent; .some(s): a string.
        mutating func string() -> String?? {
            guard let length = int(UInt32.self) else { return nil }
            if length == AuditEntry.absent { return .some(nil) }
            guard Int(length) <= raw.count - offset else { return nil }
            let bytes = UnsafeRawBufferPointer(rebasing: raw[offset..<offset + Int(length)])
            offset += Int(length)
            guard let s = String(validating: bytes, as: UTF8.self) else { return nil }
            return .some(s)
        }
    }
}
