/// Settles the inline tokens of one pass over a log (`FactRecord.inlineBytes`): every
/// occurrence of a string takes the token of the first one met, so that facts compare their
/// conversation, message and appointment ids as the values they are.
struct InlineTokens {
    /// The first token of each distinct string met, in order.
    private var firsts: [UInt32] = []
    /// Past `linearLimit` strings: the first tokens by hash of their bytes.
    private var byHash: [UInt64: [UInt32]] = [:]
    static let linearLimit = 16

    /// Replaces the fact's inline tokens by settled ones.
    @inline(__always)
    mutating func settle(_ f: inout Fact, _ b: UnsafeRawBufferPointer) {
        if f.conversation != 0 { f.conversation = settled(f.conversation, b) }
        if f.message != 0 { f.message = settled(f.message, b) }
        if f.appointment != 0 { f.appointment = settled(f.appointment, b) }
    }

    /// Replaces the fact's appointment token by a settled one (its other inline tokens are
    /// left as they are).
    @inline(__always)
    mutating func settleAppointment(_ f: inout Fact, _ b: UnsafeRawBufferPointer) {
        if f.appointment != 0 { f.appointment = settled(f.appointment, b) }
    }

    private mutating func settled(_ token: UInt32, _ b: UnsafeRawBufferPointer) -> UInt32 {
        let s = FactRecord.inlineBytes(b, token: token)
        @inline(__always) func same(_ t: UInt32) -> Bool {
            let x = FactRecord.inlineBytes(b, token: t)
            return x.count == s.count && (s.isEmpty || Interner.bytesEqual(x, s))
        }
        if firsts.count < InlineTokens.linearLimit {
            for t in firsts where same(t) { return t }
            firsts.append(token)
            if firsts.count == InlineTokens.linearLimit {
                for t in firsts { byHash[Interner.hash(FactRecord.inlineBytes(b, token: t)), default: []].append(t) }
            }
            return token
        }
        let h = Interner.hash(s)
        if let list = byHash[h] { for t in list where same(t) { return t } }
        byHash[h, default: []].append(token)
        return token
    }
}
