/// The characters an id may not hold (`id`, `subject`, `patient`, `referrer`, `conversation`,
/// `appointment`, `message`): control characters (C0, DEL, C1), bidirectional controls and
/// zero-width characters. Each makes two ids look the same on a screen while they differ, or an id
/// rewrite the line it is printed on; an id names a patient, so it must read as what it is.
package enum IdCharacters {
    /// Why a scalar is refused in an id.
    package enum Kind: Sendable, Equatable {
        case control, bidiControl, zeroWidth

        /// How an error names it.
        package var name: String {
            switch self {
            case .control: "a control character"
            case .bidiControl: "a bidirectional control"
            case .zeroWidth: "a zero-width character"
            }
        }
    }

    /// The first refused scalar of `utf8` (valid UTF-8), or nil. Printable ASCII passes on a
    /// byte-by-byte fast path; other text is decoded.
    package static func firstRefused(_ utf8: UnsafeBufferPointer<UInt8>) -> (scalar: UInt32, kind: Kind)? {
        if isPlainASCII(utf8) { return nil }
        var it = utf8.makeIterator()
        var decoder = UTF8()
        while case .scalarValue(let s) = decoder.decode(&it) {
            if let kind = kind(of: s.value) { return (s.value, kind) }
        }
        return nil
    }

    /// True when `utf8` is printable ASCII only, which holds no refused character.
    @inline(__always)
    private static func isPlainASCII(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        for byte in utf8 where byte < 0x20 || byte >= 0x7F { return false }
        return true
    }

    /// The kind of a refused scalar, or nil for an allowed one.
    package static func kind(of v: UInt32) -> Kind? {
        switch v {
        case 0x00...0x1F, 0x7F...0x9F: .control
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: .bidiControl
        case 0x200B...0x200D, 0x2060, 0xFEFF: .zeroWidth
        default: nil
        }
    }
}
