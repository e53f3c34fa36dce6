/// A string table mapping each distinct string to a dense `UInt32`, so the hot path compares and
/// stores small integers instead of strings.
struct Interner: Sendable {
    private(set) var strings: [String]
    private var index: [String: UInt32]
    /// When true, index 0 is reserved to mean "absent" and real strings start at 1.
    private let reservesZero: Bool

    init(reservingZero: Bool) {
        reservesZero = reservingZero
        strings = reservingZero ? [""] : []
        index = [:]
    }

    /// The number of real strings interned.
    var count: Int { strings.count - (reservesZero ? 1 : 0) }

    /// The id of `s`, adding it when new.
    mutating func intern(_ s: String) -> UInt32 {
        let next = UInt32(strings.count)
        var found = next
        // One hash lookup: the defaulted subscript's modify accessor inserts when absent.
        Interner.read(&index[s, default: next], into: &found)
        if found == next { strings.append(s) }
        return found
    }

    private static func read(_ slot: inout UInt32, into out: inout UInt32) { out = slot }

    /// The id of an optional string; 0 (absent) for nil. Only for tables that reserve zero.
    mutating func intern(_ s: String?) -> UInt32 {
        guard let s else { return 0 }
        return intern(s)
    }

    /// The id of `s` if it was interned.
    func lookup(_ s: String) -> UInt32? { index[s] }

    subscript(_ i: UInt32) -> String { strings[Int(i)] }

    /// The string for an optional-value id: nil for 0 in a zero-reserving table.
    func optional(_ i: UInt32) -> String? {
        reservesZero && i == 0 ? nil : strings[Int(i)]
    }

    /// Rebuilds a table from its strings in id order (snapshot loading).
    init(strings all: [String], reservingZero: Bool) {
        reservesZero = reservingZero
        strings = reservingZero ? [""] + all : all
        index = Dictionary(minimumCapacity: all.count)
        for (i, s) in strings.enumerated() where !(reservingZero && i == 0) {
            index[s] = UInt32(i)
        }
    }

    /// The number of distinct strings indexed (equals `count` unless a load had duplicates).
    var distinctCount: Int { index.count }

    /// The real strings in id order (without the reserved slot).
    var realStrings: ArraySlice<String> { strings[(reservesZero ? 1 : 0)...] }
}

extension String {
    /// Byte-wise (UTF-8) ordering, the order SPEC §3 uses for ids.
    @inlinable func bytesLess(_ other: String) -> Bool {
        utf8.lexicographicallyPrecedes(other.utf8)
    }
}
