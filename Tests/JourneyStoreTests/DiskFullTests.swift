import Glibc
import JourneyCore
import Testing
@testable import JourneyStore

/// A size-limited tmpfs mounted on a fresh temporary directory, or nil (with the reason printed)
/// when this process may not mount one.
final class SmallFilesystem {
    let path: String
    private var mounted = false

    init?(megabytes: Int) {
        var template = Array("/tmp/journey-diskfull-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { return nil }
        path = String(cString: made)
        guard geteuid() == 0 else {
            print("DiskFullTests: skipped: mounting a \(megabytes) MiB tmpfs needs root")
            rmdir(path)
            return nil
        }
        guard mount("tmpfs", path, "tmpfs", 0, "size=\(megabytes)m,mode=0700") == 0 else {
            print("DiskFullTests: skipped: mount -t tmpfs failed: \(String(cString: strerror(errno)))")
            rmdir(path)
            return nil
        }
        mounted = true
    }

    /// Unmounts (lazily, so a file still open cannot keep it mounted) and removes the mount point.
    deinit {
        guard mounted else { return }  // a failed init removed the directory already
        if umount2(path, 2 /* MNT_DETACH */) != 0 {
            print("DiskFullTests: umount \(path) failed: \(String(cString: strerror(errno)))")
        }
        rmdir(path)
    }

    /// Writes a file of `bytes` bytes (really allocated) and answers its path.
    func fill(_ name: String, bytes: Int) -> String? {
        let file = path + "/" + name
        let fd = open(file, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0xA5, count: 64 << 10)
        var written = 0
        while written < bytes {
            let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress!, min($0.count, bytes - written)) }
            guard n > 0 else { return nil }
            written += n
        }
        return file
    }
}

@Suite("A store on a full filesystem")
struct DiskFullTests {
    @Test("appends fail with disk_full, nothing acknowledged is lost, appends resume once space is freed")
    func diskFull() throws {
        guard let fs = SmallFilesystem(megabytes: 3) else { return }
        let store = fs.path + "/store"
        // Freed later, to make room without remounting.
        let filler = try #require(fs.fill("filler", bytes: 3 << 19))
        var acknowledged: [String] = []
        var refused: [Event] = []
        var failure: StoreError?
        do {
            let engine = try JourneyEngine(directory: store)
            // Events of about 700 bytes, so a few thousand fill the filesystem.
            let note = String(repeating: "a long note about the visit. ", count: 22)
            for b in 0..<500 {
                let batch = (0..<50).map { i in
                    Event(id: "e\(b)-\(i)", type: .chat, subject: "p\((b * 50 + i) % 300)",
                          at: 1_750_000_000_000 + Int64(b * 50 + i), message: note + "\(b)-\(i)")
                }
                do {
                    let outcomes = try engine.append(batch)
                    #expect(outcomes.map(\.position.rawValue) == (1...50).map { UInt64(acknowledged.count + $0) })
                    acknowledged += batch.map(\.id)
                } catch {
                    failure = error
                    refused = batch
                    break
                }
            }
            let f = try #require(failure, "3 MiB never filled up")
            #expect(f.code == .diskFull)
            #expect(f.message.contains("is full"))
            #expect(f.context.lmdb == LMDBError(rawValue: ENOSPC) || f.context.lmdb == LMDBError(rawValue: EIO))
            #expect(engine.log.writeFailure == nil)
            #expect(acknowledged.count >= 1000)

            // Every acknowledged event is there, nothing of the refused batch, projections alike.
            #expect(try engine.log.events().map(\.1.id) == acknowledged)
            #expect(try engine.log.verify().isClean)
            #expect(engine.projectionStats.events == acknowledged.count)
            #expect(try engine.log.positions(subject: refused[0].subject).allSatisfy { $0 <= UInt64(acknowledged.count) })

            // Room again: the refused batch goes in after the acknowledged ones.
            #expect(unlink(filler) == 0)
            let outcomes = try engine.append(refused)
            #expect(outcomes.map(\.position.rawValue) == (1...50).map { UInt64(acknowledged.count + $0) })
            acknowledged += refused.map(\.id)
            try engine.checkpoint()
            #expect(engine.projectionStats.events == acknowledged.count)
        }
        // Reopened from disk: the same events, a clean store, projections from the checkpoint.
        let engine = try JourneyEngine(directory: store)
        #expect(try engine.log.events().map(\.1.id) == acknowledged)
        #expect(try engine.log.verify().isClean)
        #expect(engine.projectionStats.events == acknowledged.count)
        withExtendedLifetime(fs) {}  // unmounted only now
    }
}
