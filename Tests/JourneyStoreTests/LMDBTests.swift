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
