/// Projection checkpoints: a named blob tagged with the log position it reflects.
///
/// A blob is stored as chunks of at most `chunkSize` bytes under `name NUL index` (big-endian
/// u32); index 0 holds the header (position, total length, chunk count). Chunking keeps every
/// LMDB value small, so a blob of hundreds of MB never needs one huge contiguous page run.
extension EventLog {
    static let checkpointChunkSize = 1 << 20

    /// Saves `data` as checkpoint `name` at `position`, replacing any previous one, in one transaction.
    ///
    /// - Throws: `StoreError` `.invalidArgument` for an empty name, one containing NUL, or one over
    ///   400 bytes.
    package func saveCheckpoint(name: String, position: UInt64, data: [UInt8]) throws(StoreError) {
        let prefix = try Self.checkpointPrefix(name)
        let chunk = Self.checkpointChunkSize
        let chunks = (data.count + chunk - 1) / chunk
        try write(estimatedBytes: data.count + data.count / 8 + 4096, reserve: true) { txn in
            // Remove the previous chunks (the old header says how many).
            let old = try txn.withValue(self.checkpoints, forKey: prefix + Self.be32(0)) { Self.checkpointHeader($0) }
            if let old, let (_, _, oldChunks) = old {
                for i in 0...oldChunks { try txn.delete(self.checkpoints, key: prefix + Self.be32(UInt32(i))) }
            }
            var header: [UInt8] = []
            header += Self.be64(position)
            header += Self.be64(UInt64(data.count))
            header += Self.be32(UInt32(chunks))
            try txn.put(self.checkpoints, key: prefix + Self.be32(0), value: header)
            try data.withUnsafeBytes { all in
                for i in 0..<chunks {
                    let slice = UnsafeRawBufferPointer(rebasing: all[(i * chunk)..<min(data.count, (i + 1) * chunk)])
                    try (prefix + Self.be32(UInt32(i + 1))).withUnsafeBytes { key in
                        try txn.put(self.checkpoints, key: key, value: slice)
                    }
                }
            }
        }
    }

    /// The checkpoint saved under `name`, or nil when none was.
    package func loadCheckpoint(name: String) throws(StoreError) -> (position: UInt64, data: [UInt8])? {
        let prefix = try Self.checkpointPrefix(name)
        return try read { txn in
            let header = try txn.withValue(self.checkpoints, forKey: prefix + Self.be32(0)) { Self.checkpointHeader($0) }
            guard let header else { return nil }
            guard let (position, length, chunks) = header else {
                throw StoreError(.corrupt, "checkpoint \"\(name)\" has a malformed header")
            }
            var data: [UInt8] = []
            data.reserveCapacity(length)
            for i in 0..<chunks {
                let found: Void? = try txn.withValue(self.checkpoints, forKey: prefix + Self.be32(UInt32(i + 1))) {
                    data.append(contentsOf: $0)
                }
                guard found != nil else { throw StoreError(.corrupt, "checkpoint \"\(name)\" is missing chunk \(i + 1)") }
            }
            guard data.count == length else {
                throw StoreError(.corrupt, "checkpoint \"\(name)\" holds \(data.count) bytes, its header says \(length)")
            }
            return (position, data)
        }
    }

    /// The names of the saved checkpoints.
    package func checkpointNames() throws(StoreError) -> [String] {
        try read { txn in
            var names: [String] = []
            try txn.withCursor(self.checkpoints) { c in
                var op = LMDBCursor.Operation.first
                while let name = try c.get(op, { k, _ -> String? in
                    // Header keys end with NUL + index 0.
                    guard k.count > 5, k[k.count - 5] == 0, k.suffix(4).allSatisfy({ $0 == 0 }) else { return nil }
                    return String(decoding: k.prefix(k.count - 5), as: UTF8.self)
                }) {
                    if let name { names.append(name) }
                    op = .next
                }
            }
            return names
        }
    }

    static func checkpointPrefix(_ name: String) throws(StoreError) -> [UInt8] {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= 400, !bytes.contains(0) else {
            throw StoreError(.invalidArgument, "checkpoint name must be 1–400 bytes without NUL: \"\(name)\"")
        }
        return bytes + [0]
    }

    static func checkpointHeader(_ raw: UnsafeRawBufferPointer) -> (UInt64, Int, Int)? {
        guard raw.count == 20 else { return nil }
        let p = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        let n = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        let c = UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
        guard n <= UInt64(Int.max), (Int(n) + checkpointChunkSize - 1) / checkpointChunkSize == Int(c) else { return nil }
        return (p, Int(n), Int(c))
    }

    static func be64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
    static func be32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
}
