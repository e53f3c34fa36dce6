import Foundation
import Testing
@testable import JourneyCore

/// The CRC-32C of `bytes`, one bit at a time straight from the definition (reflected
/// polynomial 0x82F63B78): the reference the table-driven code is checked against.
private func bitwiseCRC32C(_ bytes: [UInt8]) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        c ^= UInt32(b)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
    }
    return ~c
}

@Suite("CRC-32C")
struct CRC32CTests {
    @Test("the published check values")
    func checkValues() {
        // The catalogue's check value (CRC-32/ISCSI) and RFC 3720 appendix B.4.
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }) == 0x113F_DB5C)
        #expect(CRC32C.checksum([]) == 0)
        // The reference agrees with the same values.
        #expect(bitwiseCRC32C(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test("eight bytes at a time equals one bit at a time, at every length and alignment")
    func matchesReference() {
        var state: UInt64 = 0x1234_5678
        let data: [UInt8] = (0..<300).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
        for start in 0..<8 {
            for length in 0...(data.count - start) where length < 40 || length % 17 == 0 {
                let slice = Array(data[start..<start + length])
                let bytes = { (body: (UnsafeRawBufferPointer) -> UInt32) in
                    data.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[start..<start + length])) }
                }
                let expected = bitwiseCRC32C(slice)
                // The path this CPU takes (its instruction where it has one), and the tables.
                #expect(bytes { CRC32C.checksum($0) } == expected, "start \(start), length \(length)")
                #expect(bytes { CRC32C.tableChecksum($0) } == expected, "tables: start \(start), length \(length)")
            }
        }
    }

    @Test("a checksum continues over bytes that follow")
    func continuing() {
        let a = Array("12345".utf8), b = Array("6789".utf8)
        let first = CRC32C.checksum(a)
        let whole = b.withUnsafeBytes { CRC32C.checksum($0, continuing: first) }
        #expect(whole == 0xE306_9283)
        #expect(b.withUnsafeBytes { CRC32C.tableChecksum($0, continuing: a.withUnsafeBytes { CRC32C.tableChecksum($0) }) } == 0xE306_9283)
        // Split at every point of a longer run, on both paths.
        let run = (0..<100).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let all = bitwiseCRC32C(run)
        for cut in 0...run.count {
            let head = Array(run[..<cut]), tail = Array(run[cut...])
            let hw = tail.withUnsafeBytes { CRC32C.checksum($0, continuing: CRC32C.checksum(head)) }
            let tables = tail.withUnsafeBytes { CRC32C.tableChecksum($0, continuing: head.withUnsafeBytes { CRC32C.tableChecksum($0) }) }
            #expect(hw == all && tables == all, "cut at \(cut)")
        }
    }

    @Test("the instruction path is taken where the CPU has it")
    func hardwareDetected() {
        // The flag must say what the CPU says: SSE 4.2 (which brings the instruction) on x86-64.
        #if arch(x86_64)
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        #expect(CRC32C.usesHardware == cpuinfo.contains(" sse4_2"))
        #else
        #expect(!CRC32C.usesHardware)
        #endif
    }
}

@Suite("record frame")
struct RecordFrameTests {
    private let record: [UInt8] = Array("123456789".utf8)

    @Test("sealed: the record, then its CRC-32C little-endian; opened: the record again")
    func sealAndOpen() throws {
        let framed = RecordFrame.sealed(record)
        #expect(framed == record + [0x83, 0x92, 0x06, 0xE3])
        let opened = try framed.withUnsafeBytes { Array(try RecordFrame.open($0)) }
        #expect(opened == record)
        // Sealing at an offset checksums only the bytes from there.
        var out: [UInt8] = [7, 7]
        out += record
        RecordFrame.seal(&out, recordStart: 2)
        #expect(out == [7, 7] + framed)
    }

    @Test("every single-bit flip of a frame, trailer included, is refused")
    func everyBitFlip() {
        let framed = RecordFrame.sealed(record)
        var refused = 0
        for i in 0..<framed.count {
            for bit in 0..<8 {
                var damaged = framed
                damaged[i] ^= 1 << UInt8(bit)
                let result = damaged.withUnsafeBytes { raw in Result { () throws(RecordFrame.Damage) in try RecordFrame.open(raw) }.map { _ in () } }
                if case .failure(let d) = result {
                    refused += 1
                    #expect(d.description.contains("checksum mismatch"))
                }
            }
        }
        #expect(refused == framed.count * 8)
    }

    @Test("a frame shorter than its trailer is refused, naming its size")
    func tooShort() {
        for n in 0..<RecordFrame.trailerSize {
            let bytes = [UInt8](repeating: 0, count: n)
            let result = bytes.withUnsafeBytes { raw in Result { () throws(RecordFrame.Damage) in try RecordFrame.open(raw) }.map { _ in () } }
            guard case .failure(let d) = result else { Issue.record("a \(n)-byte frame was accepted"); continue }
            #expect(d == RecordFrame.Damage(stored: nil, computed: nil, size: n))
            #expect(d.description == "stored record of \(n) bytes is too short for its checksum")
        }
        // The empty record has checksum 0: a 4-byte frame of zeros is a valid, empty record.
        let empty = [UInt8](repeating: 0, count: 4)
        #expect(empty.withUnsafeBytes { (try? RecordFrame.open($0))?.count } == 0)
    }
}
