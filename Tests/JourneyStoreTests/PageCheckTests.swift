import Foundation
import Glibc
import JourneyCore
import Testing
@testable import JourneyStore

// `LMDBPageCheck` on compacted copies of a store (every page from 2 on in use, so a page chosen
// by its kind is a live one), each damaged in one field of LMDB's page layout that would make
// LMDB or a reader of its memory fault: the open refuses the store as corrupt, naming the page.

/// A store with branch, leaf and overflow pages (a checkpoint of 20 KB), compacted into
/// `dir`/`name`; answers its path and page size.
private func compactedStore(_ dir: StoreTestDirectory, _ name: String = "copy") throws -> String {
    let log = try EventLog(directory: dir.sub("live"))
    _ = try log.append((0..<1_500).map { storeEvent("event-\($0)", "patient-\($0 % 97)", source: "google") })
    try log.saveCheckpoint(name: "projector", position: 1_500, data: [UInt8](repeating: 7, count: 20_000))
    try log.backup(to: dir.sub(name))
    return dir.sub(name)
}

private struct PageFile {
    var bytes: [UInt8]
    let pageSize = 4096
    var pageCount: Int { bytes.count / pageSize }

    init(_ path: String) throws { bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))) }
    func save(_ path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path + "/data.mdb")) }

    func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
    mutating func put16(_ o: Int, _ v: Int) { bytes[o] = UInt8(v & 0xFF); bytes[o + 1] = UInt8(v >> 8 & 0xFF) }
    func flags(_ page: Int) -> Int { u16(page * pageSize + 10) }
    /// The first page from 2 on with exactly these flags.
    func first(flags f: Int) -> Int? { (2..<pageCount).first { flags($0) == f } }
}

/// Opening the damaged store is refused as corrupt, with `words` in the message; so is a check.
private func expectRefused(_ path: String, page: Int?, _ words: String) {
    let error = #expect(throws: StoreError.self) { try EventLog(directory: path, access: .readOnly) }
    #expect(error?.code == .corrupt)
    #expect(error?.message.contains(words) == true, "\(error?.message ?? "")")
    if let page { #expect(error?.message.contains("page \(page)") == true, "\(error?.message ?? "")") }
}

@Suite("page structure check")
struct PageCheckTests {
    @Test("a healthy store passes, every page reached once")
    func healthy() throws {
        let dir = StoreTestDirectory()
        let path = try compactedStore(dir)
        let file = try PageFile(path)
        let summary = try LMDBPageCheck.check(directory: path)
        // Compacted: every page of the file is in use (no free list).
        #expect(summary.pages == file.pageCount)
        #expect(summary.pageSize == 4096)
        #expect(try EventLog(directory: path).verify().pagesChecked == file.pageCount)
    }

    @Test("a leaf page carrying another page's number")
    func leafNumber() throws {
        let dir = StoreTestDirectory()
        let path = try compactedStore(dir)
        var file = try PageFile(path)
        let leaf = try #require(file.first(flags: 0x02))
        file.bytes[leaf * 4096] ^= 0x01
        try file.save(path)
        expectRefused(path, page: leaf, "carries number")
    }

    @Test("a branch pointing outside the file")
    func branchPointer() throws {
        let dir = StoreTestDirectory()
        let path = try compactedStore(dir)
        var file = try PageFile(path)
        let branch = try #require(file.first(flags: 0x01))
        let node = branch * 4096 + file.u16(branch * 4096 + 16)
        file.put16(node + 2, 0x7FFF)  // the child's page number, bits 16–31
        try file.save(path)
        expectRefused(path, page: nil, "outside pages 2…")
    }

    @Test("a leaf node's value size running past its page")
    func valueSize() throws {
        let dir = StoreTestDirectory()
        let path = try compactedStore(dir)
        var file = try PageFile(path)
        let leaf = try #require(file.first(flags: 0x02))
        let node = leaf * 4096 + file.u16(leaf * 4096 + 16)
        file.put16(node + 2, 8)  // size bits 16–31: 512 KiB more
        try file.save(path)
        expectRefused(path, page: leaf, "runs past the page")
    }

    @Test("a node offset outside its page's bounds")
    func nodeOffset() throws {
        let dir = StoreTestDirectory()
        let path = try compactedStore(dir)
        var file = try PageFile(path)
        let leaf = try #require(file.first(flags: 0x02))
        file.put16(leaf * 4096 + 16, 4095)
        try file.save(path)
        expectRefused(path, page: leaf, "is outside")
    }

    @Test("an overflow page count reaching past the file")
    func overflowCount() throws {
        let dir = StoreTestDirectory()
        let path = try compactedStore(dir)
        var file = try PageFile(path)
        let overflow = try #require(file.first(flags: 0x04))
        file.put16(overflow * 4096 + 14, 0x10)  // the page count's high half
        try file.save(path)
        expectRefused(path, page: overflow, "overflow pages cannot hold")
    }

    @Test("a subject's duplicates sub-page with its bounds crossed, read in place inside its node")
    func duplicatesSubPage() throws {
        let dir = StoreTestDirectory()
        let path = try compactedStore(dir)
        var file = try PageFile(path)
        // The first leaf node holding its duplicates in a sub-page (F_DUPDATA without
        // F_SUBDATA): a subject of the `subjects` index with its ~15 positions.
        var found: (page: Int, subPage: Int)?
        for page in 2..<file.pageCount where file.flags(page) == 0x02 && found == nil {
            let base = page * 4096
            let n = (file.u16(base + 12) - 16) / 2
            for i in 0..<n {
                let node = base + file.u16(base + 16 + 2 * i)
                if file.u16(node + 4) & 0x06 == 0x04 {
                    found = (page, node + 8 + file.u16(node + 6))
                    break
                }
            }
        }
        let (page, subPage) = try #require(found)
        #expect(file.u16(subPage + 10) & 0x40 != 0)  // P_SUBP: it is a sub-page
        // Its lower bound (offset 12) past its upper (offset 14).
        let upper = file.u16(subPage + 14), flags = file.u16(subPage + 10)
        file.put16(subPage + 12, upper + 2)
        try file.save(path)
        // The message gives the sub-page's own flags and bounds: read from inside the node.
        expectRefused(path, page: page, "duplicate sub-page has flags \(flags), bounds \(upper + 2)…\(upper) of")
    }

    @Test("a page's lower and upper bounds crossed")
    func bounds() throws {
        let dir = StoreTestDirectory()
        let path = try compactedStore(dir)
        var file = try PageFile(path)
        let leaf = try #require(file.first(flags: 0x02))
        file.put16(leaf * 4096 + 12, 5000)
        try file.save(path)
        expectRefused(path, page: leaf, "bounds lower 5000")
    }

    @Test("a file cut short of its last page")
    func truncated() throws {
        let dir = StoreTestDirectory()
        let path = try compactedStore(dir)
        var file = try PageFile(path)
        file.bytes.removeLast(3 * 4096)
        try file.save(path)
        expectRefused(path, page: nil, "past the end of the file")
    }
}
