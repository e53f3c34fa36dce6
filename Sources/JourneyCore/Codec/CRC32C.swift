import CChecksum

/// CRC-32C (Castagnoli: reflected polynomial 0x82F63B78, initial value and final XOR
/// 0xFFFFFFFF), the checksum of iSCSI, ext4 and SCTP: it detects every error of up to 3 bits,
/// every burst of up to 32 bits and all but 1 in 2^32 other changes of the records it guards.
///
/// Computed with the CPU's CRC-32C instruction where it has one (x86-64 with SSE 4.2: eight
/// bytes per instruction), else eight bytes at a time with eight 256-entry tables
/// ("slicing-by-8"): one 64-bit load and eight table lookups per eight bytes, about 1–2 bytes
/// per cycle in plain Swift. Both give the same values (the tests compare them).
package enum CRC32C {
    /// The reflected Castagnoli polynomial.
    static let polynomial: UInt32 = 0x82F6_3B78

    /// Eight tables of 256 entries, back to back: table 0 is the byte-at-a-time table, and
    /// table k advances a byte's remainder through k more zero bytes.
    static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ polynomial : c >> 1 }
            t[i] = c
        }
        for k in 1..<8 {
            for i in 0..<256 {
                let previous = t[(k - 1) * 256 + i]
                t[k * 256 + i] = (previous >> 8) ^ t[Int(previous & 0xFF)]
            }
        }
        return t
    }()

    /// The CRC-32C of `bytes`, or of the bytes checksummed before them followed by `bytes`
    /// when `previous` is that earlier checksum.
    ///
    /// - Parameters:
    ///   - bytes: the bytes to checksum.
    ///   - previous: the checksum of the bytes before these (0, the checksum of nothing, to start).
    /// - Returns: the checksum, as it is published (`checksum("123456789") == 0xE3069283`).
    @inline(__always)
    package static func checksum(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
        guard journey_crc32c_has_hardware() != 0, let p = bytes.baseAddress else {
            return tableChecksum(bytes, continuing: previous)
        }
        return ~journey_crc32c_update(~previous, p, bytes.count)
    }

    /// Whether `checksum` uses the CPU's instruction on this machine.
    package static var usesHardware: Bool { journey_crc32c_has_hardware() != 0 }

    /// `checksum` with the tables, whatever the CPU.
    package static func tableChecksum(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
        var c = ~previous
        guard var p = bytes.baseAddress else { return previous }
        var n = bytes.count
        tables.withUnsafeBufferPointer { t in
            // Indices are masked to a byte plus a table's offset: always inside the 2,048 entries.
            while n >= 8 {
                let w = UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)) ^ UInt64(c)
                c = t[7 * 256 + Int(w & 0xFF)] ^ t[6 * 256 + Int((w >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((w >> 16) & 0xFF)] ^ t[4 * 256 + Int((w >> 24) & 0xFF)]
                    ^ t[3 * 256 + Int((w >> 32) & 0xFF)] ^ t[2 * 256 + Int((w >> 40) & 0xFF)]
                    ^ t[1 * 256 + Int((w >> 48) & 0xFF)] ^ t[Int(w >> 56)]
                p += 8
                n -= 8
            }
            while n > 0 {
                c = t[Int((c ^ UInt32(p.load(as: UInt8.self))) & 0xFF)] ^ (c >> 8)
                p += 1
                n -= 1
            }
        }
        return ~c
    }

    /// The CRC-32C of the bytes of an array.
    package static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}
