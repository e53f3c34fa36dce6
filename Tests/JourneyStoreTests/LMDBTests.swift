import Testing
@testable import JourneyStore

@Suite("LMDB wrappers")
struct LMDBTests {
    @Test("errors carry their C names")
    func errorNames() {
        #expect(LMDBError.mapFull.name == "MDB_MAP_FULL")
        #expect(LMDBError.notFound.name == "MDB_NOTFOUND")
        #expect(LMDBError(rawValue: 28).name == "ENOSPC")
        #expect(LMDBError.mapFull.description.hasPrefix("MDB_MAP_FULL: "))
        #expect(LMDBError(rawValue: 12345).name == "12345")
    }

    @Test("a cursor's insert stores an absent key, and lends the value of a present one without changing it")
    func cursorInsert() throws {
        let dir = StoreTestDirectory()
        let env = try LMDBEnvironment(path: dir.path, maxDatabases: 1, mapSize: 1 << 24)
        let txn = try env.begin(readOnly: false)
        let ids = try txn.openDatabase("ids", flags: .create)
        try txn.put(ids, key: Array("b".utf8), value: [7, 7])
        let answers = try txn.withCursor(ids) { c -> [[UInt8]?] in
            try ["a", "b", "c", "a"].map { id in
                try Array(id.utf8).withUnsafeBytes { key in
                    try [UInt8(1)].withUnsafeBytes { value in try c.insert(key: key, value: value) { Array($0) } }
                }
            }
        }
        // "a" and "c" were absent (stored); "b" answers its value, as does "a" once stored.
        #expect(answers == [nil, [7, 7], nil, [1]])
        #expect(try txn.withValue(ids, forKey: Array("b".utf8)) { Array($0) } == [7, 7])
        #expect(try txn.withValue(ids, forKey: Array("c".utf8)) { Array($0) } == [1])
        #expect(try txn.stat(ids).entries == 3)
        // An empty key is refused as by `put`.
        #expect(throws: LMDBError.self) {
            _ = try txn.withCursor(ids) { c in
                try [UInt8(1)].withUnsafeBytes { value in
                    try c.insert(key: UnsafeRawBufferPointer(start: nil, count: 0), value: value) { _ in 0 }
                }
            }
        }
    }

    @Test("a cursor's puts in key order store what put would, with the same flags and armed faults")
    func cursorPuts() throws {
        let dir = StoreTestDirectory()
        let env = try LMDBEnvironment(path: dir.path, maxDatabases: 2, mapSize: 1 << 24)
        let txn = try env.begin(readOnly: false)
        let ids = try txn.openDatabase("ids", flags: .create)
        let dups = try txn.openDatabase("dups", flags: [.create, .dupSort])
        // 3,000 keys of 4 bytes, enough for several leaf pages; every third one stored first,
        // so the run's puts land both inside a page and on the pages after it.
        let keys = (0..<3000).map { i -> [UInt8] in withUnsafeBytes(of: UInt32(i).bigEndian) { Array($0) } }
        for k in stride(from: 0, to: keys.count, by: 3) { try txn.put(ids, key: keys[k], value: [1]) }
        _ = try txn.withCursor(ids) { c in
            for (i, k) in keys.enumerated() where i % 3 != 0 {
                try k.withUnsafeBytes { key in try [UInt8(2)].withUnsafeBytes { try c.put(key: key, value: $0, flags: .noOverwrite) } }
            }
            // A key already stored is refused as by `put`, and keeps its value.
            #expect(throws: LMDBError.keyExists) {
                try keys[6].withUnsafeBytes { key in try [UInt8(9)].withUnsafeBytes { try c.put(key: key, value: $0, flags: .noOverwrite) } }
            }
        }
        for (i, k) in keys.enumerated() {
            #expect(try txn.withValue(ids, forKey: k) { Array($0) } == [i % 3 == 0 ? 1 : 2])
        }
        #expect(try txn.stat(ids).entries == 3000)
        // Dupsort: the values of one key in order; an existing pair is refused with noDupData.
        _ = try txn.withCursor(dups) { c in
            for v: UInt8 in [1, 2, 3] {
                try [UInt8(7)].withUnsafeBytes { key in try [v].withUnsafeBytes { try c.put(key: key, value: $0, flags: .noDupData) } }
            }
            #expect(throws: LMDBError.keyExists) {
                try [UInt8(7)].withUnsafeBytes { key in try [UInt8(2)].withUnsafeBytes { try c.put(key: key, value: $0, flags: .noDupData) } }
            }
        }
        #expect(try txn.stat(dups).entries == 3)
        // A fault armed for puts fails a cursor's put too, before it reaches LMDB.
        env.inject(LMDBFault(.put, .mapFull))
        _ = try txn.withCursor(ids) { c in
            #expect(throws: LMDBError.mapFull) {
                try [UInt8(0xFF)].withUnsafeBytes { key in try [UInt8(3)].withUnsafeBytes { try c.put(key: key, value: $0) } }
            }
        }
        #expect(env.injectedFailures(.put) == 1)
        #expect(try txn.withValue(ids, forKey: [0xFF]) { Array($0) } == nil)
    }

    @Test("a dropped transaction aborts; a committed one is visible; a child abort keeps the parent")
    func transactions() throws {
        let dir = StoreTestDirectory()
        let env = try LMDBEnvironment(path: dir.path, maxDatabases: 2, mapSize: 1 << 20)
        let db: LMDBDatabase
        do {
            let txn = try env.begin(readOnly: false)
            db = try txn.openDatabase("t", flags: .create)
            try txn.put(db, key: [1], value: [10])
            try txn.commit()
        }
        do {
            let txn = try env.begin(readOnly: false)
            try txn.put(db, key: [2], value: [20])
            // dropped without commit: aborted
        }
        do {
            let txn = try env.begin(readOnly: false)
            do {
                let child = try txn.beginChild()
                try child.put(db, key: [3], value: [30])
                child.abort()
            }
            do {
                let child = try txn.beginChild()
                try child.put(db, key: [4], value: [40])
                try child.commit()
            }
            #expect(throws: LMDBError.keyExists) { try txn.put(db, key: [4], value: [41], flags: .noOverwrite) }
            try txn.commit()
        }
        try env.withReadTransaction { txn in
            #expect(try txn.withValue(db, forKey: [1]) { Array($0) } == [10])
            #expect(try txn.withValue(db, forKey: [2]) { Array($0) } == nil)
            #expect(try txn.withValue(db, forKey: [3]) { Array($0) } == nil)
            #expect(try txn.withValue(db, forKey: [4]) { Array($0) } == [40])
            #expect(try txn.stat(db).entries == 2)
            let keys = try txn.withCursor(db) { c in
                var keys: [UInt8] = []
                var op = LMDBCursor.Operation.first
                while let k = try c.get(op, { k, _ in k[0] }) {
                    keys.append(k)
                    op = .next
                }
                return keys
            }
            #expect(keys == [1, 4])
        }
    }

    @Test("the map can grow between transactions and a full map is reported as MDB_MAP_FULL")
    func mapFull() throws {
        let dir = StoreTestDirectory()
        let env = try LMDBEnvironment(path: dir.path, maxDatabases: 2, mapSize: 64 << 10)
        let big = [UInt8](repeating: 7, count: 200_000)
        do {
            let txn = try env.begin(readOnly: false)
            let db = try txn.openDatabase("t", flags: .create)
            #expect(throws: LMDBError.mapFull) { try txn.put(db, key: [1], value: big) }
        }
        try env.setMapSize(1 << 20)
        #expect(env.info().mapSize == 1 << 20)
        let txn = try env.begin(readOnly: false)
        let db = try txn.openDatabase("t", flags: .create)
        try txn.put(db, key: [1], value: big)
        try txn.commit()
    }
}
