/// The form in which the projections keep an event's `attrs` object: one UTF-8 string, interned
/// once for every event that carries the same object (the handoff context reads it back).
///
/// The entries in key order (bytes), each as `<key length>:<key><value length>:<value>` with the
/// lengths in decimal UTF-8 bytes: valid UTF-8 whatever the keys and values hold, and one form
/// per object, so equal objects intern to one string. An event without attrs has none.
enum AttrsText {
    /// The most bytes the text of `count` entries whose keys and values take `bytes` bytes can
    /// need: the bytes, and per entry two lengths of at most 5 digits and their colons.
    static func capacity(count: Int, bytes: Int) -> Int { bytes + 12 * count }

    /// Writes the text of the entries `forEach` yields (in key order) at `out`, which has room
    /// for `capacity(count:bytes:)`, and answers its length.
    static func write(
        into out: UnsafeMutableRawBufferPointer,
        _ forEach: ((_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Void) -> Void
    ) -> Int {
        var p = 0
        func put(_ s: UnsafeRawBufferPointer) {
            // The length in decimal, then a colon, then the bytes.
            var digits: (UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0)
            var n = s.count, k = 0
            withUnsafeMutableBytes(of: &digits) { d in
                repeat {
                    d[k] = UInt8(ascii: "0") + UInt8(n % 10)
                    n /= 10
                    k += 1
                } while n > 0 && k < 5
                while k > 0 { k -= 1; out[p] = d[k]; p += 1 }
            }
            out[p] = UInt8(ascii: ":")
            p += 1
            if !s.isEmpty { (out.baseAddress! + p).copyMemory(from: s.baseAddress!, byteCount: s.count) }
            p += s.count
        }
        forEach { key, value in
            put(key)
            put(value)
        }
        return p
    }

    /// The text of `attrs` (sorted by key, as `Event` keeps them), nil when there are none.
    static func text(_ attrs: [Event.Attr]) -> [UInt8]? {
        guard !attrs.isEmpty else { return nil }
        let bytes = attrs.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
        var out = [UInt8](repeating: 0, count: capacity(count: attrs.count, bytes: bytes))
        let n = out.withUnsafeMutableBytes { buffer in
            write(into: buffer) { entry in
                for a in attrs {
                    var key = a.key, value = a.value
                    key.withUTF8 { k in value.withUTF8 { v in entry(UnsafeRawBufferPointer(k), UnsafeRawBufferPointer(v)) } }
                }
            }
        }
        out.removeSubrange(n...)
        return out
    }

    /// The entries of a text `write` made, in key order; an entry cut short ends the list (a
    /// stored text is always whole).
    static func decode(_ b: UnsafeRawBufferPointer) -> [Event.Attr] {
        var out: [Event.Attr] = []
        var p = 0
        func take() -> String? {
            var n = 0
            while p < b.count, b[p] != UInt8(ascii: ":") {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[p]), n < 100_000 else { return nil }
                n = n * 10 + Int(b[p] - UInt8(ascii: "0"))
                p += 1
            }
            guard p < b.count, n <= b.count - p - 1 else { return nil }
            p += 1
            defer { p += n }
            return String(decoding: UnsafeRawBufferPointer(rebasing: b[p..<(p + n)]), as: UTF8.self)
        }
        while p < b.count {
            guard let key = take(), let value = take() else { break }
            out.append(Event.Attr(key: key, value: value))
        }
        return out
    }
}
