/// The frame around each event record in the store (store format 2): the `EventRecord`'s bytes,
/// then the CRC-32C of those bytes, 4 bytes little-endian.
///
/// | offset | size | content |
/// | --- | --- | --- |
/// | 0 | n | the `EventRecord` |
/// | n | 4 | `CRC32C.checksum` of bytes 0..<n, little-endian |
///
/// The checksum is written where the record is encoded (`seal`) and checked on every read of a
/// stored record (`open`), before any byte of the record is trusted: a record changed on disk is
/// refused as a whole, never read as another valid event.
package enum RecordFrame {
    /// The size of the checksum trailer.
    package static let trailerSize = 4

    /// A stored record whose frame does not hold: too short for its trailer, or its checksum
    /// differs from its bytes'.
    package struct Damage: Error, Sendable, Equatable, CustomStringConvertible {
        /// The checksum stored in the trailer (nil when the frame is too short to have one).
        package var stored: UInt32?
        /// The checksum of the record's bytes as read.
        package var computed: UInt32?
        /// The frame's size in bytes.
        package var size: Int

        /// The damage in a sentence, with both checksums in hex.
        package var description: String {
            guard let stored, let computed else {
                return "stored record of \(size) bytes is too short for its checksum"
            }
            return "checksum mismatch (stored \(hex(stored)), computed \(hex(computed)) over \(size - RecordFrame.trailerSize) bytes): the record changed after it was written"
        }

        private func hex(_ v: UInt32) -> String {
            let digits = String(v, radix: 16)
            return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
        }
    }

    /// Appends the checksum of `out[recordStart...]` (one record just encoded) to `out`.
    package static func seal(_ out: inout [UInt8], recordStart: Int) {
        let crc = out.withUnsafeBytes { all in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: all[recordStart...]))
        }
        var le = crc.littleEndian
        withUnsafeBytes(of: &le) { out.append(contentsOf: $0) }
    }

    /// The framed form of `record`.
    package static func sealed(_ record: [UInt8]) -> [UInt8] {
        var out = record
        out.reserveCapacity(record.count + trailerSize)
        seal(&out, recordStart: 0)
        return out
    }

    /// The record inside `frame` once its checksum holds (a view into the same memory).
    ///
    /// - Throws: `Damage` when the frame is shorter than its trailer or the checksum differs.
    @inline(__always)
    package static func open(_ frame: UnsafeRawBufferPointer) throws(Damage) -> UnsafeRawBufferPointer {
        let n = frame.count - trailerSize
        guard n >= 0 else { throw Damage(stored: nil, computed: nil, size: frame.count) }
        let record = UnsafeRawBufferPointer(rebasing: frame[0..<n])
        let stored = UInt32(littleEndian: frame.loadUnaligned(fromByteOffset: n, as: UInt32.self))
        let computed = CRC32C.checksum(record)
        guard stored == computed else { throw Damage(stored: stored, computed: computed, size: frame.count) }
        return record
    }

    /// The record inside a frame this program sealed itself and has kept in its memory since,
    /// without checking the checksum again.
    @inline(__always)
    package static func record(trusted frame: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: frame[0..<frame.count - trailerSize])
    }
}
