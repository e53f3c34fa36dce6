import JourneyCore

/// One entry of the store's `audit` database: who was shown which patient's data, and when, as
/// stores written by earlier releases hold them (keyed by a dense sequence number, append-only).
///
/// Reads are now recorded in the read audit file, `AuditLog`, with the reader's name and reason,
/// durably before each answer; this database is kept for the entries it already holds.
public struct AuditRecord: Sendable, Hashable {
    /// When the answer was given, ms since the epoch.
    public var at: Int64
    /// The peer's user and process, from SO_PEERCRED.
    public var uid: UInt32
    /// The peer's process id.
    public var pid: Int32
    /// The op (`patient`, `handoff`) and the id asked for.
    public var op: String
    /// The id asked for.
    public var id: String

    package init(at: Int64, uid: UInt32, pid: Int32, op: String, id: String) {
        self.at = at
        self.uid = uid
        self.pid = pid
        self.op = op
        self.id = id
    }

    /// Binary form: at (8, LE), uid (4), pid (4), op length (1), op, id length (2), id.
    package var encoded: [UInt8] {
        var b: [UInt8] = []
        withUnsafeBytes(of: at.littleEndian) { b.append(contentsOf: $0) }
        withUnsafeBytes(of: uid.littleEndian) { b.append(contentsOf: $0) }
        withUnsafeBytes(of: pid.littleEndian) { b.append(contentsOf: $0) }
        let op = Array(self.op.utf8.prefix(255)), id = Array(self.id.utf8.prefix(65535))
        b.append(UInt8(op.count))
        b.append(contentsOf: op)
        b.append(UInt8(id.count & 0xFF))
        b.append(UInt8(id.count >> 8))
        b.append(contentsOf: id)
        return b
    }

    /// Decodes `encoded`; nil when the bytes are not a record.
    package init?(decoding raw: UnsafeRawBufferPointer) {
        guard raw.count >= 19 else { return nil }
        func load<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            var v = T.zero
            withUnsafeMutableBytes(of: &v) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[offset..<offset + MemoryLayout<T>.size])) }
            return T(littleEndian: v)
        }
        at = load(0, Int64.self)
        uid = load(8, UInt32.self)
        pid = load(12, Int32.self)
        let opLen = Int(raw[16])
        guard raw.count >= 17 + opLen + 2 else { return nil }
        op = String(decoding: UnsafeRawBufferPointer(rebasing: raw[17..<17 + opLen]), as: UTF8.self)
        let idLen = Int(raw[17 + opLen]) | Int(raw[18 + opLen]) << 8
        let idStart = 19 + opLen
        guard raw.count == idStart + idLen else { return nil }
        id = String(decoding: UnsafeRawBufferPointer(rebasing: raw[idStart..<idStart + idLen]), as: UTF8.self)
    }
}

extension EventLog {
    /// The audit records at or after `since` (ms since the epoch), oldest first.
    public func auditRecords(since: Int64 = .min) throws(StoreError) -> [AuditRecord] {
        var out: [AuditRecord] = []
        for (seq, bytes) in try auditEntries() {
            guard let r = bytes.withUnsafeBytes({ AuditRecord(decoding: $0) }) else {
                throw StoreError(.corrupt, "audit record \(seq) does not decode")
            }
            if r.at >= since { out.append(r) }
        }
        return out
    }
}
